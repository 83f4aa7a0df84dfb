/**
 * Idempotent requests (issue 11): a message request retried with the same `Idempotency-Key` creates one
 * message and one event, whether the retry follows the first try, races it, or reaches another node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { startCluster, type Cluster } from '../multinode/cluster.js'
import { serviceUrl } from '../realtime/services.js'
import { connect, newClient, newOperator, ok, settle, type Console } from './e2e.js'

async function post(l: TestLivedesk, path: string, body: unknown, key: string | undefined, token: string = l.apiKey) {
  const res = await fetch(`${l.url}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(key !== undefined ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: await res.json() }
}

/** An operator with a console, a client whose session that operator holds, and the client's widget. */
async function chat(l: TestLivedesk, consoleNode: TestLivedesk = l) {
  const op = await newOperator(l, `op-${Math.random().toString(36).slice(2, 8)}`, 50)
  const console_ = await connect(consoleNode, 'notifications', op.token)
  await expect.poll(async () => (await ok(l, 'GET', `/operators/${op.id}`)).online).toBe(true)
  const client = await newClient(l)
  const first = await post(l, `/clients/${client.id}/messages`, { text: 'hello' }, undefined)
  expect(first.status).toBe(201)
  await console_.next('chatSessionAdded', (e) => e.data.chatId === client.chatId)
  return { op, console: console_, client, sessionId: first.body.sessionId as string }
}

function created(c: Console, chatId: string): string[] {
  return c.events.filter((e) => e.event === 'chatMessageCreated' && e.data.chatId === chatId).map((e) => e.data.id)
}

describe('Idempotency-Key on one node', () => {
  let l: TestLivedesk
  beforeAll(async () => {
    l = await startTestLivedesk()
  })

  it('a retried client message returns the first message, stores one and publishes one event', async () => {
    const { op, console: c, client } = await chat(l)
    const first = await post(l, `/clients/${client.id}/messages`, { text: 'once' }, 'key-1')
    const retry = await post(l, `/clients/${client.id}/messages`, { text: 'once' }, 'key-1')
    expect(first.status).toBe(201)
    expect(retry).toEqual(first)
    // Five more tries at once: still the same message.
    const racing = await Promise.all(Array.from({ length: 5 }, () => post(l, `/clients/${client.id}/messages`, { text: 'once' }, 'key-1')))
    expect(racing.map((r) => r.body.id)).toEqual(racing.map(() => first.body.id))
    // Another key is another message.
    const other = await post(l, `/clients/${client.id}/messages`, { text: 'once' }, 'key-2')
    expect(other.body.id).not.toBe(first.body.id)

    const stored = await ok(l, 'GET', '/widget/messages', undefined, client.token)
    expect(stored.items.filter((m: any) => m.text === 'once')).toHaveLength(2)
    await settle(l, c, [`operator:${op.id}`])
    const events = created(c, client.chatId)
    expect(events.filter((id) => id === first.body.id)).toHaveLength(1)
    expect(events.filter((id) => id === other.body.id)).toHaveLength(1)
  })

  it('keys are per author: the operator and the client may use the same key in one chat', async () => {
    const { op, client, sessionId } = await chat(l)
    const byClient = await post(l, `/clients/${client.id}/messages`, { text: 'from client' }, 'same')
    const byOperator = await post(l, `/sessions/${sessionId}/messages`, { text: 'from operator' }, 'same', op.token)
    const operatorRetry = await post(l, `/sessions/${sessionId}/messages`, { text: 'from operator' }, 'same', op.token)
    expect(byOperator.status).toBe(201)
    expect(byOperator.body.id).not.toBe(byClient.body.id)
    expect(operatorRetry.body).toEqual(byOperator.body)
    const botFirst = await post(l, `/sessions/${sessionId}/messages`, { text: 'from bot' }, 'bot-key')
    const botRetry = await post(l, `/sessions/${sessionId}/messages`, { text: 'from bot' }, 'bot-key')
    expect(botRetry.body).toEqual(botFirst.body)
    const stored = await ok(l, 'GET', '/widget/messages', undefined, client.token)
    expect(stored.items.map((m: any) => m.text)).toEqual(['hello', 'from client', 'from operator', 'from bot'])
  })

  it('a retried first message opens one session', async () => {
    await newOperator(l, 'idle', 0)
    const client = await newClient(l)
    const tries = await Promise.all(Array.from({ length: 4 }, () => post(l, `/clients/${client.id}/messages`, { text: 'start' }, 'open-1')))
    expect(tries.map((t) => t.status)).toEqual([201, 201, 201, 201])
    expect(new Set(tries.map((t) => t.body.id)).size).toBe(1)
    const stored = await ok(l, 'GET', '/widget/messages', undefined, client.token)
    expect(stored.items).toHaveLength(1)
  })

  it('refuses a malformed key with 400 naming the header', async () => {
    const client = await newClient(l)
    const bad = await post(l, `/clients/${client.id}/messages`, { text: 'x' }, 'has space')
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatchObject({ code: 'bad_request', field: 'Idempotency-Key' })
    const long = await post(l, `/clients/${client.id}/messages`, { text: 'x' }, 'k'.repeat(256))
    expect(long.status).toBe(400)
  })
})

const redisUrl = serviceUrl('REDIS_URL', 'Idempotency-Key across nodes')
const databaseUrl = redisUrl ? serviceUrl('TEST_DATABASE_URL', 'Idempotency-Key across nodes') : undefined

if (redisUrl && databaseUrl) {
  describe('Idempotency-Key across nodes', () => {
    let cluster: Cluster
    beforeAll(async () => {
      cluster = await startCluster(redisUrl, databaseUrl)
    })
    afterAll(() => cluster?.close())

    it('a retry that reaches another node returns the first message and publishes nothing new', async () => {
      const { a, b } = cluster
      const { op, console: c, client } = await chat(a, b)
      const first = await post(a, `/clients/${client.id}/messages`, { text: 'across' }, 'node-key')
      const retry = await post(b, `/clients/${client.id}/messages`, { text: 'across' }, 'node-key')
      expect(retry.body).toEqual(first.body)
      await settle(b, c, [`operator:${op.id}`])
      expect(created(c, client.chatId).filter((id) => id === first.body.id)).toHaveLength(1)
      const stored = await ok(a, 'GET', '/widget/messages', undefined, client.token)
      expect(stored.items.filter((m: any) => m.text === 'across')).toHaveLength(1)
    })
  })
}

describe('Idempotency-Key on requests that create clients and operators', () => {
  let l: TestLivedesk
  beforeAll(async () => {
    l = await startTestLivedesk()
  })

  it('a retried operator creation returns the first operator and creates no second', async () => {
    const before = (await ok(l, 'GET', '/operators?limit=200')).items.length
    const first = await post(l, '/operators', { name: 'Once' }, 'op-key')
    const retry = await post(l, '/operators', { name: 'Once' }, 'op-key')
    expect(first.status).toBe(201)
    expect(retry).toEqual(first)
    expect((await ok(l, 'GET', '/operators?limit=200')).items.length).toBe(before + 1)
  })

  it('a retried client creation returns the same client with a new token; the first token stops working', async () => {
    const first = await post(l, '/clients', { name: 'Twice' }, 'client-key')
    const retry = await post(l, '/clients', { name: 'Twice' }, 'client-key')
    expect(retry.status).toBe(201)
    expect(retry.body.id).toBe(first.body.id)
    expect(retry.body.chatId).toBe(first.body.chatId)
    expect(retry.body.token).not.toBe(first.body.token)
    const me = async (token: string) => (await fetch(`${l.url}/api/v1/widget/me`, { headers: { authorization: `Bearer ${token}` } })).status
    expect(await me(first.body.token)).toBe(401)
    expect(await me(retry.body.token)).toBe(200)
  })

  it('a refused request frees its key: the corrected retry creates', async () => {
    const bad = await post(l, '/operators', { name: '' }, 'fix-me')
    expect(bad.status).toBe(400)
    const fixed = await post(l, '/operators', { name: 'Fixed' }, 'fix-me')
    expect(fixed.status).toBe(201)
    expect(fixed.body.name).toBe('Fixed')
  })
})

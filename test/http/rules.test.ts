/** The rules, each on its own, end to end: single login, block, logout, typing expiry, presence grace, the queue on connect. */
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { newSdk, nextEvent } from '../helpers/sdk.js'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { api, connect, newClient, newOperator, ok, settle, type Console } from './e2e.js'

const TYPING_TTL = 2_000
const GRACE = 1_000
let l: TestLivedesk
const consoles: Console[] = []
const operators: string[] = []

beforeAll(async () => {
  l = await startTestLivedesk({ domain: { typingTtlMs: TYPING_TTL, typingMinIntervalMs: 20, clientPresenceGraceMs: GRACE } })
})
afterEach(async () => {
  for (const c of consoles.splice(0)) c.close()
  for (const id of operators.splice(0)) await ok(l, 'PATCH', `/operators/${id}`, { maxChats: 0 })
})

async function op(name: string, maxChats?: number, online = true) {
  const o = await newOperator(l, name, maxChats)
  operators.push(o.id)
  if (!online) return { ...o, c: undefined as unknown as Console }
  const c = await connect(l, 'notifications', o.token)
  consoles.push(c)
  return { ...o, c }
}
async function live(application: 'notifications' | 'widget', token: string) {
  const c = await connect(l, application, token)
  consoles.push(c)
  return c
}

/** Connects and expects a refusal the SDK does not retry: `disconnected` with code 1 (unauthorized). */
async function refused(application: string, token: string) {
  const sdk = newSdk(l.wsUrl, { data: { application, settings: { token } } })
  let connecting = 0
  sdk.on('connecting', () => connecting++)
  const disconnected = nextEvent(sdk, 'disconnected')
  sdk.connect()
  const d = await disconnected
  expect([1, 101]).toContain(d.code) // the SDK's unauthorized, or Centrifugo's 101 unauthorized
  expect(sdk.state).toBe('disconnected')
  expect(connecting).toBe(1)
  sdk.disconnect()
}

describe('rules, end to end', () => {
  it('refuses wrong tokens and unknown applications as unauthorized, without a retry loop', async () => {
    const a = await op('A', 1, false)
    await refused('notifications', 'op_wrong')
    await refused('widget', 'cl_wrong')
    await refused('notifications', '')
    await refused('somethingElse', a.token)
    const client = await newClient(l)
    await refused('notifications', client.token) // a client token is not an operator token
    await refused('widget', a.token)
  })

  it('single login: a new token revokes the older one and closes its connections', async () => {
    const a = await op('A')
    const closed = nextEvent(a.c.sdk, 'disconnected')
    const second = await ok(l, 'POST', `/operators/${a.id}/tokens`, {})
    expect((await closed).code).toBe(4502)
    await refused('notifications', a.token)
    expect((await api(l, 'GET', '/me', undefined, a.token)).status).toBe(401)
    expect((await ok(l, 'GET', '/me', undefined, second.token)).id).toBe(a.id)
    await live('notifications', second.token)
  })

  it('block: connections close, new connects and API calls are refused; after an unblock only a new login works', async () => {
    const a = await op('A')
    const closed = nextEvent(a.c.sdk, 'disconnected')
    const blocked = await ok(l, 'POST', `/operators/${a.id}/block`, {})
    expect(blocked).toMatchObject({ id: a.id, blocked: true })
    expect((await closed).code).toBe(4501)
    await refused('notifications', a.token)
    expect((await api(l, 'GET', '/sessions', undefined, a.token)).status).toBe(401)
    await ok(l, 'POST', `/operators/${a.id}/unblock`)
    // The block revoked every token (issue 12): the old one stays refused, a new login works.
    await refused('notifications', a.token)
    const { token } = await ok(l, 'POST', `/operators/${a.id}/tokens`, {})
    await live('notifications', token)
  })

  it('logout: the token is revoked, connections close, and the operator is offline', async () => {
    const a = await op('A')
    expect((await ok(l, 'GET', `/operators/${a.id}`)).online).toBe(true)
    const closed = nextEvent(a.c.sdk, 'disconnected')
    expect((await api(l, 'POST', '/logout', undefined, a.token)).status).toBe(204)
    expect((await closed).code).toBe(4503)
    await refused('notifications', a.token)
    expect((await api(l, 'GET', '/me', undefined, a.token)).status).toBe(401)
    await expect.poll(async () => (await ok(l, 'GET', `/operators/${a.id}`)).online).toBe(false)
  })

  it('typing expires on the server after the TTL unless renewed, and stops when the typist disconnects', async () => {
    const a = await op('A')
    const client = await newClient(l)
    const first = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hi' })
    await a.c.next('chatSessionAdded', (e) => e.data.id === first.sessionId)
    const w = await live('widget', client.token)

    // TTL: the stop comes by itself, not before `until`.
    const t0 = Date.now()
    await a.c.sdk.rpc('typing', { chatId: client.chatId })
    const on = await w.next('typing', (e) => e.data.active)
    const off = await w.next('typing', (e) => !e.data.active, TYPING_TTL + 3_000)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(TYPING_TTL - 50)
    expect(new Date(off.data.until).getTime()).toBeGreaterThanOrEqual(new Date(on.data.until).getTime() - 50)

    // A renewal pushes the stop back.
    const seen = w.events.length
    await a.c.sdk.rpc('typing', { chatId: client.chatId })
    await w.next('typing', (e) => e.data.active && w.events.indexOf(e) >= seen)
    await new Promise((r) => setTimeout(r, TYPING_TTL / 2)) // renew in the middle of the TTL
    const renewedAt = Date.now()
    await a.c.sdk.rpc('typing', { chatId: client.chatId })
    await w.next('typing', (e) => !e.data.active && w.events.indexOf(e) >= seen, TYPING_TTL + 3_000)
    expect(Date.now() - renewedAt).toBeGreaterThanOrEqual(TYPING_TTL - 50)

    // Disconnect: the stop comes at once, well before the TTL.
    const before = w.events.length
    await a.c.sdk.rpc('typing', { chatId: client.chatId })
    await w.next('typing', (e) => e.data.active && w.events.indexOf(e) >= before)
    const cut = Date.now()
    a.c.close()
    await w.next('typing', (e) => !e.data.active && w.events.indexOf(e) >= before, TYPING_TTL)
    expect(Date.now() - cut).toBeLessThan(TYPING_TTL - 300)
  })

  it('presence grace: a reload within the grace period does not flap; leaving does, after the grace', async () => {
    const a = await op('A')
    const client = await newClient(l)
    const first = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hi' })
    await a.c.next('chatSessionAdded', (e) => e.data.id === first.sessionId)
    const w1 = await live('widget', client.token)
    await a.c.next('clientOnline')
    // Reload: the old page goes, the new one comes within the grace period.
    w1.close()
    const w2 = await live('widget', client.token)
    await new Promise((r) => setTimeout(r, GRACE + 300)) // the grace period passes with the new page connected
    await settle(l, a.c, [`operator:${a.id}`])
    expect(a.c.names().filter((n) => n === 'clientOnline' || n === 'clientOffline')).toEqual(['clientOnline'])
    expect((await ok(l, 'GET', `/clients/${client.id}`)).online).toBe(true)
    // Leaving for good: offline once the grace period is over, not before.
    const left = Date.now()
    w2.close()
    await a.c.next('clientOffline')
    expect(Date.now() - left).toBeGreaterThanOrEqual(GRACE - 50)
    expect((await ok(l, 'GET', `/clients/${client.id}`)).online).toBe(false)
  })

  it('the queue drains in arrival order when an operator connects', async () => {
    const a = await op('A', 2, false)
    const clients = [await newClient(l, 'one'), await newClient(l, 'two'), await newClient(l, 'three')]
    const sessions: string[] = []
    for (const c of clients) sessions.push((await ok(l, 'POST', `/clients/${c.id}/messages`, { text: 'waiting' })).sessionId)
    const c = await live('notifications', a.token)
    const added = [await c.next('chatSessionAdded', (e) => e.data.id === sessions[0]), await c.next('chatSessionAdded', (e) => e.data.id === sessions[1])]
    expect(added.map((e) => e.data.id)).toEqual(sessions.slice(0, 2))
    const { items: queued } = await ok(l, 'GET', '/sessions?status=queued', undefined, a.token)
    expect(queued.map((s: any) => s.id)).toContain(sessions[2])
    // Closing one frees a slot: the third session follows.
    await ok(l, 'POST', `/sessions/${sessions[0]}/close`, undefined, a.token)
    await c.next('chatSessionAdded', (e) => e.data.id === sessions[2])
  })
})

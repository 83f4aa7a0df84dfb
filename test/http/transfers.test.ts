/**
 * Issue 15 item 3: POST /api/v1/sessions/{id}/transfer to an operator, a group or the queue, through a real livedesk
 * (PGlite and PostgreSQL), observed with the real `centrifuge` SDK: the old holder's console gets chatSessionDeleted,
 * the new one's chatSessionAdded, both with `transfer`; the note never reaches the client's channel.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { postgresAvailable, tempPostgres, type TestDatabase } from '../store/databases.js'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { api, connect, newClient, newOperator, ok, settle, type Console } from './e2e.js'

const pgUp = await postgresAvailable()
const BACKENDS = pgUp ? ['PGlite', 'PostgreSQL'] : ['PGlite']
const NOTE = 'VIP customer, speaks French: offer the refund'

describe.each(BACKENDS)('transfers (%s)', (backend) => {
  let l: TestLivedesk
  let pg: TestDatabase | undefined
  const consoles: Console[] = []
  const operators: string[] = []

  beforeAll(async () => {
    pg = backend === 'PostgreSQL' ? await tempPostgres() : undefined
    l = await startTestLivedesk({ databaseUrl: pg?.databaseUrl })
  }, 60_000)
  afterAll(async () => {
    await l?.close()
    await pg?.drop()
  }, 60_000)
  afterEach(async () => {
    for (const c of consoles.splice(0)) c.close()
    // Operators of earlier tests take no more sessions, so routing in the next test is only its own.
    for (const id of operators.splice(0)) await ok(l, 'PATCH', `/operators/${id}`, { maxChats: 0 })
  })

  async function op(name: string, maxChats?: number) {
    const o = await newOperator(l, name, maxChats)
    operators.push(o.id)
    const c = await connect(l, 'notifications', o.token)
    consoles.push(c)
    return { ...o, c }
  }
  async function widget(token: string) {
    const c = await connect(l, 'widget', token)
    consoles.push(c)
    return c
  }
  /** A new client's session, held by `holder` (the only operator with room when it arrives). */
  async function sessionHeldBy(holder: { id: string; c: Console }) {
    const client = await newClient(l)
    const first = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hello' })
    await holder.c.next('chatSessionAdded', (e) => e.data.chatId === client.chatId)
    return { client, sessionId: first.sessionId as string }
  }
  const transfer = (sessionId: string, body: unknown, token?: string) => api(l, 'POST', `/sessions/${sessionId}/transfer`, body, token ?? l.apiKey)

  it('to an operator: the events say who moved it where, and the note never reaches the client', async () => {
    const a = await op('Ann')
    const { client, sessionId } = await sessionHeldBy(a)
    const b = await op('Bob')
    const w = await widget(client.token)

    const res = await transfer(sessionId, { operatorId: b.id, note: NOTE }, a.token)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const expected = { by: { id: a.id, name: 'Ann', type: 'operator' }, fromOperatorId: a.id, toOperatorId: b.id, toGroupId: null, note: NOTE }
    expect(res.body).toMatchObject({ id: sessionId, status: 'assigned', operatorId: b.id, transfer: expected })

    const deleted = await a.c.next('chatSessionDeleted', (e) => e.data.id === sessionId)
    expect(deleted.data).toEqual({ id: sessionId, chatId: client.chatId, reason: 'transferred', transfer: expected })
    const added = await b.c.next('chatSessionAdded', (e) => e.data.id === sessionId)
    expect(added.data).toMatchObject({ operatorId: b.id, status: 'assigned', previousOperator: { id: a.id, name: 'Ann' }, transfer: expected })

    // Bob holds it now: he writes, the client sees that; the note itself was never on the client's channel.
    await ok(l, 'POST', `/sessions/${sessionId}/messages`, { text: 'Bonjour !' }, b.token)
    await w.next('chatMessageCreated', (e) => e.data.text === 'Bonjour !')
    await settle(l, w, [`client:${client.id}`])
    expect(JSON.stringify(w.events)).not.toContain(NOTE)
    expect(w.names()).not.toContain('chatSessionDeleted')
    expect(w.names()).not.toContain('chatSessionAdded')
    // Ann no longer holds it.
    expect((await api(l, 'POST', `/sessions/${sessionId}/messages`, { text: 'still mine?' }, a.token)).status).toBe(403)

    // The history keeps the note for the operators who may read the session, and for nobody else.
    for (const token of [b.token, a.token, l.apiKey]) {
      const { items } = await ok(l, 'GET', `/sessions/${sessionId}/transfers`, undefined, token)
      expect(items).toEqual([{ ...expected, toQueue: false, at: expect.any(String) }])
    }
    const stranger = await op('Stranger', 0)
    expect((await api(l, 'GET', `/sessions/${sessionId}/transfers`, undefined, stranger.token)).status).toBe(403)
    expect((await api(l, 'GET', `/sessions/${sessionId}/transfers`, undefined, client.token)).status).toBe(401)
  })

  it('to the queue: it waits there for someone else, not back to the one who gave it away', async () => {
    const a = await op('Ann')
    const { sessionId } = await sessionHeldBy(a)
    const res = await transfer(sessionId, { queue: true, note: 'billing question' }, a.token)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body).toMatchObject({ status: 'queued', operatorId: null, transfer: { fromOperatorId: a.id, toOperatorId: null, toGroupId: null } })
    await a.c.next('chatSessionDeleted', (e) => e.data.id === sessionId && e.data.reason === 'transferred')
    const queued = await a.c.next('chatSessionStarted', (e) => e.data.id === sessionId && e.data.status === 'queued')
    expect(queued.data).toMatchObject({ previousOperator: { id: a.id }, transfer: { note: 'billing question' } })

    const b = await op('Bob')
    const added = await b.c.next('chatSessionAdded', (e) => e.data.id === sessionId)
    expect(added.data.previousOperator).toEqual({ id: a.id, name: 'Ann' })
    expect(a.c.events.filter((e) => e.event === 'chatSessionAdded' && e.data.id === sessionId)).toHaveLength(1)
    // A session already waiting in the queue cannot be sent to it again.
    for (const id of [a.id, b.id]) await ok(l, 'PATCH', `/operators/${id}`, { maxChats: 0 })
    const client = await newClient(l)
    const waiting = (await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'anyone?' })).sessionId
    const again = await transfer(waiting, { queue: true })
    expect(again.status).toBe(409)
    expect(again.body.error).toMatchObject({ code: 'conflict', field: 'queue' })
  })

  it('to a group: routed to its members now', async () => {
    const a = await op('Ann')
    const { sessionId } = await sessionHeldBy(a)
    const b = await op('Bob')
    const group = await ok(l, 'POST', '/groups', { name: `billing-${backend}` })
    await ok(l, 'PUT', `/groups/${group.id}/operators`, { operatorIds: [b.id] })
    const res = await transfer(sessionId, { groupId: group.id }, a.token)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body).toMatchObject({ operatorId: b.id, transfer: { toGroupId: group.id, toOperatorId: b.id } })
    const added = await b.c.next('chatSessionAdded', (e) => e.data.id === sessionId)
    expect(added.data.transfer).toMatchObject({ toGroupId: group.id, fromOperatorId: a.id })
    expect((await transfer(sessionId, { groupId: 'no-such-group' })).body.error).toMatchObject({ code: 'not_found', field: 'groupId' })
  })

  it('409 target_unavailable when the target cannot take it; bad input names the field', async () => {
    const a = await op('Ann', 5)
    const { sessionId } = await sessionHeldBy(a)
    const full = await op('Full', 0)
    const blocked = await op('Blocked')
    await ok(l, 'POST', `/operators/${blocked.id}/block`, {})
    const away = await op('Away')
    await ok(l, 'PUT', `/operators/${away.id}/status`, { status: 'away' })
    for (const target of [full, blocked, away]) {
      const res = await transfer(sessionId, { operatorId: target.id }, a.token)
      expect(res.status, target.name).toBe(409)
      expect(res.body.error).toMatchObject({ code: 'target_unavailable', field: 'operatorId', message: expect.stringContaining(target.id) })
    }
    const bad: Array<[unknown, string, number]> = [
      [{}, 'operatorId', 400],
      [{ operatorId: full.id, queue: true }, 'operatorId', 400],
      [{ queue: false }, 'queue', 400],
      [{ queue: true, note: 'x'.repeat(1001) }, 'note', 400],
      [{ operatorId: 'nobody' }, 'operatorId', 404],
      [{ operatorId: a.id }, 'operatorId', 409],
    ]
    for (const [body, field, status] of bad) {
      const res = await transfer(sessionId, body, a.token)
      expect(res.status, JSON.stringify(body)).toBe(status)
      expect(res.body.error.field, JSON.stringify(body)).toBe(field)
    }
    // Nothing moved.
    expect((await ok(l, 'GET', `/sessions/${sessionId}`, undefined, a.token)).operatorId).toBe(a.id)
    await settle(l, a.c, [`operator:${a.id}`])
    expect(a.c.names()).not.toContain('chatSessionDeleted')
  })

  it('who may transfer: the holder, a supervisor, the API key; another operator is 403', async () => {
    const a = await op('Ann')
    const { sessionId } = await sessionHeldBy(a)
    const b = await op('Bob')
    const res = await transfer(sessionId, { operatorId: b.id }, b.token)
    expect(res.status).toBe(403)
    expect(res.body.error.code).toBe('forbidden')

    const byKey = await transfer(sessionId, { operatorId: b.id })
    expect(byKey.status).toBe(200)
    expect(byKey.body.transfer.by).toEqual({ id: null, name: null, type: 'api' })
    await b.c.next('chatSessionAdded', (e) => e.data.id === sessionId && e.data.transfer?.by.type === 'api')

    const boss = await op('Boss')
    await ok(l, 'PATCH', `/operators/${boss.id}`, { role: 'supervisor' })
    const bySupervisor = await transfer(sessionId, { operatorId: a.id, note: 'back to Ann' }, boss.token)
    expect(bySupervisor.status, JSON.stringify(bySupervisor.body)).toBe(200)
    expect(bySupervisor.body.transfer).toMatchObject({ by: { id: boss.id, name: 'Boss', type: 'supervisor' }, fromOperatorId: b.id, toOperatorId: a.id })
    const back = await a.c.next('chatSessionAdded', (e) => e.data.id === sessionId && e.data.transfer?.by.type === 'supervisor')
    expect(back.data.previousOperator).toEqual({ id: b.id, name: 'Bob' })
    expect((await transfer(sessionId, { operatorId: b.id }, 'op_not-a-token')).status).toBe(401)
  })
})

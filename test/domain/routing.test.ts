/** Domain logic with a recorded gateway: routing, the queue, audiences. End-to-end delivery is in test/http/events.test.ts. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from './harness.js'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(() => h.close())
beforeEach(async () => {
  // Each test starts from an empty platform.
  for (const t of ['outbox', 'operator_connections', 'messages', 'sessions', 'operator_tokens', 'clients', 'operators']) await h.db.query(`DELETE FROM ${t}`)
  h.live.connections.clear()
  h.live.clear()
})

async function operator(name: string, maxChats = 5, online = true) {
  const op = (await h.api('POST', '/operators', { name, maxChats })).body
  const { token } = (await h.api('POST', `/operators/${op.id}/tokens`, {})).body
  if (online) await h.domain.connectionOpened({ kind: 'operator', operatorId: op.id }, `conn-${op.id}`)
  return { ...op, token }
}
async function client(name = 'Ann') {
  return (await h.api('POST', '/clients', { name })).body
}
async function write(clientId: string, text = 'hello', mode?: string) {
  const res = await h.api('POST', `/clients/${clientId}/messages`, { text, ...(mode ? { mode } : {}) })
  expect(res.status).toBe(201)
  return res.body
}
const sessionOf = async (chatId: string) =>
  (await h.db.query<any>(`SELECT * FROM sessions WHERE chat_id = $1 ORDER BY seq DESC LIMIT 1`, [chatId]))[0]

describe('routing', () => {
  it('gives a new session to the least-loaded available operator', async () => {
    const a = await operator('A')
    const b = await operator('B')
    const c1 = await client()
    await write(c1.id)
    expect((await sessionOf(c1.chatId)).operator_id).toBe(a.id) // tie, never assigned: the older operator
    const c2 = await client()
    await write(c2.id)
    expect((await sessionOf(c2.chatId)).operator_id).toBe(b.id) // B has fewer open sessions
    const c3 = await client()
    await write(c3.id)
    expect((await sessionOf(c3.chatId)).operator_id).toBe(a.id) // tie 1:1, A waited longer
  })

  it('ties go to the operator who waited longest since the last assignment', async () => {
    const a = await operator('A')
    const b = await operator('B')
    const first = await client()
    await write(first.id) // → A
    const second = await client()
    await write(second.id) // → B
    await h.api('POST', `/sessions/${(await sessionOf(first.chatId)).id}/close`, undefined, a.token) // A back to 0, assigned earlier than B
    await h.api('POST', `/sessions/${(await sessionOf(second.chatId)).id}/close`, undefined, b.token)
    const third = await client()
    await write(third.id)
    expect((await sessionOf(third.chatId)).operator_id).toBe(a.id)
  })

  it('skips offline, blocked and full operators', async () => {
    await operator('offline', 5, false)
    const blocked = await operator('blocked')
    await h.api('POST', `/operators/${blocked.id}/block`, {})
    const full = await operator('full', 0)
    const ok = await operator('ok')
    const c = await client()
    await write(c.id)
    expect((await sessionOf(c.chatId)).operator_id).toBe(ok.id)
    expect(full.maxChats).toBe(0)
  })

  it('queues when nobody is available and drains in arrival order when someone frees up', async () => {
    const a = await operator('A', 1)
    const c1 = await client('one')
    await write(c1.id) // → A, now full
    const c2 = await client('two')
    await write(c2.id)
    const c3 = await client('three')
    await write(c3.id)
    const s2 = await sessionOf(c2.chatId)
    expect(s2.status).toBe('queued')
    expect(s2.bot_status).toBe('HELP')
    expect(h.live.events('operators:queue', 'operatorNotFound').map((e) => e.data.sessionId)).toEqual([s2.id, (await sessionOf(c3.chatId)).id])
    h.live.clear()
    await h.api('POST', `/sessions/${(await sessionOf(c1.chatId)).id}/close`, undefined, a.token)
    expect((await sessionOf(c2.chatId)).operator_id).toBe(a.id) // the older one first
    expect((await sessionOf(c3.chatId)).status).toBe('queued')
    expect(h.live.events(`operator:${a.id}`, 'chatSessionAdded').map((e) => e.data.id)).toEqual([s2.id])
  })

  it('drains the queue when maxChats goes up and when an operator connects', async () => {
    const a = await operator('A', 0)
    const c1 = await client()
    await write(c1.id)
    expect((await sessionOf(c1.chatId)).status).toBe('queued')
    await h.api('PATCH', `/operators/${a.id}`, { maxChats: 1 })
    expect((await sessionOf(c1.chatId)).operator_id).toBe(a.id)

    const b = await operator('B', 1, false)
    const c2 = await client()
    await write(c2.id)
    expect((await sessionOf(c2.chatId)).status).toBe('queued')
    await h.domain.connectionOpened({ kind: 'operator', operatorId: b.id }, 'conn-1')
    expect((await sessionOf(c2.chatId)).operator_id).toBe(b.id)
  })

  it('sends the new-session events in order to the right audiences', async () => {
    const a = await operator('A')
    const c = await client()
    const m = await write(c.id)
    const s = await sessionOf(c.chatId)
    // Supervisors (operators:supervisors, issue 15) get a copy of each operators' event; this checks the rest.
    const order = h.live.published.filter((p) => p.channel !== 'operators:supervisors').map((p) => `${p.channel} ${p.data.event}`)
    expect(order).toEqual([
      'operators:queue chatSessionStarted',
      `operator:${a.id} chatSessionAdded`,
      `operator:${a.id} chatMessageCreated`,
      `client:${c.id} chatMessageCreated`,
    ])
    const started = h.live.events('operators:queue', 'chatSessionStarted')[0]
    expect(started.data).toMatchObject({ id: s.id, chatId: c.chatId, clientId: c.id, name: 'Ann', operatorId: a.id, status: 'assigned' })
    expect(started.data.lastMessage.id).toBe(m.id)
    expect(typeof started.id).toBe('string')
    expect(new Date(started.at).toISOString()).toBe(started.at)
  })

  it('keeps bot sessions away from operators until the hand-off', async () => {
    const a = await operator('A')
    const c = await client()
    await write(c.id, 'hi bot', 'bot')
    const s = await sessionOf(c.chatId)
    expect(s.status).toBe('bot')
    expect(h.live.published.filter((p) => p.channel !== `client:${c.id}`)).toEqual([])
    const res = await h.api('POST', `/sessions/${s.id}/handoff`)
    expect(res.status).toBe(200)
    expect(res.body.operatorId).toBe(a.id)
    expect(h.live.published.map((p) => `${p.channel} ${p.data.event}`)).toContain('operators:queue chatSessionSwitchedFromBotToOperator')
    expect((await h.api('POST', `/sessions/${s.id}/handoff`)).status).toBe(409)
  })

  it('never takes a queued session over maxChats on accept', async () => {
    const a = await operator('A', 1, false)
    const c1 = await client()
    await write(c1.id)
    const c2 = await client()
    await write(c2.id)
    const s1 = await sessionOf(c1.chatId)
    const s2 = await sessionOf(c2.chatId)
    expect((await h.api('POST', `/sessions/${s1.id}/accept`, undefined, a.token)).status).toBe(200)
    const second = await h.api('POST', `/sessions/${s2.id}/accept`, undefined, a.token)
    expect(second.status).toBe(409)
    expect(second.body.error.code).toBe('conflict')
    expect((await h.api('POST', `/sessions/${s1.id}/accept`, undefined, a.token)).status).toBe(409)
  })

  it('puts a blocked operator’s sessions back in the queue', async () => {
    const a = await operator('A')
    const c = await client()
    await write(c.id)
    const s = await sessionOf(c.chatId)
    await h.api('POST', `/operators/${a.id}/block`, { reason: 'spam' })
    const after = await sessionOf(c.chatId)
    expect(after.status).toBe('queued')
    expect(after.previous_operator_id).toBe(a.id)
    expect(h.live.disconnected).toEqual([{ user: `operator:${a.id}`, code: 4501, reason: 'operator blocked' }])
    expect(h.live.events('operators:queue', 'operatorNotFound').at(-1).data.sessionId).toBe(s.id)
  })
})

describe('listing', () => {
  it('lists mine and the queue by default, and each status on its own, with pagination', async () => {
    const a = await operator('A', 1)
    const b = await operator('B', 1, false)
    const cs = [await client('1'), await client('2'), await client('3')]
    for (const c of cs) await write(c.id)
    const [s1, s2, s3] = await Promise.all(cs.map((c) => sessionOf(c.chatId)))
    expect(s1.operator_id).toBe(a.id)
    const ids = async (q: string, token: string) => {
      const res = await h.api('GET', `/sessions${q}`, undefined, token)
      expect(res.status).toBe(200)
      return res.body
    }
    expect((await ids('', a.token)).items.map((s: any) => s.id)).toEqual([s1.id, s2.id, s3.id])
    expect((await ids('?status=queued', b.token)).items.map((s: any) => s.id)).toEqual([s2.id, s3.id])
    expect((await ids('?status=assigned', a.token)).items.map((s: any) => s.id)).toEqual([s1.id])
    expect((await ids('?status=assigned', b.token)).items).toEqual([])
    const page1 = await ids('?limit=2', a.token)
    expect(page1.items.map((s: any) => s.id)).toEqual([s1.id, s2.id])
    const page2 = await ids(`?limit=2&cursor=${page1.nextCursor}`, a.token)
    expect(page2).toEqual({ items: [expect.objectContaining({ id: s3.id })], nextCursor: null })
    await h.api('POST', `/sessions/${s1.id}/close`, undefined, a.token)
    expect((await ids('?status=closed', a.token)).items.map((s: any) => s.id)).toEqual([s1.id])
  })

  it('pages messages back in time with before=', async () => {
    const a = await operator('A')
    const c = await client()
    const sent = []
    for (let i = 0; i < 5; i++) sent.push((await write(c.id, `m${i}`)).id)
    const s = await sessionOf(c.chatId)
    const p1 = (await h.api('GET', `/sessions/${s.id}/messages?limit=2`, undefined, a.token)).body
    expect(p1.items.map((m: any) => m.id)).toEqual(sent.slice(3))
    const p2 = (await h.api('GET', `/sessions/${s.id}/messages?limit=2&before=${p1.nextCursor}`, undefined, a.token)).body
    expect(p2.items.map((m: any) => m.id)).toEqual(sent.slice(1, 3))
    const p3 = (await h.api('GET', `/sessions/${s.id}/messages?limit=2&before=${p2.nextCursor}`, undefined, a.token)).body
    expect(p3).toEqual({ items: [expect.objectContaining({ id: sent[0] })], nextCursor: null })
  })
})

describe('operators list', () => {
  it('pages through operators with cursor', async () => {
    const made = [await operator('o1'), await operator('o2'), await operator('o3', 5, false)]
    const p1 = (await h.api('GET', '/operators?limit=2')).body
    expect(p1.items.map((o: any) => o.id)).toEqual(made.slice(0, 2).map((o) => o.id))
    expect(p1.items[0]).toMatchObject({ name: 'o1', online: true, blocked: false, openSessions: 0 })
    const p2 = (await h.api('GET', `/operators?limit=2&cursor=${p1.nextCursor}`)).body
    expect(p2).toEqual({ items: [expect.objectContaining({ id: made[2].id, online: false })], nextCursor: null })
  })
})

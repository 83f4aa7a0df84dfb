/**
 * One end-to-end test per event: caused through the HTTP API only, observed with the real `centrifuge`
 * SDK connected with the seed's options; present at the audience events.md names, absent elsewhere.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { api, connect, expectEnvelope, newClient, newOperator, ok, sessionOfChat, settle, type Console } from './e2e.js'

let l: TestLivedesk
const consoles: Console[] = []
const operators: string[] = []

beforeAll(async () => {
  l = await startTestLivedesk({ domain: { typingTtlMs: 1_500, typingMinIntervalMs: 10_000, clientPresenceGraceMs: 300 } })
})
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
  return { ...o, c, channels: [`operator:${o.id}`, 'operators:queue'] }
}
async function widget(client: { token: string }) {
  const c = await connect(l, 'widget', client.token)
  consoles.push(c)
  return c
}
const absent = (c: Console, event: string) => expect(c.names()).not.toContain(event)

/** A holds a fresh session of a new client; B is connected but full. */
async function held() {
  const a = await op('A')
  const b = await op('B', 0)
  const client = await newClient(l)
  const first = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hello' })
  await a.c.next('chatSessionAdded', (e) => e.data.chatId === client.chatId)
  return { a, b, client, sessionId: first.sessionId as string, chatId: client.chatId }
}

describe('events, end to end', () => {
  it('chatSessionStarted, chatSessionAdded, chatMessageCreated: a client writes, routing picks A', async () => {
    const a = await op('A')
    const b = await op('B', 0)
    const client = await newClient(l, 'Maria')
    const w = await widget(client)
    const msg = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'I need help' })

    const started = await a.c.next('chatSessionStarted', (e) => e.data.chatId === client.chatId)
    expectEnvelope(started, 'chatSessionStarted')
    expect(started.data).toMatchObject({
      id: msg.sessionId, chatId: client.chatId, clientId: client.id, name: 'Maria', markedAsSpam: false,
      operatorId: a.id, channel: 'widget', status: 'assigned', lastMessageCreatedAt: msg.createdAt,
      timerFirstAnswer: 60, timerNextAnswers: 120,
    })
    expect(started.data.lastMessage).toMatchObject({ id: msg.id, text: 'I need help' })
    expect(started.data.firstClientMessageAfterLastOperatorMessage.id).toBe(msg.id)
    const added = await a.c.next('chatSessionAdded')
    expect(added.data).toMatchObject({ id: msg.sessionId, operatorId: a.id, status: 'assigned', operatorAssignedAt: expect.any(String) })
    const created = await a.c.next('chatMessageCreated')
    expect(created.data).toMatchObject({
      id: msg.id, chatId: client.chatId, sessionId: msg.sessionId, text: 'I need help',
      author: { type: 'client', id: client.id, name: 'Maria' }, editedAt: null, readAt: null, attachments: [],
    })
    // The order they happened in.
    const names = a.c.names()
    expect(names.indexOf('chatSessionStarted')).toBeLessThan(names.indexOf('chatSessionAdded'))
    expect(names.indexOf('chatSessionAdded')).toBeLessThan(names.indexOf('chatMessageCreated'))

    // B may see the session start (queue audience) but it is not B's and B gets none of its messages.
    await b.c.next('chatSessionStarted', (e) => e.data.id === msg.sessionId)
    await settle(l, b.c, b.channels)
    absent(b.c, 'chatSessionAdded')
    absent(b.c, 'chatMessageCreated')
    await settle(l, w, [`client:${client.id}`])
    expect(w.names()).toEqual(['chatMessageCreated', 'marker'])
  })

  it('operatorNotFound: nobody is available, the session waits in the queue', async () => {
    const a = await op('A', 0)
    const client = await newClient(l)
    const w = await widget(client)
    const msg = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'anyone?' })
    const started = await a.c.next('chatSessionStarted', (e) => e.data.id === msg.sessionId)
    expect(started.data).toMatchObject({ status: 'queued', botStatus: 'HELP', operatorId: null })
    const nf = await a.c.next('operatorNotFound', (e) => e.data.sessionId === msg.sessionId)
    expect(nf).toMatchObject({
      action: 'operatorNotFound', event: 'operatorNotFound',
      data: { botStatus: 'HELP', chatId: client.chatId, operatorType: expect.any(String), sessionId: msg.sessionId, status: 'queued' },
    })
    // While unassigned, the queue audience gets the session's messages.
    await a.c.next('chatMessageCreated', (e) => e.data.id === msg.id)
    absent(a.c, 'chatSessionAdded')
    await settle(l, w, [`client:${client.id}`])
    absent(w, 'operatorNotFound')
    absent(w, 'chatSessionStarted')
  })

  it('chatMessageCreated from the operator reaches the widget; chatMessageEdited reaches holder and widget', async () => {
    const { a, b, client, sessionId } = await held()
    const w = await widget(client)
    const m = await ok(l, 'POST', `/sessions/${sessionId}/messages`, { text: 'Hello, how can I help?' }, a.token)
    const atWidget = await w.next('chatMessageCreated', (e) => e.data.id === m.id)
    expect(atWidget.data.author).toMatchObject({ type: 'operator', id: a.id, name: 'A' })
    await ok(l, 'PATCH', `/messages/${m.id}`, { text: 'Hello! How can I help?' }, a.token)
    const edited = await a.c.next('chatMessageEdited')
    expectEnvelope(edited, 'chatMessageEdited')
    expect(edited.data).toMatchObject({ id: m.id, sessionId, text: 'Hello! How can I help?', editedAt: expect.any(String) })
    await w.next('chatMessageEdited', (e) => e.data.id === m.id)
    await settle(l, b.c, b.channels)
    absent(b.c, 'chatMessageEdited')
  })

  it('chatMessageRead: the client read the operator’s messages', async () => {
    const { a, b, client, sessionId, chatId } = await held()
    const m1 = await ok(l, 'POST', `/sessions/${sessionId}/messages`, { text: 'one' }, a.token)
    const m2 = await ok(l, 'POST', `/sessions/${sessionId}/messages`, { text: 'two' }, a.token)
    await ok(l, 'POST', `/clients/${client.id}/read`, { messageId: m2.id })
    const read = await a.c.next('chatMessageRead')
    expectEnvelope(read, 'chatMessageRead')
    expect(read.data).toMatchObject({ chatId, sessionId, messageIds: [m1.id, m2.id], readAt: expect.any(String) })
    await settle(l, b.c, b.channels)
    absent(b.c, 'chatMessageRead')
  })

  it('chatSessionDeleted: the session goes back to the bot and disappears from its operator', async () => {
    const { a, b, sessionId, chatId } = await held()
    const s = await ok(l, 'POST', `/sessions/${sessionId}/bot`, { reason: 'keyword' })
    expect(s).toMatchObject({ status: 'bot', operatorId: null, previousOperator: { id: a.id, name: 'A' } })
    const deleted = await a.c.next('chatSessionDeleted')
    expectEnvelope(deleted, 'chatSessionDeleted')
    expect(deleted.data).toEqual({ id: sessionId, chatId, reason: 'keyword' })
    await settle(l, b.c, b.channels)
    absent(b.c, 'chatSessionDeleted')
  })

  it('chatSessionSwitchedFromBotToOperator: the bot hands over, then routing', async () => {
    const a = await op('A')
    const b = await op('B', 0)
    const client = await newClient(l)
    const w = await widget(client)
    const msg = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hi bot', mode: 'bot' })
    await ok(l, 'POST', `/sessions/${msg.sessionId}/messages`, { text: 'I am a bot' })
    await settle(l, a.c, a.channels)
    expect(a.c.names().filter((n) => n !== 'marker')).toEqual([]) // the bot's session is not the operators' business yet
    await ok(l, 'POST', `/sessions/${msg.sessionId}/handoff`)
    for (const c of [a.c, b.c]) {
      const switched = await c.next('chatSessionSwitchedFromBotToOperator')
      expectEnvelope(switched, 'chatSessionSwitchedFromBotToOperator')
      expect(switched.data).toMatchObject({ id: msg.sessionId, chatId: client.chatId, clientId: client.id })
    }
    const added = await a.c.next('chatSessionAdded')
    expect(added.data).toMatchObject({ id: msg.sessionId, operatorId: a.id })
    await settle(l, b.c, b.channels)
    absent(b.c, 'chatSessionAdded')
    await settle(l, w, [`client:${client.id}`])
    absent(w, 'chatSessionSwitchedFromBotToOperator')
  })

  it('sessionClosedByClient: the client closed the session', async () => {
    const { a, b, client, sessionId, chatId } = await held()
    const s = await ok(l, 'POST', `/clients/${client.id}/close`)
    expect(s).toMatchObject({ id: sessionId, status: 'closed' })
    const closed = await a.c.next('sessionClosedByClient')
    expectEnvelope(closed, 'sessionClosedByClient')
    expect(closed.data).toEqual({ id: sessionId, chatId, closedAt: expect.any(String) })
    await settle(l, b.c, b.channels)
    absent(b.c, 'sessionClosedByClient')
  })

  it('typing: the client types, the holder sees it with `until`, then a stop', async () => {
    const { a, b, client, sessionId, chatId } = await held()
    const res = await ok(l, 'POST', `/clients/${client.id}/typing`, { text: 'Where is my ord' })
    const on = await a.c.next('typing', (e) => e.data.active)
    expectEnvelope(on, 'typing')
    expect(on.data).toMatchObject({ chatId, sessionId, clientId: client.id, active: true, until: res.until, text: 'Where is my ord' })
    const off = await a.c.next('typing', (e) => !e.data.active, 5_000)
    expect(off.data).toMatchObject({ chatId, active: false })
    await settle(l, b.c, b.channels)
    absent(b.c, 'typing')
  })

  it('typing: the operator types over the socket (RPC), the client sees it', async () => {
    const { a, b, client, chatId } = await held()
    const w = await widget(client)
    expect((await a.c.sdk.rpc('typing', { chatId })).data).toEqual({})
    const on = await w.next('typing', (e) => e.data.active)
    expect(on.data).toMatchObject({ chatId, active: true, until: expect.any(String), author: { type: 'operator', id: a.id } })
    // Refusals: not B's chat (permission denied), malformed (bad request), too fast (too many requests).
    await expect(b.c.sdk.rpc('typing', { chatId })).rejects.toMatchObject({ code: 103 })
    await expect(a.c.sdk.rpc('typing', { chat: chatId })).rejects.toMatchObject({ code: 107 })
    await expect(a.c.sdk.rpc('typing', { chatId })).rejects.toMatchObject({ code: 111 })
    await settle(l, b.c, b.channels)
    absent(b.c, 'typing')
  })

  it('clientOnline and clientOffline: the widget connects and leaves; the holder is told', async () => {
    const { a, b, client, sessionId, chatId } = await held()
    const w = await widget(client)
    const online = await a.c.next('clientOnline')
    expect(online).toMatchObject({ action: 'clientOnline', event: 'clientOnline', data: { id: client.id, chatId, sessionId, at: expect.any(String) } })
    w.close()
    const offline = await a.c.next('clientOffline')
    expect(offline).toMatchObject({ action: 'clientOffline', event: 'clientOffline', data: { id: client.id, chatId } })
    // The HTTP presence of bridges works the same way.
    await ok(l, 'POST', `/clients/${client.id}/presence`, { online: true })
    await a.c.next('clientOnline', (e) => e.id !== online.id)
    await settle(l, b.c, b.channels)
    absent(b.c, 'clientOnline')
    absent(b.c, 'clientOffline')
  })

  it('operatorBlocked: to every connection of the operator, then a terminal close', async () => {
    const a = await op('A')
    const a2 = await connect(l, 'notifications', a.token)
    consoles.push(a2)
    const b = await op('B')
    const closes = [a.c, a2].map((c) => new Promise<any>((r) => c.sdk.on('disconnected', r)))
    await ok(l, 'POST', `/operators/${a.id}/block`, { reason: 'abuse' })
    for (const c of [a.c, a2]) {
      const blocked = await c.next('operatorBlocked')
      expectEnvelope(blocked, 'operatorBlocked')
      expect(blocked.data).toMatchObject({ id: a.id, reason: 'abuse', at: expect.any(String) })
    }
    for (const d of await Promise.all(closes)) expect(d).toMatchObject({ code: 4501, reason: 'operator blocked' })
    await settle(l, b.c, b.channels)
    absent(b.c, 'operatorBlocked')
  })

  it('chatUserExists: a new login for the operator closes the older one only', async () => {
    const a = await op('A')
    const b = await op('B')
    const closed = new Promise<any>((r) => a.c.sdk.on('disconnected', r))
    const second = await ok(l, 'POST', `/operators/${a.id}/tokens`, { userAgent: 'Firefox', ip: '10.0.0.7' })
    const exists = await a.c.next('chatUserExists')
    expectEnvelope(exists, 'chatUserExists')
    expect(exists.data).toMatchObject({ id: a.id, at: expect.any(String), userAgent: 'Firefox', ip: '10.0.0.7' })
    expect(await closed).toMatchObject({ code: 4502, reason: 'logged in elsewhere' })
    const fresh = await connect(l, 'notifications', second.token)
    consoles.push(fresh)
    await settle(l, fresh, [`operator:${a.id}`])
    absent(fresh, 'chatUserExists')
    await settle(l, b.c, b.channels)
    absent(b.c, 'chatUserExists')
  })

  it('operatorLoggedOut: logout reaches every connection of the operator, which then close', async () => {
    const a = await op('A')
    const a2 = await connect(l, 'notifications', a.token)
    consoles.push(a2)
    const b = await op('B')
    const closes = [a.c, a2].map((c) => new Promise<any>((r) => c.sdk.on('disconnected', r)))
    expect((await api(l, 'POST', '/logout', undefined, a.token)).status).toBe(204)
    for (const c of [a.c, a2]) {
      const out = await c.next('operatorLoggedOut')
      expectEnvelope(out, 'operatorLoggedOut')
      expect(out.data).toMatchObject({ id: a.id, at: expect.any(String) })
    }
    for (const d of await Promise.all(closes)) expect(d).toMatchObject({ code: 4503, reason: 'logged out' })
    await settle(l, b.c, b.channels)
    absent(b.c, 'operatorLoggedOut')
  })

  it('GET /sessions redraws a console: its sessions, the queue, unread counts, last messages', async () => {
    const { a, client, sessionId } = await held()
    await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'second' })
    const mine = await sessionOfChat(l, a.token, client.chatId)
    expect(mine).toMatchObject({ id: sessionId, status: 'assigned', unreadClientMessageCount: 2, unreadClientMessageExists: true })
    expect(mine.lastMessage.text).toBe('second')
  })
})

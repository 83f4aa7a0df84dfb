/** Bad input on every /api/v1 endpoint gets the documented 4xx, names the field, and changes nothing. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from '../domain/harness.js'

let h: Harness
let op: { id: string; token: string }
let other: { id: string; token: string }
let client: { id: string; chatId: string; token: string }
let sessionId: string
let clientMessageId: string
let operatorMessageId: string
let closedClient: { id: string; token: string }
let closedSessionId: string

beforeAll(async () => {
  h = await startHarness({}, { widgetSignupsPerMinute: 3 })
  const mk = async (name: string) => {
    const o = (await h.api('POST', '/operators', { name })).body
    return { id: o.id, token: (await h.api('POST', `/operators/${o.id}/tokens`, {})).body.token }
  }
  op = await mk('Op')
  other = await mk('Other')
  client = (await h.api('POST', '/clients', { name: 'Ann' })).body
  clientMessageId = (await h.api('POST', `/clients/${client.id}/messages`, { text: 'hi' })).body.id
  const [s] = await h.db.query<any>(`SELECT id FROM sessions WHERE client_id = $1`, [client.id])
  sessionId = s.id
  await h.api('POST', `/sessions/${sessionId}/accept`, undefined, op.token)
  operatorMessageId = (await h.api('POST', `/sessions/${sessionId}/messages`, { text: 'hello' }, op.token)).body.id
  closedClient = (await h.api('POST', '/clients', { name: 'Bob' })).body
  await h.api('POST', `/clients/${closedClient.id}/messages`, { text: 'bye' })
  closedSessionId = (await h.db.query<any>(`SELECT id FROM sessions WHERE client_id = $1`, [closedClient.id]))[0].id
  await h.api('POST', `/clients/${closedClient.id}/close`)
})
afterAll(() => h.close())

/** A fingerprint of all state: a refused request must leave it as it was, and publish nothing. */
async function snapshot() {
  const rows = await h.db.query<any>(
    `SELECT (SELECT json_agg(o ORDER BY id) FROM operators o) AS ops, (SELECT json_agg(c ORDER BY id) FROM clients c) AS clients,
            (SELECT json_agg(s ORDER BY id) FROM sessions s) AS sessions, (SELECT json_agg(m ORDER BY id) FROM messages m) AS messages,
            (SELECT count(*)::int FROM operator_tokens WHERE revoked_at IS NULL) AS tokens`,
  )
  return { db: JSON.stringify(rows[0]), published: h.live.published.length, disconnected: h.live.disconnected.length }
}

type Case = [name: string, method: string, url: () => string, body: unknown, token: () => string | null, status: number, field?: string]
const KEY = () => h.apiKey
const OP = () => op.token
const CL = () => client.token
const big = 'x'.repeat(70_000)

const cases: Case[] = [
  // credentials
  ['no credentials', 'POST', () => '/operators', { name: 'x' }, () => null, 401],
  ['wrong API key', 'POST', () => '/operators', { name: 'x' }, () => 'nope', 401],
  ['operator token is not the API key', 'POST', () => '/clients', {}, OP, 401],
  ['API key is not an operator token', 'GET', () => '/me', undefined, KEY, 401],
  ['client token is not an operator token', 'GET', () => '/sessions', undefined, CL, 401],
  ['wrong operator token', 'POST', () => `/sessions/${sessionId}/accept`, undefined, () => 'op_wrong', 401],
  ['wrong client token', 'POST', () => '/widget/messages', { text: 'x' }, () => 'cl_wrong', 401],
  ['operator token on widget endpoint', 'GET', () => '/widget/messages', undefined, OP, 401],
  ['wrong token on logout', 'POST', () => '/logout', undefined, () => 'zzz', 401],
  // operators
  ['operator without name', 'POST', () => '/operators', {}, KEY, 400, 'name'],
  ['operator name of wrong type', 'POST', () => '/operators', { name: 5 }, KEY, 400, 'name'],
  ['maxChats not an integer', 'POST', () => '/operators', { name: 'x', maxChats: 'five' }, KEY, 400, 'maxChats'],
  ['maxChats negative', 'POST', () => '/operators', { name: 'x', maxChats: -1 }, KEY, 400, 'maxChats'],
  ['body not JSON', 'POST', () => '/operators', '{"name":', KEY, 400],
  ['body is an array', 'POST', () => '/operators', [1], KEY, 400],
  ['oversized body', 'POST', () => '/operators', { name: big }, KEY, 413],
  ['unknown operator', 'GET', () => '/operators/nope', undefined, KEY, 404],
  ['patch unknown operator', 'PATCH', () => '/operators/nope', { maxChats: 2 }, KEY, 404],
  ['patch maxChats wrong type', 'PATCH', () => `/operators/${op.id}`, { maxChats: true }, KEY, 400, 'maxChats'],
  ['tokens for unknown operator', 'POST', () => '/operators/nope/tokens', {}, KEY, 404],
  ['tokens userAgent wrong type', 'POST', () => `/operators/${op.id}/tokens`, { userAgent: 1 }, KEY, 400, 'userAgent'],
  ['block unknown operator', 'POST', () => '/operators/nope/block', {}, KEY, 404],
  ['block reason wrong type', 'POST', () => `/operators/${op.id}/block`, { reason: ['x'] }, KEY, 400, 'reason'],
  ['unblock unknown operator', 'POST', () => '/operators/nope/unblock', undefined, KEY, 404],
  ['operators list limit too big', 'GET', () => '/operators?limit=100000', undefined, KEY, 400, 'limit'],
  ['operators list unknown cursor', 'GET', () => '/operators?cursor=nope', undefined, KEY, 400, 'cursor'],
  // clients
  ['client name wrong type', 'POST', () => '/clients', { name: 1 }, KEY, 400, 'name'],
  ['client coordinates wrong type', 'POST', () => '/clients', { coordinates: { latitude: 'north' } }, KEY, 400, 'coordinates.latitude'],
  ['unknown client', 'GET', () => '/clients/nope', undefined, KEY, 404],
  ['message without text', 'POST', () => `/clients/${client.id}/messages`, {}, KEY, 400, 'text'],
  ['message text wrong type', 'POST', () => `/clients/${client.id}/messages`, { text: 42 }, KEY, 400, 'text'],
  ['message text empty', 'POST', () => `/clients/${client.id}/messages`, { text: '' }, KEY, 400, 'text'],
  ['message mode unknown', 'POST', () => `/clients/${client.id}/messages`, { text: 'x', mode: 'robot' }, KEY, 400, 'mode'],
  ['message text oversized', 'POST', () => `/clients/${client.id}/messages`, { text: big }, KEY, 413],
  ['message of unknown client', 'POST', () => '/clients/nope/messages', { text: 'x' }, KEY, 404],
  ['typing text wrong type', 'POST', () => `/clients/${client.id}/typing`, { text: 1 }, KEY, 400, 'text'],
  ['typing of unknown client', 'POST', () => '/clients/nope/typing', {}, KEY, 404],
  ['typing without an open session', 'POST', () => `/clients/${closedClient.id}/typing`, {}, KEY, 409],
  ['read without messageId', 'POST', () => `/clients/${client.id}/read`, {}, KEY, 400, 'messageId'],
  ['read unknown message', 'POST', () => `/clients/${client.id}/read`, { messageId: 'nope' }, KEY, 404],
  ["read another chat's message", 'POST', () => `/clients/${closedClient.id}/read`, () => ({ messageId: operatorMessageId }), KEY, 404],
  ['presence without online', 'POST', () => `/clients/${client.id}/presence`, {}, KEY, 400, 'online'],
  ['presence online wrong type', 'POST', () => `/clients/${client.id}/presence`, { online: 'yes' }, KEY, 400, 'online'],
  ['presence of unknown client', 'POST', () => '/clients/nope/presence', { online: true }, KEY, 404],
  ['close unknown client', 'POST', () => '/clients/nope/close', undefined, KEY, 404],
  ['close without an open session', 'POST', () => `/clients/${closedClient.id}/close`, undefined, KEY, 409],
  // sessions with the API key
  ['handoff unknown session', 'POST', () => '/sessions/nope/handoff', undefined, KEY, 404],
  ['handoff of a session not with the bot', 'POST', () => `/sessions/${sessionId}/handoff`, undefined, KEY, 409],
  ['bot for unknown session', 'POST', () => '/sessions/nope/bot', {}, KEY, 404],
  ['bot for a closed session', 'POST', () => `/sessions/${closedSessionId}/bot`, {}, KEY, 409],
  ['bot message to a closed session', 'POST', () => `/sessions/${closedSessionId}/messages`, { text: 'x' }, KEY, 409],
  ['bot message without text', 'POST', () => `/sessions/${sessionId}/messages`, {}, KEY, 400, 'text'],
  ['bot message to unknown session', 'POST', () => '/sessions/nope/messages', { text: 'x' }, KEY, 404],
  // the console
  ['sessions with unknown status', 'GET', () => '/sessions?status=lost', undefined, OP, 400, 'status'],
  ['sessions with limit zero', 'GET', () => '/sessions?limit=0', undefined, OP, 400, 'limit'],
  ['sessions with limit not a number', 'GET', () => '/sessions?limit=ten', undefined, OP, 400, 'limit'],
  ['sessions with unknown cursor', 'GET', () => '/sessions?cursor=nope', undefined, OP, 400, 'cursor'],
  ['unknown session', 'GET', () => '/sessions/nope', undefined, OP, 404],
  ["another operator's session", 'GET', () => `/sessions/${sessionId}`, undefined, () => other.token, 403],
  ['messages of unknown session', 'GET', () => '/sessions/nope/messages', undefined, OP, 404],
  ['messages before unknown message', 'GET', () => `/sessions/${sessionId}/messages?before=nope`, undefined, OP, 400, 'before'],
  ["messages of another operator's session", 'GET', () => `/sessions/${sessionId}/messages`, undefined, () => other.token, 403],
  ['accept unknown session', 'POST', () => '/sessions/nope/accept', undefined, OP, 404],
  ['accept an assigned session', 'POST', () => `/sessions/${sessionId}/accept`, undefined, () => other.token, 409],
  ['write to a session not mine', 'POST', () => `/sessions/${sessionId}/messages`, { text: 'x' }, () => other.token, 403],
  ['operator writes without text', 'POST', () => `/sessions/${sessionId}/messages`, { text: null }, OP, 400, 'text'],
  ['close a session not mine', 'POST', () => `/sessions/${sessionId}/close`, undefined, () => other.token, 403],
  ['read unknown message in session', 'POST', () => `/sessions/${sessionId}/read`, { messageId: 'nope' }, OP, 404],
  ['edit unknown message', 'PATCH', () => '/messages/nope', { text: 'x' }, OP, 404],
  ["edit the client's message", 'PATCH', () => `/messages/${clientMessageId}`, { text: 'x' }, OP, 403],
  ["edit another operator's message", 'PATCH', () => `/messages/${operatorMessageId}`, { text: 'x' }, () => other.token, 403],
  ['edit without text', 'PATCH', () => `/messages/${operatorMessageId}`, {}, OP, 400, 'text'],
  // the widget
  ['widget sign-up name wrong type', 'POST', () => '/widget/clients', { name: {} }, () => null, 400, 'name'],
  ['widget message text wrong type', 'POST', () => '/widget/messages', { text: false }, CL, 400, 'text'],
  ['widget typing text oversized', 'POST', () => '/widget/typing', { text: 'x'.repeat(2000) }, CL, 400, 'text'],
  ['widget read unknown message', 'POST', () => '/widget/read', { messageId: 'nope' }, CL, 404],
  ['widget messages before unknown', 'GET', () => '/widget/messages?before=nope', undefined, CL, 400, 'before'],
  ['unknown route', 'GET', () => '/nothing-here', undefined, KEY, 404],
]

describe('bad input', () => {
  it.each(cases)('%s → %s %s', async (_name, method, url, body, token, status, field) => {
    const before = await snapshot()
    const res = await h.api(method, url(), typeof body === 'function' ? body() : body, token())
    expect(res.status).toBe(status)
    expect(res.body.error).toMatchObject({ code: expect.stringMatching(/^[a-z_]+$/), message: expect.any(String) })
    if (field) expect(res.body.error.field).toBe(field)
    expect(await snapshot()).toEqual(before)
  })

  it('writing to a closed session is refused for the operator who held it', async () => {
    const c = (await h.api('POST', '/clients', { name: 'Cy' })).body
    await h.api('POST', `/clients/${c.id}/messages`, { text: 'x' })
    const [s] = await h.db.query<any>(`SELECT id FROM sessions WHERE client_id = $1`, [c.id])
    await h.api('POST', `/sessions/${s.id}/accept`, undefined, op.token)
    const mine = (await h.api('POST', `/sessions/${s.id}/messages`, { text: 'mine' }, op.token)).body
    await h.api('POST', `/clients/${c.id}/close`)
    const before = await snapshot()
    expect((await h.api('POST', `/sessions/${s.id}/messages`, { text: 'late' }, op.token)).status).toBe(409)
    expect((await h.api('PATCH', `/messages/${mine.id}`, { text: 'late' }, op.token)).status).toBe(409)
    expect((await h.api('POST', `/sessions/${s.id}/close`, undefined, op.token)).status).toBe(409)
    expect(await snapshot()).toEqual(before)
  })

  it('rate-limits widget sign-ups per IP with 429', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await h.api('POST', '/widget/clients', {}, null)).status)
    expect(statuses).toEqual([201, 201, 201, 429, 429])
  })

  it('rate-limits client typing with 429', async () => {
    expect((await h.api('POST', `/clients/${client.id}/typing`, { text: 'a' })).status).toBe(202)
    const second = await h.api('POST', `/clients/${client.id}/typing`, { text: 'ab' })
    expect(second.status).toBe(429)
    expect(second.body.error.code).toBe('rate_limited')
  })

  it('refuses a blocked operator’s token with 401 (for good: the block revoked it) and a new login with 409', async () => {
    const o = (await h.api('POST', '/operators', { name: 'Bl' })).body
    const { token } = (await h.api('POST', `/operators/${o.id}/tokens`, {})).body
    expect((await h.api('GET', '/me', undefined, token)).status).toBe(200)
    await h.api('POST', `/operators/${o.id}/block`, {})
    expect((await h.api('GET', '/me', undefined, token)).status).toBe(401)
    expect((await h.api('POST', `/operators/${o.id}/tokens`, {})).status).toBe(409)
    await h.api('POST', `/operators/${o.id}/unblock`)
    expect((await h.api('GET', '/me', undefined, token)).status).toBe(401)
    const fresh = (await h.api('POST', `/operators/${o.id}/tokens`, {})).body.token
    expect((await h.api('GET', '/me', undefined, fresh)).status).toBe(200)
  })
})

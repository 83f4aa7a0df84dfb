/** The client's side end to end: public sign-up, the widget socket, and the client-token API; and operator JWTs. */
import { SignJWT } from 'jose'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { api, connect, newOperator, ok, type Console } from './e2e.js'

const JWT_SECRET = 'operator-jwt-secret-for-tests'
let l: TestLivedesk
const consoles: Console[] = []

beforeAll(async () => {
  l = await startTestLivedesk({ domain: { typingMinIntervalMs: 0, operatorJwtSecret: JWT_SECRET } })
})
afterEach(() => {
  for (const c of consoles.splice(0)) c.close()
})
const track = (c: Console) => (consoles.push(c), c)

describe('widget', () => {
  it('signs up, writes, sees the operator, types, reads and closes', async () => {
    const a = await newOperator(l, 'Helper')
    const op = track(await connect(l, 'notifications', a.token))
    const { client, token } = await ok(l, 'POST', '/widget/clients', { name: 'Visitor' }, null)
    expect(client).toMatchObject({ name: 'Visitor', channel: 'widget', online: false })
    const w = track(await connect(l, 'widget', token))
    const sent = await ok(l, 'POST', '/widget/messages', { text: 'Hi there' }, token)
    const added = await op.next('chatSessionAdded', (e) => e.data.clientId === client.id)
    expect(added.data).toMatchObject({ name: 'Visitor', clientOnline: true })

    const answer = await ok(l, 'POST', `/sessions/${sent.sessionId}/messages`, { text: 'Hello!' }, a.token)
    await w.next('chatMessageCreated', (e) => e.data.id === answer.id)

    expect(await ok(l, 'POST', '/widget/typing', { text: 'I' }, token)).toMatchObject({ until: expect.any(String) })
    await op.next('typing', (e) => e.data.active && e.data.text === 'I')
    await w.sdk.rpc('typing', { text: 'I wa' })
    const typing = await op.next('typing', (e) => e.data.active && e.data.text === 'I wa')
    expect(typing.data).toMatchObject({ clientId: client.id, author: { type: 'client', id: client.id } })

    await ok(l, 'POST', '/widget/read', { messageId: answer.id }, token)
    expect((await op.next('chatMessageRead')).data.messageIds).toEqual([answer.id])

    const history = await ok(l, 'GET', '/widget/messages', undefined, token)
    expect(history.items.map((m: any) => m.text)).toEqual(['Hi there', 'Hello!'])
    expect(history.session).toEqual({ id: sent.sessionId, status: 'assigned' })

    await ok(l, 'POST', '/widget/close', undefined, token)
    await op.next('sessionClosedByClient', (e) => e.data.id === sent.sessionId)
    await w.next('sessionClosedByClient', (e) => e.data.id === sent.sessionId)
    expect((await api(l, 'POST', '/widget/close', undefined, token)).status).toBe(409)
  })

  it('hears when the operator closes the session', async () => {
    const a = await newOperator(l, 'Closer')
    track(await connect(l, 'notifications', a.token))
    const { token } = await ok(l, 'POST', '/widget/clients', {}, null)
    const w = track(await connect(l, 'widget', token))
    const sent = await ok(l, 'POST', '/widget/messages', { text: 'x' }, token)
    await ok(l, 'POST', `/sessions/${sent.sessionId}/close`, undefined, a.token)
    const closed = await w.next('sessionClosedByOperator')
    expect(closed.data).toMatchObject({ id: sent.sessionId, closedAt: expect.any(String) })
  })
})

describe('operator JWTs', () => {
  const sign = (sub: string, secret = JWT_SECRET) =>
    new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(secret))

  it('accepts a JWT signed with OPERATOR_JWT_SECRET (sub = operator id) and refuses others', async () => {
    // An operator of JWTs only: a minted login would revoke the JWTs of its second (issue 12).
    const a = await ok(l, 'POST', '/operators', { name: 'Jwt' })
    const jwt = await sign(a.id)
    expect((await ok(l, 'GET', '/me', undefined, jwt)).id).toBe(a.id)
    const c = track(await connect(l, 'notifications', jwt))
    expect(c.sdk.state).toBe('connected')
    expect((await api(l, 'GET', '/me', undefined, await sign(a.id, 'wrong-secret'))).status).toBe(401)
    expect((await api(l, 'GET', '/me', undefined, await sign('no-such-operator'))).status).toBe(401)
  })

  it('a logout refuses JWTs issued before it', async () => {
    const a = await ok(l, 'POST', '/operators', { name: 'JwtOut' })
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(a.id).setIssuedAt(Math.floor(Date.now() / 1000) - 5).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET))
    expect((await api(l, 'GET', '/me', undefined, jwt)).status).toBe(200)
    expect((await api(l, 'POST', '/logout', undefined, jwt)).status).toBe(204)
    expect((await api(l, 'GET', '/me', undefined, jwt)).status).toBe(401)
  })
})

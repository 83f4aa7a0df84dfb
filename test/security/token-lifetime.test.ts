/**
 * Token lifetime on live connections (issue 12, item 2): an operator connection ends with its token's expiry or
 * revocation, on whichever node holds it, and stops counting for routing and acting (typing) at once; the seed's
 * console (the SDK with its token in `data`, no getToken) ends in a terminal state, never a reconnect loop;
 * operator JWTs must carry a bounded `exp` and die with a logout, a new login or a block whatever their `iat`.
 */
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closedWithin, openRaw, type RawClient } from '../gateway/raw.js'
import { api, connect, newClient, newOperator, ok, type Console } from '../http/e2e.js'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { startRedisProcess } from '../helpers/processes.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { serviceUrl } from '../realtime/services.js'
import { tempPostgres, type TestDatabase } from '../store/databases.js'

const SECRET = 'token-lifetime-secret'
/** The refresh grace past a token's expiry before the gateway closes with 3005: long enough to act inside it. */
const GRACE_MS = 2_500
const nowSec = () => Date.now() / 1000

/** An operator JWT; `exp`/`iat` absent when null. */
function operatorJwt(sub: string, claims: { exp?: number | null; iat?: number | null }, secret = SECRET): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub)
  const iat = claims.iat === undefined ? Math.floor(nowSec()) : claims.iat
  if (iat !== null) jwt.setIssuedAt(iat)
  if (claims.exp !== null) jwt.setExpirationTime(claims.exp ?? Math.floor(nowSec()) + 600)
  return jwt.sign(new TextEncoder().encode(secret))
}

/** The seed's console: the SDK with its token in the connect data, no getToken; records what it goes through. */
function seedConsole(l: TestLivedesk, application: 'notifications' | 'widget', token: string) {
  const sdk = newSdk(l.wsUrl, { data: { application, settings: { token } } })
  const connecting = collect(sdk, 'connecting')
  const errors = collect(sdk, 'error')
  const disconnected = nextEvent(sdk, 'disconnected', () => true, 15_000)
  sdk.connect()
  return { sdk, connecting, errors, disconnected }
}

/** A short explicit window after a terminal event: proves no reconnect follows. */
const quietWindow = (ms = 800) => new Promise((r) => setTimeout(r, ms))

/** A raw connection as an operator console that never refreshes (it ignores `ttl`): what the server enforces alone. */
async function rawOperator(l: TestLivedesk, token: string): Promise<{ raw: RawClient; reply: any }> {
  const raw = await openRaw(l.wsUrl)
  // It answers the server's pings, so only its token ends it.
  raw.ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) if (line === '{}') raw.send('{}')
  })
  const reply = await raw.connect({ application: 'notifications', settings: { token } })
  return { raw, reply }
}

let rpcId = 100
async function rawTyping(raw: RawClient, chatId: string): Promise<any> {
  const id = ++rpcId
  raw.send(JSON.stringify({ rpc: { method: 'typing', data: { chatId } }, id }))
  return raw.waitFor((line) => line.id === id)
}

const pubOf = (line: any) => line?.push?.pub?.data

let l: TestLivedesk
/** Minted operator tokens of 2 s, widget tokens that end after 1.5 s unused. */
let short: TestLivedesk
const open: Console[] = []
beforeAll(async () => {
  ;[l, short] = await Promise.all([
    startTestLivedesk({
      domain: { operatorJwtSecret: SECRET, revocationCheckMs: 200, typingMinIntervalMs: 0 },
      realtime: { expiredCloseDelayMs: GRACE_MS },
    }),
    startTestLivedesk({ domain: { tokenTtlMs: 2_000, clientTokenIdleTtlMs: 1_500, revocationCheckMs: 200 } }),
  ])
})
afterAll(() => {
  for (const c of open.splice(0)) c.close()
})

describe('an operator connection ends with its token', () => {
  it('past expiry: not routed to, typing refused (110), closed with 3005; the reconnect is refused with 110', async () => {
    // A: a JWT that expires in 3 s, on a console that ignores ttl. B: a minted token (default lifetime).
    const a = await ok(l, 'POST', '/operators', { name: 'Expiring' })
    const exp = Math.floor(nowSec()) + 3
    const jwt = await operatorJwt(a.id, { exp })
    const { raw, reply } = await rawOperator(l, jwt)
    expect(reply.connect).toMatchObject({ expires: true })
    expect(reply.connect.ttl).toBeGreaterThanOrEqual(1)
    expect(reply.connect.ttl).toBeLessThanOrEqual(3)

    // Before expiry A takes a chat (B is not there yet) and may type in it.
    const first = await newClient(l, 'First')
    await ok(l, 'POST', `/clients/${first.id}/messages`, { text: 'hi' })
    await raw.waitFor((line) => pubOf(line)?.event === 'chatSessionAdded' && pubOf(line).data.chatId === first.chatId)
    expect((await rawTyping(raw, first.chatId)).error).toBeUndefined()

    const b = await newOperator(l, 'Steady')
    const bc = await connect(l, 'notifications', b.token)
    open.push(bc)

    // At expiry A stops counting (the store's view, shared by every node) while its socket is in the grace.
    await until(async () => (await ok(l, 'GET', `/operators/${a.id}`)).online === false, 6_000, 'A offline at expiry')
    expect(nowSec()).toBeGreaterThanOrEqual(exp - 0.05)
    expect(raw.ws.readyState).toBe(raw.ws.OPEN)
    expect((await rawTyping(raw, first.chatId)).error).toMatchObject({ code: 110 })

    // A new chat goes to B, never to A.
    const second = await newClient(l, 'Second')
    await ok(l, 'POST', `/clients/${second.id}/messages`, { text: 'hello' })
    const added = await bc.next('chatSessionAdded', (e) => e.data.chatId === second.chatId)
    expect(added.data.operatorId).toBe(b.id)
    expect(raw.lines.some((line) => pubOf(line)?.data?.chatId === second.chatId && pubOf(line)?.event === 'chatSessionAdded')).toBe(false)

    // The grace runs out: 3005 (the SDK reconnects once), and that connect is refused with 110 (terminal).
    const closed = await closedWithin(raw, GRACE_MS + 3_000)
    expect(closed.code).toBe(3005)
    expect(nowSec()).toBeGreaterThanOrEqual(exp + GRACE_MS / 1000 - 0.1)
    const again = await rawOperator(l, jwt)
    expect(again.reply.error).toMatchObject({ code: 110, message: 'expired' })
    again.raw.ws.close()
    const me = await api(l, 'GET', '/me', undefined, jwt)
    expect(me.status).toBe(401)
    expect(me.body.error.code).toBe('token_expired')
  }, 20_000)

  it('the seed console with a minted token stops at its expiry, says why, and never reconnects', async () => {
    const a = await newOperator(short, 'Short')
    const c = seedConsole(short, 'notifications', a.token)
    const connected = await nextEvent(c.sdk, 'connected')
    expect(connected.client).toBeTruthy()
    // Without getToken the SDK ends the connection itself at ttl: a configuration error naming the expiry, then
    // disconnected with its own "unauthorized" (code 1), terminal.
    const d = await c.disconnected
    expect(d.code).toBe(1)
    expect(c.errors.map((e) => e.type)).toContain('configuration')
    expect(c.errors.find((e) => e.type === 'configuration')!.error.message).toMatch(/token expired/)
    await quietWindow()
    expect(c.connecting).toHaveLength(1)
    expect(c.sdk.state).toBe('disconnected')
    await until(async () => (await ok(short, 'GET', `/operators/${a.id}`)).online === false, 3_000, 'offline')

    // Opening the console again with that token: refused with 110 expired, one attempt, no loop.
    const again = seedConsole(short, 'notifications', a.token)
    const d2 = await again.disconnected
    expect(d2).toMatchObject({ code: 110, reason: 'expired' })
    await quietWindow()
    expect(again.connecting).toHaveLength(1)
    expect((await api(short, 'GET', '/me', undefined, a.token)).body.error.code).toBe('token_expired')
  }, 20_000)

  it('a refresh with a new token of the same operator keeps the connection, and routing counts it, past the first token', async () => {
    const a = await ok(l, 'POST', '/operators', { name: 'Refresher' })
    const exp = Math.floor(nowSec()) + 2
    const { raw, reply } = await rawOperator(l, await operatorJwt(a.id, { exp }))
    expect(reply.connect.expires).toBe(true)
    // Another operator's token is refused (terminal for the SDK); the same operator's later one is taken.
    const other = await ok(l, 'POST', '/operators', { name: 'Other' })
    raw.send(JSON.stringify({ refresh: { token: await operatorJwt(other.id, {}) }, id: 50 }))
    expect((await raw.waitFor((line) => line.id === 50)).error).toMatchObject({ code: 101 })
    raw.send(JSON.stringify({ refresh: { token: await operatorJwt(a.id, { exp: exp + 600 }) }, id: 51 }))
    const refreshed = await raw.waitFor((line) => line.id === 51)
    expect(refreshed.refresh).toMatchObject({ expires: true })
    expect(refreshed.refresh.ttl).toBeGreaterThan(590)
    // Past the first token's expiry and grace: still open, still available.
    await until(() => nowSec() > exp + GRACE_MS / 1000 + 0.5, 8_000, 'past the first expiry and grace')
    expect(raw.ws.readyState).toBe(raw.ws.OPEN)
    expect((await ok(l, 'GET', `/operators/${a.id}`)).online).toBe(true)
    raw.ws.close()
  }, 15_000)
})

describe('revoked tokens', () => {
  it('logout closes the live socket (4503) and refuses the old minted token and a JWT of the same second, over HTTP and on connect', async () => {
    const a = await ok(l, 'POST', '/operators', { name: 'Leaver' })
    const { token } = await ok(l, 'POST', `/operators/${a.id}/tokens`, {})
    // A JWT minted now (in the logout's second, or the one before), with an iat the leeway ahead.
    const jwt = await operatorJwt(a.id, { iat: Math.floor(nowSec()) + 1 })
    const c = await connect(l, 'notifications', token)
    const closed = nextEvent(c.sdk, 'disconnected')
    expect((await api(l, 'POST', '/logout', undefined, token)).status).toBe(204)
    expect((await closed).code).toBe(4503)
    for (const t of [token, jwt]) {
      expect((await api(l, 'GET', '/me', undefined, t)).status).toBe(401)
      const again = seedConsole(l, 'notifications', t)
      expect((await again.disconnected).code).toBe(101)
      await quietWindow(300)
      expect(again.connecting).toHaveLength(1)
    }
  })

  it('a block closes the socket (4501) and ends every login: after an unblock old tokens stay refused, a new login works', async () => {
    const a = await ok(l, 'POST', '/operators', { name: 'Blocked' })
    const { token } = await ok(l, 'POST', `/operators/${a.id}/tokens`, {})
    const c = await connect(l, 'notifications', token)
    const closed = nextEvent(c.sdk, 'disconnected')
    await ok(l, 'POST', `/operators/${a.id}/block`, {})
    expect((await closed).code).toBe(4501)
    await ok(l, 'POST', `/operators/${a.id}/unblock`)
    expect((await api(l, 'GET', '/me', undefined, token)).status).toBe(401)
    expect((await seedConsole(l, 'notifications', token).disconnected).code).toBe(101)
    const fresh = await ok(l, 'POST', `/operators/${a.id}/tokens`, {})
    expect((await ok(l, 'GET', '/me', undefined, fresh.token)).id).toBe(a.id)
  })

  it('a new login closes a JWT console (4502) and refuses that JWT; a JWT minted after the leeway works', async () => {
    const a = await ok(l, 'POST', '/operators', { name: 'Relogin' })
    const jwt = await operatorJwt(a.id, {})
    const c = await connect(l, 'notifications', jwt)
    const closed = nextEvent(c.sdk, 'disconnected')
    const login = await ok(l, 'POST', `/operators/${a.id}/tokens`, {})
    await c.next('chatUserExists')
    expect((await closed).code).toBe(4502)
    expect((await api(l, 'GET', '/me', undefined, jwt)).status).toBe(401)
    expect((await ok(l, 'GET', '/me', undefined, login.token)).id).toBe(a.id)
    // More than the leeway (1 s) after the login's second: a new JWT passes.
    const after = Math.floor(nowSec())
    await until(() => Math.floor(nowSec()) >= after + 2, 4_000, 'two seconds on')
    expect((await ok(l, 'GET', '/me', undefined, await operatorJwt(a.id, {}))).id).toBe(a.id)
  })
})

describe('operator JWT rules', () => {
  it('refuses a JWT without exp, without iat, living longer than OPERATOR_TOKEN_TTL, or issued in the future', async () => {
    const a = await ok(l, 'POST', '/operators', { name: 'Rules' })
    const now = Math.floor(nowSec())
    const cases: Array<[string, Promise<string>, RegExp]> = [
      ['no exp', operatorJwt(a.id, { exp: null }), /exp/],
      ['no iat', operatorJwt(a.id, { iat: null }), /iat/],
      ['31 days', operatorJwt(a.id, { exp: now + 31 * 86_400 }), /longer than 2592000 s/],
      ['iat 60 s ahead', operatorJwt(a.id, { iat: now + 60, exp: now + 600 }), /future/],
      ['wrong secret', operatorJwt(a.id, {}, 'another-secret'), /invalid/],
    ]
    for (const [what, token, message] of cases) {
      const t = await token
      const res = await api(l, 'GET', '/me', undefined, t)
      expect(res.status, what).toBe(401)
      expect(res.body.error.code, what).toBe('unauthorized')
      expect(res.body.error.message, what).toMatch(message)
      const c = seedConsole(l, 'notifications', t)
      expect((await c.disconnected).code, what).toBe(101)
      expect(c.connecting, what).toHaveLength(1)
    }
    // Within the rules it works.
    expect((await ok(l, 'GET', '/me', undefined, await operatorJwt(a.id, { exp: now + 30 * 86_400 }))).id).toBe(a.id)
  }, 20_000)
})

describe('widget tokens', () => {
  it('end after CLIENT_TOKEN_IDLE_TTL unused: 401 token_expired over HTTP, 110 on connect; use keeps them alive', async () => {
    const idle = short
    const unused = await newClient(idle, 'Unused')
    const used = await newClient(idle, 'Used')
    const start = Date.now()
    // `used` is used every 400 ms across more than the idle lifetime; `unused` is not.
    while (Date.now() - start < 2_000) {
      expect((await api(idle, 'GET', '/widget/me', undefined, used.token)).status).toBe(200)
      await new Promise((r) => setTimeout(r, 400))
    }
    const res = await api(idle, 'GET', '/widget/me', undefined, unused.token)
    expect(res.status).toBe(401)
    expect(res.body.error.code).toBe('token_expired')
    const c = seedConsole(idle, 'widget', unused.token)
    expect(await c.disconnected).toMatchObject({ code: 110, reason: 'expired' })
    expect(c.connecting).toHaveLength(1)
    const w = await connect(idle, 'widget', used.token)
    w.close()
  }, 15_000)
})

const databaseUrl = serviceUrl('TEST_DATABASE_URL', 'revocation on a node the disconnect never reached')
describe.skipIf(!databaseUrl)('revocation on a node the disconnect never reached', () => {
  let db: TestDatabase
  let a: TestLivedesk
  let b: TestLivedesk
  beforeAll(async () => {
    db = await tempPostgres()
    // One PostgreSQL, no Redis: each node's broker is its own, so a logout on A sends its disconnect nowhere near B.
    // The first creates the tables; the second finds them.
    a = await startTestLivedesk({ databaseUrl: db.databaseUrl, domain: { revocationCheckMs: 300, revocationGraceMs: 300 } })
    b = await startTestLivedesk({ databaseUrl: db.databaseUrl, domain: { revocationCheckMs: 300, revocationGraceMs: 300 } })
  })
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()])
    await db?.drop()
  })

  it('B closes its console within a few seconds (4503) and routing on A stops counting it at once', async () => {
    const op = await newOperator(a, 'OnB')
    const c = await connect(b, 'notifications', op.token)
    await until(async () => (await ok(a, 'GET', `/operators/${op.id}`)).online === true, 3_000, 'online on A')
    const closed = nextEvent(c.sdk, 'disconnected', () => true, 5_000)
    const t0 = Date.now()
    expect((await api(a, 'POST', '/logout', undefined, op.token)).status).toBe(204)
    // Right after the logout's commit, before B noticed: the operator is not available.
    expect((await ok(a, 'GET', `/operators/${op.id}`)).online).toBe(false)
    const client = await newClient(a, 'Queued')
    const message = await ok(a, 'POST', `/clients/${client.id}/messages`, { text: 'anyone?' })
    const observer = await newOperator(a, 'Observer')
    expect((await ok(a, 'GET', `/sessions/${message.sessionId}`, undefined, observer.token)).status).toBe('queued')
    expect((await closed).code).toBe(4503)
    expect(Date.now() - t0).toBeLessThan(3_000)
  }, 30_000)
})

const redisUrl = serviceUrl('REDIS_URL', 'the revocation sweep and a late operatorBlocked')
describe.skipIf(!redisUrl)('the revocation sweep and a late operatorBlocked', () => {
  it('leaves a revocation younger than REVOCATION_GRACE to its own events: the console hears operatorBlocked, then 4501', async () => {
    // A redis-server of the test's own, frozen (SIGSTOP) after the console connected: the block commits, its
    // operatorBlocked and disconnect wait for Redis, and the sweep runs every 50 ms meanwhile.
    const redis = await startRedisProcess()
    const node = await startTestLivedesk({ redisUrl: redis.url, domain: { revocationCheckMs: 50, revocationGraceMs: 10_000 } })
    const op = await newOperator(node, 'Late news')
    const c = await connect(node, 'notifications', op.token)
    const seen: string[] = []
    c.sdk.on('publication', (ctx: any) => seen.push(ctx.data?.event))
    const closed = nextEvent(c.sdk, 'disconnected', () => true, 20_000)
    c.sdk.on('disconnected', (ctx: any) => seen.push(`disconnected ${ctx.code}`))
    redis.freeze()
    let blocked: Promise<unknown> | undefined
    try {
      blocked = api(node, 'POST', `/operators/${op.id}/block`, { reason: 'late' })
      await until(async () => (await ok(node, 'GET', `/operators/${op.id}`)).blocked === true, 5_000, 'the block to commit')
      // Twenty sweeps: before REVOCATION_GRACE none closes the connection.
      await quietWindow(1_000)
      expect(seen).toEqual([])
    } finally {
      redis.thaw()
    }
    expect((await closed).code).toBe(4501)
    expect(seen).toEqual(['operatorBlocked', 'disconnected 4501'])
    await blocked
  }, 30_000)
})

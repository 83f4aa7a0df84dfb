/**
 * Issue 12, limits: an anonymous visitor can no longer flood the operators, exhaust the process's sockets or
 * fill every operator's maxChats. Each limit is hit and answered with its documented code (HTTP 429 with
 * Retry-After and a JSON error; over the socket 111, 106, or a close with 3504, 3505, 3013; at the upgrade 429
 * or 503), while another visitor and an operator's console go on as before. Real servers, the real SDK, raw
 * sockets from loopback addresses of their own (127.0.0.2, …) where a test needs several visitor addresses.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Centrifuge } from 'centrifuge'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { dataAuth, openRaw, type RawClient } from '../gateway/raw.js'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { freePort } from '../helpers/processes.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { api, connect, newClient, newOperator, ok, settle, type Console } from '../http/e2e.js'
import { startCluster } from '../multinode/cluster.js'
import { randomPrefix, serviceUrl } from '../realtime/services.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

const closing: Array<{ close(): void }> = []
afterAll(() => {
  for (const c of closing.splice(0)) c.close()
})

/**
 * One node for the tests of the domain's limits, each limit low: a PGlite node per test would take most of the
 * suite's time. Each test's operators take no new session once it is over, so the next test's go to its own.
 */
let shared: Promise<TestLivedesk> | undefined
const sharedNode = () =>
  (shared ??= startTestLivedesk({
    trustProxy: true,
    clientMessages: { points: 3, windowMs: 60_000 },
    operatorMessages: { points: 2, windowMs: 60_000 },
    domain: { openSessionsPerIp: 2, sessionsPerIp: { points: 3, windowMs: 3_600_000 } },
    // Sockets that never send connect stay for the whole flood test (a stale close would free slots meanwhile).
    realtime: { connectionsPerUser: 2, commandRate: { points: 5, windowMs: 60_000 }, staleCloseDelayMs: 60_000 },
  }))
const operators: Array<{ l: TestLivedesk; id: string }> = []
afterEach(async () => {
  for (const { l, id } of operators.splice(0)) await api(l, 'PATCH', `/operators/${id}`, { maxChats: 0 }).catch(() => {})
})

/** A POST to /api/v1 as a visitor at `ip` (the servers trust X-Forwarded-For), with the response's Retry-After. */
async function post(l: TestLivedesk, path: string, body: unknown, token: string | null, ip = '198.51.100.1') {
  const res = await fetch(`${l.url}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as any, retryAfter: res.headers.get('retry-after') }
}

async function signUp(l: TestLivedesk, ip: string, name: string) {
  const res = await post(l, '/widget/clients', { name }, null, ip)
  expect(res.status).toBe(201)
  return res.body as { client: { id: string; chatId: string }; token: string }
}

function expect429(res: { status: number; body: any; retryAfter: string | null }, maxRetryAfterSec: number) {
  expect(res.status).toBe(429)
  expect(res.body).toMatchObject({ error: { code: 'rate_limited', message: expect.any(String) } })
  const after = Number(res.retryAfter)
  expect(after).toBeGreaterThanOrEqual(1)
  expect(after).toBeLessThanOrEqual(maxRetryAfterSec)
}

async function online(l: TestLivedesk, operatorId: string) {
  await until(async () => (await ok(l, 'GET', `/operators/${operatorId}`)).online === true, 5_000, 'operator online')
}

async function desk(l: TestLivedesk, name: string, maxChats: number) {
  const op = await newOperator(l, name, maxChats)
  operators.push({ l, id: op.id })
  const console = await connect(l, 'notifications', op.token)
  closing.push(console)
  await online(l, op.id)
  return { ...op, console }
}

/** An upgrade from `localAddress`: open, or refused with the HTTP status, Retry-After and body the server answered. */
function upgrade(url: string, localAddress: string): Promise<{ ws?: WebSocket; status?: number; retryAfter?: string; body?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { localAddress })
    ws.on('error', () => resolve({}))
    ws.once('open', () => resolve({ ws }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] as string | undefined, body }))
    })
  })
}

/** How an SDK's connect ends: connected, or disconnected with a code. */
function outcome(sdk: Centrifuge): Promise<{ connected: boolean; code?: number; reason?: string }> {
  return new Promise((resolve) => {
    sdk.once('connected', () => resolve({ connected: true }))
    sdk.once('disconnected', (ctx) => resolve({ connected: false, code: ctx.code, reason: ctx.reason }))
  })
}

/** A raw socket that connects as a widget (the domain's application) with `token`. */
async function rawWidget(l: TestLivedesk, token: string): Promise<RawClient> {
  const raw = await openRaw(l.wsUrl)
  closing.push({ close: () => raw.ws.terminate() })
  const reply = await raw.connect({ application: 'widget', settings: { token } })
  expect(reply.connect).toBeDefined()
  return raw
}

describe('messages per client and per operator (HTTP)', () => {
  it('a client past its messages per window gets 429 on the widget and the API alike; another visitor reaches the operator', async () => {
    const l = await sharedNode() // 3 messages per client per minute
    const op = await desk(l, 'Olga', 10)
    const flooder = await signUp(l, '203.0.113.1', 'Flood')
    const visitor = await signUp(l, '203.0.113.2', 'Vera')

    for (let i = 0; i < 3; i++) expect((await post(l, '/widget/messages', { text: `flood ${i}` }, flooder.token, '203.0.113.1')).status).toBe(201)
    expect429(await post(l, '/widget/messages', { text: 'flood 3' }, flooder.token, '203.0.113.1'), 60)
    // The client's budget is one, whichever endpoint carries its messages.
    const viaApi = await api(l, 'POST', `/clients/${flooder.client.id}/messages`, { text: 'flood 4' })
    expect(viaApi.status).toBe(429)

    const sent = await post(l, '/widget/messages', { text: 'hello' }, visitor.token, '203.0.113.2')
    expect(sent.status).toBe(201)
    await op.console.next('chatMessageCreated', (e) => e.data.id === sent.body.id)
    await settle(l, op.console, [`operator:${op.id}`, 'operators:queue'])
    const fromFlooder = op.console.events.filter((e) => e.event === 'chatMessageCreated' && e.data.author.id === flooder.client.id)
    expect(fromFlooder.map((e) => e.data.text)).toEqual(['flood 0', 'flood 1', 'flood 2'])
  })

  it('an operator past its messages per window gets 429; another operator still writes and its client receives it', async () => {
    const l = await sharedNode() // 2 messages per operator per minute
    const first = await desk(l, 'Ann', 1)
    const c1 = await newClient(l, 'c1')
    const s1 = (await ok(l, 'POST', `/clients/${c1.id}/messages`, { text: 'hi' })).sessionId
    await first.console.next('chatSessionAdded', (e) => e.data.id === s1)
    const second = await desk(l, 'Bob', 1)
    const c2 = await newClient(l, 'c2')
    const widget = await connect(l, 'widget', c2.token)
    closing.push(widget)
    const s2 = (await ok(l, 'POST', `/clients/${c2.id}/messages`, { text: 'hi' })).sessionId
    await second.console.next('chatSessionAdded', (e) => e.data.id === s2)

    for (let i = 0; i < 2; i++) expect((await post(l, `/sessions/${s1}/messages`, { text: `a${i}` }, first.token)).status).toBe(201)
    expect429(await post(l, `/sessions/${s1}/messages`, { text: 'a2' }, first.token), 60)

    const reply = await post(l, `/sessions/${s2}/messages`, { text: 'from Bob' }, second.token)
    expect(reply.status).toBe(201)
    await widget.next('chatMessageCreated', (e) => e.data.id === reply.body.id)
  })
})

describe('sessions per visitor address', () => {
  it('throwaway sign-ups from one address hold at most a few sessions and open few per window; the operator keeps room for others', async () => {
    const l = await sharedNode() // 2 open sessions per address, 3 new ones per hour
    const op = await desk(l, 'Olga', 3)
    const attacker = '203.0.113.66'
    const throwaway = []
    for (let i = 0; i < 4; i++) throwaway.push(await signUp(l, attacker, `x${i}`))
    const write = (c: { token: string }, text: string, ip = attacker) => post(l, '/widget/messages', { text }, c.token, ip)

    expect((await write(throwaway[0]!, 'x0')).status).toBe(201)
    expect((await write(throwaway[1]!, 'x1')).status).toBe(201)
    // A third open session from the address is refused: the operator's third slot stays free.
    const third = await write(throwaway[2]!, 'x2')
    expect429(third, 60)
    expect(third.body.error.message).toMatch(/open sessions/)

    const visitor = await signUp(l, '203.0.113.7', 'Vera')
    const welcome = await write(visitor, 'I need help', '203.0.113.7')
    expect(welcome.status).toBe(201)
    await op.console.next('chatSessionAdded', (e) => e.data.id === welcome.body.sessionId)

    // Closing one frees the address's slot, but only so many sessions open per window.
    await ok(l, 'POST', '/widget/close', undefined, throwaway[0]!.token)
    expect((await write(throwaway[2]!, 'x2 again')).status).toBe(201)
    await ok(l, 'POST', '/widget/close', undefined, throwaway[1]!.token)
    const fourth = await write(throwaway[3]!, 'x3')
    expect429(fourth, 3600)
    expect(fourth.body.error.message).toMatch(/new sessions/)

    await settle(l, op.console, [`operator:${op.id}`, 'operators:queue'])
    const added = op.console.events.filter((e) => e.event === 'chatSessionAdded').map((e) => e.data.chatId)
    expect(added).not.toContain(throwaway[3]!.client.chatId)
    expect(added).toContain(visitor.client.chatId)
  })
})

describe('connections per user, commands per connection (the socket)', () => {
  it('a widget token past its connections is closed 3504; its slot comes back when one closes; another visitor is unaffected', async () => {
    const l = await sharedNode() // 2 connections per user
    const op = await desk(l, 'Olga', 5)
    const flooder = await newClient(l, 'Flood')
    const visitor = await newClient(l, 'Vera')
    const tabs: Console[] = []
    for (let i = 0; i < 2; i++) tabs.push(await connect(l, 'widget', flooder.token))
    closing.push(...tabs)

    const third = newSdk(l.wsUrl, { data: { application: 'widget', settings: { token: flooder.token } } })
    closing.push({ close: () => third.disconnect() })
    const refused = outcome(third)
    third.connect()
    expect(await refused).toEqual({ connected: false, code: 3504, reason: 'connection limit' })

    const widget = await connect(l, 'widget', visitor.token)
    closing.push(widget)
    const sent = await ok(l, 'POST', `/clients/${visitor.id}/messages`, { text: 'hello' })
    await op.console.next('chatMessageCreated', (e) => e.data.id === sent.id)

    tabs[0]!.close()
    await until(async () => {
      const retry = newSdk(l.wsUrl, { data: { application: 'widget', settings: { token: flooder.token } } })
      const ended = outcome(retry)
      retry.connect()
      const { connected } = await ended
      if (connected) closing.push({ close: () => retry.disconnect() })
      else retry.disconnect()
      return connected
    }, 5_000, 'a connection of the flooder after one of its tabs closed')
  })

  it('commands past the rate get 111, then the connection is closed 3013; another visitor and the operator are unaffected', async () => {
    const l = await sharedNode() // 5 commands per connection per minute
    const op = await desk(l, 'Olga', 5)
    const flooder = await newClient(l, 'Flood')
    const visitor = await newClient(l, 'Vera')
    const widget = await connect(l, 'widget', visitor.token)
    closing.push(widget)

    const raw = await rawWidget(l, flooder.token) // connect: the first command
    const frame = Array.from({ length: 10 }, (_, i) => JSON.stringify({ id: i + 2, rpc: { method: 'nope' } })).join('\n')
    raw.send(frame)
    expect(await raw.closed).toEqual({ code: 3013, reason: 'too many requests' })
    const errors = new Map(raw.lines.filter((line) => line.id >= 2).map((line) => [line.id, line.error?.code]))
    expect([2, 3, 4, 5].map((id) => errors.get(id))).toEqual([104, 104, 104, 104]) // within the rate: answered
    expect([6, 7, 8, 9, 10].map((id) => errors.get(id))).toEqual([111, 111, 111, 111, 111])
    expect(raw.lines.find((line) => line.id === 6).error).toEqual({ code: 111, message: 'too many requests', temporary: true })

    const sent = await ok(l, 'POST', `/clients/${visitor.id}/messages`, { text: 'hello' })
    await op.console.next('chatMessageCreated', (e) => e.data.id === sent.id)
    await widget.next('chatMessageCreated', (e) => e.data.id === sent.id)
  })
})

describe('subscriptions per connection', () => {
  it('a client-side subscribe past the limit gets 106, server-side channels past it close 3505; other connections still receive', async () => {
    const l = await startTestLivedesk({
      hooks: dataAuth,
      realtime: { maxSubscriptions: 2, namespaces: { room: { allowSubscribe: true } } },
    })
    const other = newSdk(l.wsUrl, { data: { user: 'other', channels: ['room:a'] } })
    closing.push({ close: () => other.disconnect() })
    const pubs = collect(other, 'publication')
    const ready = nextEvent(other, 'connected')
    other.connect()
    await ready

    const raw = await openRaw(l.wsUrl)
    closing.push({ close: () => raw.ws.terminate() })
    await raw.connect({ user: 'greedy', channels: ['room:a'] })
    raw.send(JSON.stringify({ id: 2, subscribe: { channel: 'room:b' } }))
    expect((await raw.waitFor((line) => line.id === 2)).subscribe).toBeDefined()
    raw.send(JSON.stringify({ id: 3, subscribe: { channel: 'room:c' } }))
    expect((await raw.waitFor((line) => line.id === 3)).error).toEqual({ code: 106, message: 'limit exceeded' })
    // A server-side subscription past the limit closes the connection, as Centrifugo does.
    expect((await serverApi(l, 'subscribe', { user: 'greedy', channel: 'room:d' })).status).toBe(200)
    expect(await raw.closed).toEqual({ code: 3505, reason: 'channel limit' })

    const tooMany = await openRaw(l.wsUrl)
    closing.push({ close: () => tooMany.ws.terminate() })
    tooMany.send(JSON.stringify({ id: 1, connect: { data: { user: 'greedy2', channels: ['room:a', 'room:b', 'room:c'] } } }))
    expect(await tooMany.closed).toEqual({ code: 3505, reason: 'channel limit' })

    await l.node.publish('room:a', { n: 1 })
    await until(() => pubs.length === 1, 5_000, 'the publication at the other connection')
  })
})

describe('connections at the upgrade', () => {
  it('connect attempts per IP past the rate get 429 with Retry-After; another address connects', async () => {
    const l = await startTestLivedesk({ hooks: dataAuth, realtime: { connectsPerIp: { points: 5, windowMs: 60_000 } } })
    const opened: WebSocket[] = []
    for (let i = 0; i < 5; i++) {
      const r = await upgrade(l.wsUrl, '127.0.0.2')
      expect(r.ws).toBeDefined()
      opened.push(r.ws!)
      r.ws!.close()
    }
    const refused = await upgrade(l.wsUrl, '127.0.0.2')
    expect(refused).toMatchObject({ status: 429, body: 'too many connection attempts' })
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60)
    const elsewhere = await upgrade(l.wsUrl, '127.0.0.3')
    expect(elsewhere.ws).toBeDefined()
    elsewhere.ws!.close()
  })

  it('open connections per IP and per process are capped (429, 503); /health and a live connection go on', async () => {
    const l = await startTestLivedesk({ hooks: dataAuth, realtime: { connectionsPerIp: 3, maxConnections: 6 } })
    const live = newSdk(l.wsUrl, { data: { user: 'live', channels: ['feed'] } })
    closing.push({ close: () => live.disconnect() })
    const pubs = collect(live, 'publication')
    const ready = nextEvent(live, 'connected')
    live.connect()
    await ready

    const held: WebSocket[] = []
    closing.push({ close: () => held.forEach((ws) => ws.terminate()) })
    for (let i = 0; i < 3; i++) held.push((await upgrade(l.wsUrl, '127.0.0.4')).ws!)
    expect(held.every(Boolean)).toBe(true)
    expect(await upgrade(l.wsUrl, '127.0.0.4')).toMatchObject({ status: 429, body: 'too many connections from this address' })

    // The address's slot comes back when one of its sockets closes.
    held.shift()!.close()
    await until(async () => {
      const r = await upgrade(l.wsUrl, '127.0.0.4')
      if (r.ws) held.push(r.ws)
      return !!r.ws
    }, 5_000, 'a slot for 127.0.0.4 after one of its sockets closed')

    // 1 live + 3 + 2 more: the process is full.
    for (const address of ['127.0.0.5', '127.0.0.6']) held.push((await upgrade(l.wsUrl, address)).ws!)
    expect(held.every(Boolean)).toBe(true)
    expect(await upgrade(l.wsUrl, '127.0.0.7')).toMatchObject({ status: 503, body: 'connection limit' })
    expect((await fetch(`${l.url}/health`)).status).toBe(200)
    await l.node.publish('feed', { n: 1 })
    await until(() => pubs.length === 1, 5_000, 'the publication at the live connection')
  })
})

describe('a connection flood from one IP', () => {
  it('with the default limits: /health answers, the operator receives events, another visitor connects; the flood is refused with 429', async () => {
    const l = await sharedNode() // the default limits at the upgrade
    const op = await desk(l, 'Olga', 5)
    const visitor = await newClient(l, 'Vera')
    const { connectionsPerIp } = l.node.config
    const SOCKETS = 2_000
    const BATCH = 250

    let open = 0
    let mostOpen = 0
    const statuses = new Map<number | string, number>()
    const sockets: WebSocket[] = []
    closing.push({ close: () => sockets.forEach((ws) => ws.terminate()) })
    const during: Array<Promise<void>> = []
    for (let sent = 0; sent < SOCKETS; sent += BATCH) {
      const batch = Array.from({ length: BATCH }, async () => {
        const r = await upgrade(l.wsUrl, '127.0.0.2')
        const key = r.ws ? 'open' : (r.status ?? 'error')
        statuses.set(key, (statuses.get(key) ?? 0) + 1)
        if (!r.ws) return
        sockets.push(r.ws)
        mostOpen = Math.max(mostOpen, ++open)
        r.ws.on('close', () => open--)
      })
      if (sent === 4 * BATCH) {
        // Mid-flood: the node answers, the operator gets a visitor's message, the visitor connects.
        const check = (async () => {
          expect((await fetch(`${l.url}/health`)).status).toBe(200)
          const widget = await connect(l, 'widget', visitor.token)
          closing.push(widget)
          const sent = await ok(l, 'POST', `/clients/${visitor.id}/messages`, { text: 'still there?' })
          await op.console.next('chatMessageCreated', (e) => e.data.id === sent.id)
          await widget.next('chatMessageCreated', (e) => e.data.id === sent.id)
        })()
        check.catch(() => {}) // awaited below; a failure must not surface as unhandled first
        during.push(check)
      }
      await Promise.all(batch)
    }
    await Promise.all(during)
    expect((await fetch(`${l.url}/health`)).status).toBe(200)

    expect(mostOpen).toBeLessThanOrEqual(connectionsPerIp)
    expect(statuses.get(429) ?? 0).toBeGreaterThanOrEqual(SOCKETS - connectionsPerIp)
    expect([...statuses.keys()].filter((k) => k !== 'open' && k !== 429)).toEqual([])
    for (const ws of sockets) ws.terminate()
  }, 30_000)
})

const redisUrl = serviceUrl('REDIS_URL', 'limits shared by nodes')
const adminDatabaseUrl = redisUrl ? serviceUrl('TEST_DATABASE_URL', 'limits shared by nodes') : undefined
if (redisUrl && adminDatabaseUrl) {
  describe('limits shared by nodes (Redis)', () => {
    it('per client, per user and per IP, the nodes count together', async () => {
      const { a, b, close } = await startCluster(redisUrl, adminDatabaseUrl, {
        redisPrefix: randomPrefix('limits'),
        clientMessages: { points: 2, windowMs: 60_000 },
        realtime: { connectionsPerUser: 2, connectionsPerIp: 4 },
      })
      try {
        const op = await desk(a, 'Olga', 5)
        const flooder = await newClient(a, 'Flood')

        // Messages: one on each node, the third refused on either.
        expect((await api(a, 'POST', `/clients/${flooder.id}/messages`, { text: 'one' })).status).toBe(201)
        expect((await api(b, 'POST', `/clients/${flooder.id}/messages`, { text: 'two' })).status).toBe(201)
        const third = await api(a, 'POST', `/clients/${flooder.id}/messages`, { text: 'three' })
        expect(third).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } })

        // Connections of one user: one on each node, a third on either is closed 3504.
        const tabs = [await connect(a, 'widget', flooder.token), await connect(b, 'widget', flooder.token)]
        closing.push(...tabs)
        const extra = newSdk(a.wsUrl, { data: { application: 'widget', settings: { token: flooder.token } } })
        closing.push({ close: () => extra.disconnect() })
        const refused = outcome(extra)
        extra.connect()
        expect(await refused).toEqual({ connected: false, code: 3504, reason: 'connection limit' })

        // Sockets of one address: two on each node, a fifth on either is 429.
        const held: WebSocket[] = []
        for (const node of [a, a, b, b]) held.push((await upgrade(node.wsUrl, '127.0.0.9')).ws!)
        closing.push({ close: () => held.forEach((ws) => ws?.terminate()) })
        expect(held.every(Boolean)).toBe(true)
        expect(await upgrade(b.wsUrl, '127.0.0.9')).toMatchObject({ status: 429, body: 'too many connections from this address' })

        // The operator still hears from another client, through the other node.
        const visitor = await newClient(b, 'Vera')
        const sent = await ok(b, 'POST', `/clients/${visitor.id}/messages`, { text: 'hello' })
        await op.console.next('chatMessageCreated', (e) => e.data.id === sent.id)
      } finally {
        for (const c of closing.splice(0)) c.close()
        await close()
      }
    }, 30_000)
  })
}

describe('the process cap under a flood from many addresses (a node with 512 open files)', () => {
  const main = join(ROOT, 'dist', 'main.js')
  it('refuses WebSockets past MAX_CONNECTIONS (derived from the open-files limit) with 503 and keeps answering /health', async () => {
    expect(existsSync(join(ROOT, 'dist', 'realtime', 'limits.js')), 'dist/ is built with the limits (npm run build)').toBe(true)
    const port = await freePort()
    const dataDir = mkdtempSync(join(tmpdir(), 'livedesk-limits-'))
    const child = spawn('bash', ['-c', 'ulimit -n 512 && exec "$0" "$1"', process.execPath, main], {
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, API_KEY: 'test-api-key', LOG_LEVEL: 'warn', REDIS_URL: '', DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout!.on('data', (d) => (output = (output + d).slice(-10_000)))
    child.stderr!.on('data', (d) => (output = (output + d).slice(-10_000)))
    const exited = new Promise((r) => child.once('exit', r))
    closing.push({ close: () => child.kill('SIGKILL') })
    const url = `http://127.0.0.1:${port}`
    const health = async () => (await fetch(`${url}/health`).catch(() => undefined))?.status
    await until(async () => (await health()) === 200, 20_000, `the node to answer /health\n${output}`)
    const l = { url, apiKey: 'test-api-key', wsUrl: `ws://127.0.0.1:${port}/centrifugo/connection/websocket` } as TestLivedesk

    const op = await desk(l, 'Olga', 5)
    const visitor = await newClient(l, 'Vera')
    // 30 addresses × 40 sockets: no address is over its own limits, together they are over the process's
    // (without the cap, 376 of them were open at once in this test).
    const statuses = new Map<number | string, number>()
    const sockets: WebSocket[] = []
    closing.push({ close: () => sockets.forEach((ws) => ws.terminate()) })
    for (let wave = 0; wave < 4; wave++) {
      await Promise.all(Array.from({ length: 300 }, async (_, i) => {
        const r = await upgrade(l.wsUrl, `127.0.1.${(i % 30) + 1}`)
        const key = r.ws ? 'open' : (r.status ?? 'reset')
        statuses.set(key, (statuses.get(key) ?? 0) + 1)
        if (r.ws) sockets.push(r.ws)
      }))
      expect(await health()).toBe(200)
    }
    const opened = statuses.get('open') ?? 0
    expect(opened).toBeLessThanOrEqual(512 - 256)
    expect(opened + (statuses.get(503) ?? 0) + (statuses.get('reset') ?? 0)).toBe(1_200)
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0)

    const sent = await ok(l, 'POST', `/clients/${visitor.id}/messages`, { text: 'still there?' })
    await op.console.next('chatMessageCreated', (e) => e.data.id === sent.id)
    for (const ws of sockets) ws.terminate()
    child.kill('SIGTERM')
    await exited
    rmSync(dataDir, { recursive: true, force: true })
  }, 60_000)
})

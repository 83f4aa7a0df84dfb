/**
 * One suite over every transport (issue 13 items 1, 2, 5): the real SDK connects over `websocket`,
 * `http_stream` and `sse` (emulation), and each behaviour is asserted the same way whatever the transport.
 * Then what only the HTTP transports have: the emulation endpoint's bad input, streams that outlive the HTTP
 * idle timeout, backpressure, and emulation across two nodes over Redis.
 */
import { randomBytes } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import EventSource from 'eventsource'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Centrifuge, Options } from 'centrifuge'
import WebSocket from 'ws'
import { decodeReplies, encodeCommands } from '../../src/protocol/codec-protobuf.js'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { jsonValuedProtobufSdk } from '../helpers/transports.js'
import { serviceUrl } from '../realtime/services.js'

type TransportKind = 'websocket' | 'websocket-protobuf' | 'http_stream' | 'sse'
const TRANSPORTS: TransportKind[] = ['websocket', 'websocket-protobuf', 'http_stream', 'sse']
const SECRET = 'transports-test-secret'
/** Waits for events are generous: other suites may share the machine's CPUs. */
const WAIT_MS = 15_000

/** The one place a test says how it connects: the same SDK, configured for one transport. */
function connectOver(transport: TransportKind, l: TestLivedesk, options: Partial<Options> = {}, emulationVia: TestLivedesk = l): Centrifuge {
  if (transport === 'websocket') return newSdk(l.wsUrl, options)
  if (transport === 'websocket-protobuf') return protobufSdk(l.wsUrl, options)
  return newSdk([{ transport, endpoint: `${l.url}/centrifugo/connection/${transport}` }] as never, {
    emulationEndpoint: `${emulationVia.url}/centrifugo/emulation`,
    // The SDK's option for Node, where EventSource is not global (centrifuge-js's own tests use this package).
    eventsource: EventSource,
    ...options,
  } as Partial<Options>)
}

/** The protobuf SDK speaking JSON values to the tests (test/helpers/transports.ts), over WebSocket. */
function protobufSdk(url: string, options: Partial<Options>): Centrifuge {
  return jsonValuedProtobufSdk(url, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, ...options } as Partial<Options>)
}

const jwt = (claims: Record<string, unknown>, exp: number) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(new TextEncoder().encode(SECRET))

/** Holds connects in `authenticate` while a test publishes what the client will have missed. */
const gate = { promise: undefined as Promise<void> | undefined, open: () => {}, held: 0 }
const hooks = {
  authenticate: async (e: { data?: unknown }) => {
    const { user } = e.data as { user: string }
    if (gate.promise) (gate.held++, await gate.promise)
    return { user, channels: [`t:${user}`] }
  },
  rpc: async (_ctx: unknown, method: string, data: unknown) => ({ method, data }),
}
const realtime = {
  hmacSecret: SECRET,
  // Pongs travel through the emulation endpoint: a connection that lives several rounds answered them.
  pingIntervalMs: 600,
  pongTimeoutMs: 500,
  namespaces: {
    t: { historySize: 100, historyTtlMs: 60_000, forceRecovery: true, presence: true, allowSubscribe: true, allowHistory: true, allowPresence: true },
  },
}

let l: TestLivedesk
const clients: Centrifuge[] = []
beforeAll(async () => {
  // The idle timeout (issue 12) is shorter than a ping interval: a stream it applied to would be cut.
  l = await startTestLivedesk({ hooks: hooks as never, realtime, httpTimeouts: { idleTimeoutMs: 300 } })
})
afterAll(() => {
  for (const c of clients) c.disconnect()
})

describe.each(TRANSPORTS)('over %s', (transport) => {
  const run = randomBytes(3).toString('hex')
  const sdk = (options: Partial<Options>) => {
    const c = connectOver(transport, l, options)
    clients.push(c)
    return c
  }

  it('connects, gets its server-side channel and its publications', async () => {
    const user = `pub-${transport}-${run}`
    const c = sdk({ data: { user } })
    const subscribed = nextEvent(c, 'subscribed', (e) => e.channel === `t:${user}`, WAIT_MS)
    const connected = nextEvent(c, 'connected', undefined, WAIT_MS)
    c.connect()
    expect((await connected).transport).toBe(transport === 'websocket-protobuf' ? 'websocket' : transport)
    await subscribed
    const pub = nextEvent(c, 'publication', undefined, WAIT_MS)
    await serverApi(l, 'publish', { channel: `t:${user}`, data: { hello: transport } })
    expect(await pub).toMatchObject({ channel: `t:${user}`, data: { hello: transport }, offset: 1 })
  })

  it('recovers what it missed during a cut (recovered: true)', async () => {
    const user = `rec-${transport}-${run}`
    const channel = `t:${user}`
    const c = sdk({ data: { user } })
    const pubs = collect(c, 'publication')
    const first = nextEvent(c, 'subscribed', (e) => e.channel === channel, WAIT_MS)
    c.connect()
    await first
    await serverApi(l, 'publish', { channel, data: { seq: 1 } })
    await until(() => pubs.length === 1, WAIT_MS, 'first publication')
    gate.held = 0
    gate.promise = new Promise((r) => (gate.open = r))
    const again = nextEvent(c, 'subscribed', (e) => e.channel === channel, WAIT_MS)
    await serverApi(l, 'disconnect', { user, disconnect: { code: 3010, reason: 'cut' } })
    await until(() => gate.held > 0, WAIT_MS, 'the reconnect to wait in authenticate')
    for (const seq of [2, 3]) await serverApi(l, 'publish', { channel, data: { seq } })
    gate.promise = undefined
    gate.open()
    const ctx = await again
    expect(ctx).toMatchObject({ wasRecovering: true, recovered: true })
    await until(() => pubs.length === 3, WAIT_MS, 'recovered publications')
    expect(pubs.map((p) => p.data.seq)).toEqual([1, 2, 3])
  })

  it('answers rpc, presence and history, and keeps answering pongs past the HTTP idle timeout', async () => {
    const user = `cmd-${transport}-${run}`
    const c = sdk({ data: { user } })
    const connected = nextEvent(c, 'connected', undefined, WAIT_MS)
    c.connect()
    const { client } = await connected
    const disconnects = collect(c, 'disconnected')
    const connecting = collect(c, 'connecting')
    expect(await c.rpc('echo', { n: 1 })).toEqual({ data: { method: 'echo', data: { n: 1 } } })
    const room = `t:room-${transport}-${run}`
    const sub = c.newSubscription(room)
    const subscribed = nextEvent(sub as never, 'subscribed', undefined, WAIT_MS)
    sub.subscribe()
    await subscribed
    await serverApi(l, 'publish', { channel: room, data: { n: 1 } })
    expect((await sub.history({ limit: 10 })).publications.map((p) => p.data)).toEqual([{ n: 1 }])
    expect(Object.keys((await sub.presence()).clients)).toEqual([client])
    // Three ping rounds (600 ms, pong within 500 ms) and well past the 300 ms idle timeout.
    await new Promise((r) => setTimeout(r, 1_900))
    expect(connecting.length + disconnects.length).toBe(0)
    expect(await c.rpc('echo', 2)).toEqual({ data: { method: 'echo', data: 2 } })
  })

  it('refreshes a connection JWT before it expires and stays connected past its first expiry', async () => {
    const user = `ref-${transport}-${run}`
    const exp = () => Math.floor(Date.now() / 1000) + 2
    let refreshes = 0
    const c = sdk({ token: await jwt({ sub: user }, exp()), getToken: async () => (refreshes++, jwt({ sub: user }, exp())) })
    const connected = nextEvent(c, 'connected', undefined, WAIT_MS)
    c.connect()
    await connected
    const disconnects = collect(c, 'disconnected')
    const connecting = collect(c, 'connecting')
    const firstExpiry = Date.now() + 2_000 + 1_000 // the token's exp plus the server's grace (expiredCloseDelayMs)
    await until(() => refreshes > 0, WAIT_MS, 'a token refresh')
    await until(() => Date.now() > firstExpiry + 200, WAIT_MS, 'the first token to expire')
    expect(connecting.length + disconnects.length).toBe(0)
    expect(await c.rpc('still', 1)).toEqual({ data: { method: 'still', data: 1 } })
  })

  it('ends on a terminal disconnect with its code and does not reconnect', async () => {
    const user = `term-${transport}-${run}`
    const c = sdk({ data: { user } })
    const connecting = collect(c, 'connecting')
    const connected = nextEvent(c, 'connected', undefined, WAIT_MS)
    c.connect()
    await connected
    const disconnected = nextEvent(c, 'disconnected', undefined, WAIT_MS)
    await serverApi(l, 'disconnect', { user, disconnect: { code: 3777, reason: 'go away' } })
    expect(await disconnected).toMatchObject({ code: 3777, reason: 'go away' })
    const before = connecting.length
    // A reconnect would start within maxReconnectDelay (300 ms); it must not.
    await new Promise((r) => setTimeout(r, 600))
    expect(connecting.length).toBe(before)
    expect(c.state).toBe('disconnected')
  })
})

describe('HTTP transports at the edge', () => {
  const post = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(`${l.url}${path}`, { method: 'POST', headers, body })

  it('answers bad emulation and connect requests with 4xx naming the field', async () => {
    const missing = await post('/centrifugo/emulation', JSON.stringify({ node: 'x', data: '{}' }))
    expect(missing.status).toBe(400)
    expect((await missing.json()).error.field).toBe('session')
    const notJson = await post('/emulation', '{')
    expect(notJson.status).toBe(400)
    expect((await notJson.json()).error.field).toBe('body')
    const nodeId = l.node.config.nodeId
    const noSession = await post('/emulation', JSON.stringify({ node: nodeId, session: 'nope', data: '{}' }))
    expect(noSession.status).toBe(404)
    expect((await noSession.json()).error.field).toBe('session')
    const emptyConnect = await post('/connection/http_stream', '')
    expect(emptyConnect.status).toBe(400)
    const noConnect = await fetch(`${l.url}/connection/sse`)
    expect(noConnect.status).toBe(400)
    expect((await noConnect.json()).error.field).toBe('cf_connect')
    const tooLarge = await post('/emulation', JSON.stringify({ node: nodeId, session: 's', data: 'x'.repeat(70_000) }))
    expect(tooLarge.status).toBe(413)
  })

  it('a garbage frame over the emulation endpoint closes the session with 3501 bad request, as over WebSocket', async () => {
    const user = `bad-${randomBytes(3).toString('hex')}`
    const c = connectOver('http_stream', l, { data: { user } })
    const connected = nextEvent(c, 'connected', undefined, WAIT_MS)
    c.connect()
    await connected
    const session = [...l.node.hub.sessions.values()].find((x) => x.user === user)!.session!
    const disconnected = nextEvent(c, 'disconnected', undefined, WAIT_MS)
    expect((await post('/emulation', JSON.stringify({ node: l.node.config.nodeId, session, data: 'not json' }))).status).toBe(204)
    expect((await disconnected).code).toBe(3501)
    expect(l.node.hub.sessions.has(session)).toBe(false)
  })

  it('cuts an HTTP stream whose reader stopped reading once its unsent bytes pass the queue bound (3008 slow)', async () => {
    const slow = await startTestLivedesk({ hooks: hooks as never, realtime: { ...realtime, maxQueueBytes: 256 * 1024, pingIntervalMs: 0 } }) // no pings: this reader never answers
    const user = `slow-${randomBytes(3).toString('hex')}`
    const body = JSON.stringify({ id: 1, connect: { data: { user } } })
    const socket = netConnect(slow.port, '127.0.0.1')
    await new Promise((r) => socket.once('connect', r))
    socket.write(`POST /connection/http_stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    // Reads the connect reply, then never again.
    await new Promise((r) => socket.once('data', r))
    socket.pause()
    await until(() => slow.node.hub.userClients(user).length === 1, WAIT_MS, 'the stream to connect')
    const big = 'x'.repeat(60_000)
    const before = slow.node.stats.slowDisconnects
    for (let i = 0; i < 400 && slow.node.hub.userClients(user).length > 0; i++) {
      await serverApi(slow, 'publish', { channel: `t:${user}`, data: { big, i } })
    }
    // The cut happens at the next flush (after this turn's I/O).
    await until(() => slow.node.hub.userClients(user).length === 0, WAIT_MS, 'the slow stream to be cut')
    expect(slow.node.stats.slowDisconnects).toBe(before + 1)
    socket.destroy()
  })
})

const redisUrl = serviceUrl('REDIS_URL', 'emulation across two nodes over Redis')
if (redisUrl) {
  describe('emulation across two nodes over Redis', () => {
    let a: TestLivedesk
    let b: TestLivedesk
    beforeAll(async () => {
      const redisPrefix = `ft-${randomBytes(4).toString('hex')}`
      ;[a, b] = await Promise.all([
        startTestLivedesk({ hooks: hooks as never, realtime, redisUrl, redisPrefix }),
        startTestLivedesk({ hooks: hooks as never, realtime, redisUrl, redisPrefix }),
      ])
    })

    it.each(['http_stream', 'sse'] as const)('%s: the stream on node A, every command through node B', async (transport) => {
      const user = `two-${transport}-${randomBytes(3).toString('hex')}`
      const c = connectOver(transport, a, { data: { user } }, b)
      clients.push(c)
      const disconnects = collect(c, 'disconnected')
      const connected = nextEvent(c, 'connected', undefined, WAIT_MS)
      c.connect()
      const { client } = await connected
      expect(a.node.hub.clients.has(client)).toBe(true)
      expect(b.node.hub.clients.has(client)).toBe(false)
      const emulated = () => b.node.stats.emulationRequests
      const before = emulated()
      expect(await c.rpc('via-b', 1)).toEqual({ data: { method: 'via-b', data: 1 } })
      const room = `t:two-${transport}-${randomBytes(3).toString('hex')}`
      const sub = c.newSubscription(room)
      const pub = nextEvent(sub as never, 'publication', undefined, WAIT_MS)
      const subscribed = nextEvent(sub as never, 'subscribed', undefined, WAIT_MS)
      sub.subscribe()
      await subscribed
      await serverApi(b, 'publish', { channel: room, data: { n: 1 } })
      expect(await pub).toMatchObject({ data: { n: 1 } })
      expect(emulated()).toBeGreaterThanOrEqual(before + 2)
      // Pongs go through node B too: the session outlives two ping rounds.
      await new Promise((r) => setTimeout(r, 1_300))
      expect(disconnects).toHaveLength(0)
      expect(await c.rpc('still', 2)).toEqual({ data: { method: 'still', data: 2 } })
    })
  })
}

/** Reads messages from a unidirectional stream as they come. */
function messageQueue() {
  const items: any[] = []
  let wake = () => {}
  return {
    push(m: any) { items.push(m); wake() },
    async next(timeoutMs = WAIT_MS): Promise<any> {
      const deadline = Date.now() + timeoutMs
      while (items.length === 0) {
        if (Date.now() > deadline) throw new Error('timed out waiting for a message')
        await new Promise<void>((r) => { wake = r; setTimeout(r, 50) })
      }
      return items.shift()
    },
    /** The next message that is not a `{}` ping. */
    async nextPush(timeoutMs = WAIT_MS): Promise<any> {
      for (let i = 0; i < 20; i++) {
        const m = await this.next(timeoutMs)
        if (Object.keys(m).length) return m
      }
      throw new Error('only pings')
    },
  }
}

describe('unidirectional transports', () => {
  const run = randomBytes(3).toString('hex')

  async function uniHttpStream(user: string) {
    const q = messageQueue()
    const res = await fetch(`${l.url}/connection/uni_http_stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { user } }) })
    expect(res.status).toBe(200)
    const done = (async () => {
      let buf = ''
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString()
        let i: number
        while ((i = buf.indexOf('\n')) >= 0) {
          q.push(JSON.parse(buf.slice(0, i)))
          buf = buf.slice(i + 1)
        }
      }
    })()
    return { q, done }
  }

  function uniSse(user: string) {
    const q = messageQueue()
    const es = new EventSource(`${l.url}/centrifugo/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ data: { user } }))}`)
    es.onmessage = (e: { data: string }) => q.push(JSON.parse(e.data))
    return { q, close: () => es.close() }
  }

  async function uniWebSocket(user: string, inUrl: boolean) {
    const { default: WebSocket } = await import('ws')
    const q = messageQueue()
    const connect = JSON.stringify({ data: { user } })
    const ws = new WebSocket(`${l.wsUrl.replace('/connection/websocket', '/connection/uni_websocket')}${inUrl ? `?cf_connect=${encodeURIComponent(connect)}` : ''}`)
    const closed = new Promise<{ code: number }>((r) => ws.on('close', (code) => r({ code })))
    ws.on('message', (data) => q.push(JSON.parse(data.toString())))
    await new Promise((r) => ws.once('open', r))
    if (!inUrl) ws.send(connect)
    return { q, closed, ws }
  }

  const cases = [
    ['uni_http_stream', async (user: string) => (await uniHttpStream(user)).q],
    ['uni_sse', async (user: string) => { const s = uniSse(user); clients.push({ disconnect: s.close } as never); return s.q }],
    ['uni_websocket (cf_connect)', async (user: string) => (await uniWebSocket(user, true)).q],
    ['uni_websocket (first message)', async (user: string) => (await uniWebSocket(user, false)).q],
  ] as const

  it.each(cases)('%s: a connect push with the server-side channel, publications as bare pushes, the disconnect push', async (name, open) => {
    const user = `uni-${name.replace(/\W+/g, '-')}-${run}`
    const q = await open(user)
    const connect = await q.nextPush()
    expect(connect.connect).toMatchObject({ client: expect.any(String), session: expect.any(String), subs: { [`t:${user}`]: { recoverable: true, positioned: true } } })
    expect(connect.connect.pong).toBeFalsy()
    await serverApi(l, 'publish', { channel: `t:${user}`, data: { uni: 1 } })
    expect(await q.nextPush()).toEqual({ channel: `t:${user}`, pub: { data: { uni: 1 }, offset: 1 } })
    await serverApi(l, 'disconnect', { user, disconnect: { code: 3777, reason: 'go away' } })
    expect(await q.nextPush()).toEqual({ disconnect: { code: 3777, reason: 'go away' } })
  })

  it('lives past several ping rounds without answering them (no pong is expected)', async () => {
    const user = `uni-ping-${run}`
    const { q } = await uniHttpStream(user)
    const { connect } = await q.next()
    // 600 ms pings, 500 ms pong timeout: a bidirectional client that never answered would be cut by now.
    await new Promise((r) => setTimeout(r, 1_500))
    expect(l.node.hub.clients.has(connect.client)).toBe(true)
    const pings: any[] = []
    for (let m = await q.next(); ; m = await q.next()) { if (Object.keys(m).length) break; pings.push(m); if (pings.length >= 2) break }
    expect(pings.length).toBeGreaterThanOrEqual(2)
  })

  it('refuses a connect request that is not a JSON object with 400 naming it; a refused connect ends with its disconnect', async () => {
    const bad = await fetch(`${l.url}/connection/uni_http_stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1]' })
    expect(bad.status).toBe(400)
    expect((await bad.json()).error.field).toBe('body')
    const badSse = await fetch(`${l.url}/connection/uni_sse?cf_connect=nope`)
    expect(badSse.status).toBe(400)
    expect((await badSse.json()).error.field).toBe('cf_connect')
    // An expired JWT (error 109 on a bidirectional connect) ends a unidirectional one with 3005, as Centrifugo maps it.
    const res = await fetch(`${l.url}/connection/uni_http_stream`, { method: 'POST', body: JSON.stringify({ token: await jwt({ sub: 'late' }, Math.floor(Date.now() / 1000) - 10) }) })
    expect((await res.text()).trim()).toBe('{"disconnect":{"code":3005,"reason":"connection expired"}}')
  })
})

describe('protobuf on the WebSocket (issue 13 item 3)', () => {
  /** A raw socket speaking protobuf chosen by the query (no subprotocol), as Centrifugo's `cf_protocol=protobuf`. */
  async function rawProtobuf(user: string) {
    const ws = new WebSocket(`${l.wsUrl}?cf_protocol=protobuf`)
    const replies: Array<Record<string, any>> = []
    const binary: boolean[] = []
    ws.on('message', (data, isBinary) => {
      binary.push(isBinary)
      replies.push(...decodeReplies(data as Buffer))
    })
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)))
    ws.send(encodeCommands([{ id: 1, connect: { data: { user } } }]))
    await until(() => replies.some((r) => r.id === 1), WAIT_MS, 'the protobuf connect reply')
    return { ws, replies, binary }
  }

  it('serves JSON and protobuf subscribers of one channel from one publication, binary frames for protobuf', async () => {
    const user = `pb-${randomBytes(3).toString('hex')}`
    const channel = `t:${user}`
    const pb = await rawProtobuf(user)
    const json = newSdk(l.wsUrl, { data: { user } })
    clients.push(json)
    const subscribed = nextEvent(json, 'subscribed', (e) => e.channel === channel, WAIT_MS)
    json.connect()
    await subscribed
    const jsonPub = nextEvent(json, 'publication', undefined, WAIT_MS)
    await serverApi(l, 'publish', { channel, data: { both: true } })
    expect(await jsonPub).toMatchObject({ channel, data: { both: true } })
    await until(() => pb.replies.some((r) => r.push?.pub), WAIT_MS, 'the protobuf publication')
    expect(pb.replies.find((r) => r.push?.pub)!.push).toMatchObject({ channel, pub: { data: { both: true }, offset: 1 } })
    expect(pb.binary.every(Boolean)).toBe(true)
    // A user message (a JSON push built by hand for JSON clients) reaches the protobuf client encoded for it.
    await l.node.sendToUser(user, { note: 1 })
    await until(() => pb.replies.some((r) => r.push?.message), WAIT_MS, 'the protobuf message push')
    expect(pb.replies.find((r) => r.push?.message)!.push.message.data).toEqual({ note: 1 })
    pb.ws.close()
  })

  it('closes a protobuf connection that sends a malformed command with 3501 bad request', async () => {
    const pb = await rawProtobuf(`pbbad-${randomBytes(3).toString('hex')}`)
    const closed = new Promise<number>((r) => pb.ws.once('close', (code) => r(code)))
    pb.ws.send(Buffer.from([5, 0xff, 0xff]))
    expect(await closed).toBe(3501)
  })

  // Protobuf over HTTP-streaming and what SSE answers a protobuf request: test/gateway/transport-gaps.test.ts.
  it('serves HTTP-streaming in the protocol its Content-Type names, not cf_protocol (as Centrifugo)', async () => {
    const abort = new AbortController()
    const http = await fetch(`${l.url}/centrifugo/connection/http_stream?cf_protocol=protobuf`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 1, connect: { data: { user: `pbq-${randomBytes(3).toString('hex')}` } } }), signal: abort.signal,
    })
    expect(http.status).toBe(200)
    expect(http.headers.get('content-type')).toBe('application/json')
    abort.abort()
  })
})

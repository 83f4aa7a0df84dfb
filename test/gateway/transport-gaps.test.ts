/**
 * Issue 13's last transport gaps: protobuf over HTTP-streaming as Centrifugo v6 serves it (Content-Type
 * `application/octet-stream`, varint length-delimited Replies, binary EmulationRequests, across nodes), what
 * SSE and the unidirectional transports answer a protobuf request (JSON, as Centrifugo), the unidirectional
 * WebSocket behind a trusted proxy, and the emulation endpoint's per-IP rate limit.
 */
import { randomBytes } from 'node:crypto'
import { ReadableStream } from 'node:stream/web'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Centrifuge } from 'centrifuge'
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf'
import WebSocket from 'ws'
import { decodeReplies, encodeCommands, encodeEmulationRequest } from '../../src/protocol/codec-protobuf.js'
import type { ConnectingEvent, RealtimeHooks } from '../../src/realtime/hooks.js'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, nextEvent, until } from '../helpers/sdk.js'
import { serviceUrl } from '../realtime/services.js'
import { describeWebSocketOnly } from '../helpers/transports.js'

/** Waits are generous and event-driven: other suites share the machine's CPUs. */
const WAIT_MS = 15_000

const connects: ConnectingEvent[] = []
const hooks: RealtimeHooks = {
  authenticate: async (e) => {
    connects.push(e)
    const { user } = (e.data ?? {}) as { user?: string }
    return { user: user ?? '', channels: user ? [`t:${user}`] : [] }
  },
  rpc: async (_ctx, method, data) => ({ method, data }),
}
const realtime = {
  // Pongs travel through the emulation endpoint: a session that lives several rounds answered them.
  pingIntervalMs: 600,
  pongTimeoutMs: 500,
  namespaces: { t: { historySize: 10, historyTtlMs: 60_000 } },
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))
const fromJson = (v: Uint8Array) => JSON.parse(Buffer.from(v).toString())
const user = (name: string) => `${name}-${randomBytes(3).toString('hex')}`

/** A raw protobuf HTTP-streaming session: replies decoded as they arrive (varint length-delimited); pings answered as the SDK does. */
async function protobufStream(l: TestLivedesk, connect: Record<string, unknown>) {
  const abort = new AbortController()
  const res = await fetch(`${l.url}/centrifugo/connection/http_stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: encodeCommands([{ id: 1, connect }]),
    signal: abort.signal,
  })
  const replies: Array<Record<string, any>> = []
  let session: { node: string; session: string } | undefined
  let ended = false
  const reading = (async () => {
    let buf = Buffer.alloc(0)
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf = Buffer.concat([buf, chunk])
        for (let n = completePrefix(buf); n > 0; n = completePrefix(buf)) {
          for (const reply of decodeReplies(buf.subarray(0, n))) {
            replies.push(reply)
            if (reply.id === 1 && reply.connect) session = { node: reply.connect.node, session: reply.connect.session }
            // A ping (an empty Reply): the pong is an empty Command through the emulation endpoint.
            if (Object.keys(reply).length === 0 && session) void emulate(l, encodeEmulationRequest({ ...session, data: encodeCommands([{}]) })).catch(() => {})
          }
          buf = buf.subarray(n)
        }
      }
    } catch { /* aborted */ }
    ended = true
  })()
  const reply = async (match: (r: Record<string, any>) => boolean, what: string) => {
    await until(() => replies.some(match), WAIT_MS, what)
    return replies.find(match)!
  }
  const connected = (await reply((r) => r.id === 1, 'the connect reply')).connect
  return { res, replies, reply, connected, reading, isEnded: () => ended, close: () => abort.abort() }
}

/** Bytes of the complete length-delimited messages at the start of `buf` (0: none complete yet). */
function completePrefix(buf: Buffer): number {
  let pos = 0
  let complete = 0
  while (pos < buf.length) {
    let length = 0
    let shift = 0
    let i = pos
    for (; i < buf.length && i < pos + 10; i++) {
      length += (buf[i] & 0x7f) * 2 ** shift
      shift += 7
      if (buf[i] < 0x80) break
    }
    if (i >= buf.length || buf[i] >= 0x80) return complete
    const end = i + 1 + length
    if (end > buf.length) return complete
    pos = complete = end
  }
  return complete
}

const emulate = (l: TestLivedesk, body: Uint8Array | string, contentType = 'application/octet-stream', headers: Record<string, string> = {}) =>
  fetch(`${l.url}/centrifugo/emulation`, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body })

/** The SDK's protobuf build over HTTP-streaming only; payloads are JSON bytes (livedesk's protobuf contract). */
function protobufSdk(l: TestLivedesk, name: string, emulationVia: TestLivedesk = l): Centrifuge {
  return new CentrifugeProtobuf([{ transport: 'http_stream', endpoint: `${l.url}/centrifugo/connection/http_stream` }], {
    fetch: globalThis.fetch,
    readableStream: ReadableStream,
    emulationEndpoint: `${emulationVia.url}/centrifugo/emulation`,
    data: json({ user: name }),
    minReconnectDelay: 50,
    maxReconnectDelay: 300,
  } as never) as unknown as Centrifuge
}

// Each test picks its transports itself: the runs over GATEWAY_TRANSPORT's other transports would repeat it.
describeWebSocketOnly('issue 13 transport gaps', 'each test picks its own transports', () => {
  let l: TestLivedesk
  const sdks: Centrifuge[] = []
  beforeAll(async () => {
    l = await startTestLivedesk({ hooks, realtime })
  })
  afterAll(() => {
    for (const c of sdks) c.disconnect()
  })

  describe('protobuf over HTTP-streaming (Content-Type: application/octet-stream, as Centrifugo)', () => {
    it('streams length-delimited Replies and applies binary EmulationRequests: rpc, publications, 3501 on garbage', async () => {
      const name = user('pbs')
      const s = await protobufStream(l, { data: { user: name } })
      expect(s.res.status).toBe(200)
      expect(s.res.headers.get('content-type')).toBe('application/octet-stream')
      expect(s.connected).toMatchObject({ client: expect.any(String), session: expect.any(String), node: l.node.config.nodeId, pong: true })
      expect(s.connected.subs).toHaveProperty(`t:${name}`)

      const rpc = encodeEmulationRequest({ node: s.connected.node, session: s.connected.session, data: encodeCommands([{ id: 2, rpc: { method: 'echo', data: { x: 1 } } }]) })
      expect((await emulate(l, rpc)).status).toBe(204)
      expect((await s.reply((r) => r.id === 2, 'the rpc reply')).rpc).toEqual({ data: { method: 'echo', data: { x: 1 } } })

      await serverApi(l, 'publish', { channel: `t:${name}`, data: { n: 1 } })
      expect((await s.reply((r) => r.push?.pub, 'the publication')).push).toEqual({ channel: `t:${name}`, pub: { data: { n: 1 }, offset: 1 } })

      // A frame that is not protobuf Commands closes the session as over WebSocket: a protobuf disconnect push, then the end.
      const garbage = encodeEmulationRequest({ node: s.connected.node, session: s.connected.session, data: Buffer.from([5, 0xff, 0xff]) })
      expect((await emulate(l, garbage)).status).toBe(204)
      expect((await s.reply((r) => r.push?.disconnect, 'the disconnect push')).push.disconnect).toEqual({ code: 3501, reason: 'bad request' })
      await until(s.isEnded, WAIT_MS, 'the end of the stream')
      expect(l.node.hub.sessions.has(s.connected.session)).toBe(false)
    })

    it('answers a bad binary EmulationRequest with 400 naming the field, and an unknown session with 404', async () => {
      const notProto = await emulate(l, Buffer.from([0x0a, 0xff]))
      expect(notProto.status).toBe(400)
      expect((await notProto.json()).error.field).toBe('body')
      const noSession = await emulate(l, encodeEmulationRequest({ node: l.node.config.nodeId, session: '', data: encodeCommands([{ id: 2, rpc: { method: 'x' } }]) }))
      expect(noSession.status).toBe(400)
      expect((await noSession.json()).error.field).toBe('session')
      const unknown = await emulate(l, encodeEmulationRequest({ node: l.node.config.nodeId, session: 'nope', data: encodeCommands([{ id: 2, rpc: { method: 'x' } }]) }))
      expect(unknown.status).toBe(404)
      expect((await unknown.json()).error.field).toBe('session')
      const empty = await fetch(`${l.url}/connection/http_stream`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array() })
      expect(empty.status).toBe(400)
      expect((await empty.json()).error.field).toBe('body')
    })

    it('the protobuf SDK connects over http_stream only, gets its publications, answers pings through emulation, and rpc works', async () => {
      const name = user('pbsdk')
      const c = protobufSdk(l, name)
      sdks.push(c)
      const disconnects = collect(c, 'disconnected')
      const connected = nextEvent(c, 'connected', undefined, WAIT_MS)
      const pub = nextEvent(c, 'publication', undefined, WAIT_MS)
      c.connect()
      expect((await connected).transport).toBe('http_stream')
      await serverApi(l, 'publish', { channel: `t:${name}`, data: { hello: 'pb' } })
      const got = await pub
      expect(got.channel).toBe(`t:${name}`)
      expect(fromJson(got.data as Uint8Array)).toEqual({ hello: 'pb' })
      // 600 ms pings, 500 ms pong timeout: a session whose pongs were lost would be gone after two rounds.
      await new Promise((r) => setTimeout(r, 1_500))
      expect(disconnects).toHaveLength(0)
      const { data } = await c.rpc('pb-rpc', json({ a: 1 }))
      expect(fromJson(data as Uint8Array)).toEqual({ method: 'pb-rpc', data: { a: 1 } })
      c.disconnect()
    })

    const redisUrl = serviceUrl('REDIS_URL', 'protobuf emulation across two nodes over Redis')
    if (redisUrl) {
      it('the stream on node A, every binary emulation request through node B (over Redis)', async () => {
        const redisPrefix = `gaps-${randomBytes(4).toString('hex')}`
        const [a, b] = await Promise.all([
          startTestLivedesk({ hooks, realtime, redisUrl, redisPrefix }),
          startTestLivedesk({ hooks, realtime, redisUrl, redisPrefix }),
        ])
        const name = user('pbtwo')
        const c = protobufSdk(a, name, b)
        sdks.push(c)
        const connected = nextEvent(c, 'connected', undefined, WAIT_MS)
        c.connect()
        const { client } = await connected
        expect(a.node.hub.clients.has(client)).toBe(true)
        const before = b.node.stats.emulationRequests
        const { data } = await c.rpc('via-b', json({ b: 1 }))
        expect(fromJson(data as Uint8Array)).toEqual({ method: 'via-b', data: { b: 1 } })
        expect(b.node.stats.emulationRequests).toBeGreaterThan(before)
        c.disconnect()
      })
    }
  })

  describe('a protobuf request to the JSON-only transports is served JSON, as Centrifugo', () => {
    /** Reads a streaming response until `done` says the text so far is enough, then aborts it. */
    async function readUntil(url: string, init: RequestInit, done: (text: string) => boolean) {
      const abort = new AbortController()
      const res = await fetch(url, { ...init, signal: abort.signal })
      let text = ''
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          text += Buffer.from(chunk).toString()
          if (done(text)) break
        }
      } catch { /* aborted */ }
      abort.abort()
      return { res, text }
    }

    it('SSE with cf_protocol=protobuf: a JSON event stream; a binary connect body: 200 then 3501 (Centrifugo reads it as JSON)', async () => {
      const connect = encodeURIComponent(JSON.stringify({ id: 1, connect: { data: { user: user('sse') } } }))
      const { res, text } = await readUntil(`${l.url}/centrifugo/connection/sse?cf_protocol=protobuf&cf_connect=${connect}`, {}, (t) => t.includes('"connect"'))
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toContain('text/event-stream')
      const event = text.split('\n').find((line) => line.startsWith('data: {'))!
      expect(JSON.parse(event.slice('data: '.length))).toMatchObject({ id: 1, connect: { client: expect.any(String), session: expect.any(String) } })
      const binary = await readUntil(`${l.url}/connection/sse`, {
        method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: encodeCommands([{ id: 1, connect: {} }]),
      }, (t) => t.includes('disconnect'))
      expect(binary.res.status).toBe(200)
      expect(binary.text).toContain('data: {"push":{"disconnect":{"code":3501,"reason":"bad request"}}}')
    })

    it('uni_http_stream, uni_sse and uni_websocket with cf_protocol=protobuf: JSON pushes (Centrifugo\'s are JSON only)', async () => {
      const a = user('unihs')
      const hs = await readUntil(`${l.url}/connection/uni_http_stream?cf_protocol=protobuf`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { user: a } }),
      }, (t) => t.includes('\n'))
      expect(hs.res.status).toBe(200)
      expect(JSON.parse(hs.text.split('\n')[0]).connect.subs).toHaveProperty(`t:${a}`)
      const b = user('unisse')
      const sse = await readUntil(`${l.url}/connection/uni_sse?cf_protocol=protobuf&cf_connect=${encodeURIComponent(JSON.stringify({ data: { user: b } }))}`, {}, (t) => t.includes('"connect"'))
      expect(sse.res.status).toBe(200)
      const event = sse.text.split('\n').find((line) => line.startsWith('data: {'))!
      expect(JSON.parse(event.slice('data: '.length)).connect.subs).toHaveProperty(`t:${b}`)
      const name = user('uniws')
      const ws = new WebSocket(`${l.url.replace('http', 'ws')}/connection/uni_websocket?cf_protocol=protobuf&cf_connect=${encodeURIComponent(JSON.stringify({ data: { user: name } }))}`)
      const first = new Promise<{ text: string; binary: boolean }>((resolve, reject) => {
        ws.once('message', (data, binary) => resolve({ text: data.toString(), binary }))
        ws.once('error', reject)
      })
      const { text, binary } = await first
      ws.close()
      expect(binary).toBe(false)
      expect(JSON.parse(text).connect.subs).toHaveProperty(`t:${name}`)
    })
  })

  describe('the unidirectional WebSocket behind a trusted proxy', () => {
    let proxied: TestLivedesk
    beforeAll(async () => {
      proxied = await startTestLivedesk({ hooks, trustProxy: true, realtime: { ...realtime, connectionsPerIp: 1 } })
    })

    /** Opens a uni WebSocket as a proxy would pass it on; resolves with its first message, or the HTTP status it was refused with. */
    function open(forwardedFor: string, name: string): Promise<{ ws: WebSocket; push?: any; status?: number }> {
      const ws = new WebSocket(`${proxied.url.replace('http', 'ws')}/connection/uni_websocket?cf_connect=${encodeURIComponent(JSON.stringify({ data: { user: name } }))}`, {
        headers: { 'x-forwarded-for': forwardedFor },
      })
      return new Promise((resolve, reject) => {
        ws.once('message', (data) => resolve({ ws, push: JSON.parse(data.toString()) }))
        ws.once('unexpected-response', (_req, res) => resolve({ ws, status: res.statusCode }))
        ws.once('error', reject)
      })
    }

    it('counts per-IP limits by the forwarded address and hands it to the authenticate hook', async () => {
      const [a, b] = [user('px-a'), user('px-b')]
      const first = await open('203.0.113.7', a)
      expect(first.push.connect).toBeDefined()
      // Another client behind the same proxy (another forwarded address) is not the first one's connection.
      const second = await open('203.0.113.8', b)
      expect(second.push?.connect).toBeDefined()
      expect(connects.find((e) => (e.data as { user?: string })?.user === a)?.remoteAddress).toBe('203.0.113.7')
      expect(connects.find((e) => (e.data as { user?: string })?.user === b)?.remoteAddress).toBe('203.0.113.8')
      // The same forwarded address again is past its one connection.
      const third = await open('203.0.113.7', user('px-c'))
      expect(third.status).toBe(429)
      first.ws.close()
      second.ws.close()
    })

    it('hands the bidirectional WebSocket\'s forwarded address to the authenticate hook too', async () => {
      const name = user('px-bidi')
      const ws = new WebSocket(`${proxied.url.replace('http', 'ws')}/connection/websocket`, { headers: { 'x-forwarded-for': '203.0.113.9' } })
      const reply = new Promise<any>((resolve, reject) => {
        ws.once('message', (data) => resolve(JSON.parse(data.toString().split('\n')[0])))
        ws.once('error', reject)
      })
      ws.once('open', () => ws.send(JSON.stringify({ id: 1, connect: { data: { user: name } } })))
      expect((await reply).connect).toBeDefined()
      ws.close()
      expect(connects.find((e) => (e.data as { user?: string })?.user === name)?.remoteAddress).toBe('203.0.113.9')
    })

    it('answers a cf_connect that is not a JSON ConnectRequest with 400 before the upgrade, as Centrifugo', async () => {
      const ws = new WebSocket(`${l.url.replace('http', 'ws')}/connection/uni_websocket?cf_connect=nope`)
      const status = await new Promise<number>((resolve, reject) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.once('open', () => reject(new Error('upgraded')))
        ws.once('error', reject)
      })
      expect(status).toBe(400)
    })
  })

  describe('the emulation endpoint\'s per-IP rate limit', () => {
    const body = (node: string) => JSON.stringify({ node, session: 'no-such-session', data: '{}' })

    it('answers 429 with Retry-After past the address\'s rate, counted by the forwarded address behind a trusted proxy', async () => {
      const limited = await startTestLivedesk({ hooks, trustProxy: true, realtime: { ...realtime, emulationPerIp: { points: 3, windowMs: 60_000 } } })
      const node = limited.node.config.nodeId
      const from = (ip: string) => ({ 'x-forwarded-for': ip })
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) statuses.push((await emulate(limited, body(node), 'application/json', from('198.51.100.1'))).status)
      expect(statuses).toEqual([404, 404, 404])
      const refused = await emulate(limited, body(node), 'application/json', from('198.51.100.1'))
      expect(refused.status).toBe(429)
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
      expect((await refused.json()).error).toMatchObject({ code: 'rate_limited' })
      // A refused request's commands are not applied.
      const before = limited.node.stats.emulationRequests
      expect((await emulate(limited, body(node), 'application/json', from('198.51.100.1'))).status).toBe(429)
      expect(limited.node.stats.emulationRequests).toBe(before)
      // Another address behind the same proxy has its own count.
      expect((await emulate(limited, body(node), 'application/json', from('198.51.100.2'))).status).toBe(404)
    })

    const redisUrl = serviceUrl('REDIS_URL', 'the emulation rate limit shared over Redis')
    if (redisUrl) {
      it('is one count across nodes sharing Redis', async () => {
        const redisPrefix = `gaps-rl-${randomBytes(4).toString('hex')}`
        const options = { hooks, redisUrl, redisPrefix, realtime: { ...realtime, emulationPerIp: { points: 4, windowMs: 60_000 } } }
        const [a, b] = await Promise.all([startTestLivedesk(options), startTestLivedesk(options)])
        const statuses: number[] = []
        for (const n of [a, b, a, b]) statuses.push((await emulate(n, body(n.node.config.nodeId), 'application/json')).status)
        expect(statuses).toEqual([404, 404, 404, 404])
        expect((await emulate(a, body(a.node.config.nodeId), 'application/json')).status).toBe(429)
        expect((await emulate(b, body(b.node.config.nodeId), 'application/json')).status).toBe(429)
      })
    }
  })
})

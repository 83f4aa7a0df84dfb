/**
 * The load generator's sinks and probes for G over WebSocket protobuf, HTTP-streaming (JSON and protobuf) and
 * SSE: the decoders count exactly, however the bytes are split, and against livedesk from dist/ every sink and
 * probe receives every publication and reports the shutdown's 3001. Needs `npm run build`.
 */
import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ChunkedDecoder, classifyJson, classifyProtobuf, CONNECTED, DelimitedScanner, DISCONNECT, lastDisconnect, LineScanner, PING, PUB,
} from '../loadgen/stream-decode.mjs'
import { openStreamSink, STREAM_TRANSPORTS } from '../loadgen/stream-sink.mjs'
import { openStreamProbe } from '../loadgen/stream-probes.mjs'
import { ProbeStats } from '../loadgen/probes.mjs'
import { encodeCommand } from '../loadgen/centrifugo-protobuf.mjs'
import { payloadFactory } from '../lib/publisher.mjs'

const codec = await import('../../dist/protocol/codec-protobuf.js')

const PAYLOAD = JSON.stringify(payloadFactory(1024)(1, 1))
const pubLine = (channel) => `{"push":{"channel":${JSON.stringify(channel)},"pub":{"data":${PAYLOAD},"offset":3}}}`
const JSON_MESSAGES = [
  '{"id":1,"connect":{"client":"c1","version":"0.0.0","ping":25,"pong":true}}',
  pubLine('bench:c0'),
  '{}',
  pubLine('bench:c0'),
  '{"push":{"channel":"bench:c0","join":{"info":{"user":"u","client":"c"}}}}',
  pubLine('with"quote'),
  pubLine('bench:c1'),
  '{"push":{"disconnect":{"code":3008,"reason":"slow"}}}',
]
const JSON_EXPECTED = { pubs: 4, connected: 1, pings: 1, code: 3008 }

function chunked(body) {
  // Chunks of varied sizes, one with an extension, then the last chunk.
  const parts = []
  let i = 0
  let k = 0
  while (i < body.length) {
    const size = [1, 7, 300, 4096, 33][k++ % 5]
    const piece = body.subarray(i, i + size)
    parts.push(Buffer.from(`${piece.length.toString(16)}${k === 2 ? ';ext=1' : ''}\r\n`), piece, Buffer.from('\r\n'))
    i += size
  }
  parts.push(Buffer.from('0\r\n\r\n'))
  return Buffer.concat(parts)
}

/** Feeds `stream` to a fresh decoder in the given pieces; returns what it counted. */
function count(make, pieces) {
  const seen = { pubs: 0, connected: 0, pings: 0, code: 0 }
  const on = (kind) => {
    if (kind === PUB) seen.pubs++
    else if (kind === CONNECTED) seen.connected++
    else if (kind === PING) seen.pings++
    else if (kind === DISCONNECT) seen.code = lastDisconnect.code
  }
  const push = make(on)
  for (const piece of pieces) push(piece, 0, piece.length)
  return seen
}

/** Every split of `stream` in two, and byte by byte: each must count the same. */
function everySplit(stream, make, expected) {
  for (let at = 0; at <= stream.length; at += at < 600 ? 1 : 97) {
    expect(count(make, [stream.subarray(0, at), stream.subarray(at)]), `split at ${at}`).toEqual(expected)
  }
  expect(count(make, Array.from(stream, (b) => Buffer.from([b])))).toEqual(expected)
}

describe('decoders', () => {
  it('should count JSON lines of a chunked HTTP-streaming body however it is split', () => {
    const stream = chunked(Buffer.from(JSON_MESSAGES.map((m) => m + '\n').join('')))
    everySplit(stream, (on) => {
      const lines = new LineScanner((buf, start, end) => on(classifyJson(buf, start, end)))
      const body = new ChunkedDecoder((buf, start, end) => lines.push(buf, start, end))
      return (buf, start, end) => body.push(buf, start, end)
    }, JSON_EXPECTED)
  })

  it('should count SSE data lines of coalesced events however they are split', () => {
    // The server's empty first line, then events of one and of several messages (one data line each).
    const [connect, pub1, ping, ...rest] = JSON_MESSAGES
    const events = [[connect], [pub1], [ping], rest].map((e) => e.map((m) => `data: ${m}\n`).join('') + '\n').join('')
    const stream = chunked(Buffer.from('\r\n' + events))
    everySplit(stream, (on) => {
      const lines = new LineScanner((buf, start, end) => {
        if (buf.toString('latin1', start, start + 6) === 'data: ') on(classifyJson(buf, start + 6, end))
      })
      const body = new ChunkedDecoder((buf, start, end) => lines.push(buf, start, end))
      return (buf, start, end) => body.push(buf, start, end)
    }, JSON_EXPECTED)
  })

  it('should count delimited protobuf Replies however they are split', () => {
    const pub = (channel) => codec.encodePublicationPush(channel, PAYLOAD, { offset: 3 })
    const stream = Buffer.concat([
      codec.encodeReply(1, 'connect', { client: 'c1', version: '0.0.0', ping: 25, pong: true }),
      pub('bench:c0'),
      codec.PING,
      pub('x'.repeat(200)),
      codec.encodePush({ channel: 'bench:c0', join: { info: { user: 'u', client: 'c' } } }),
      pub('bench:c1'),
      codec.encodeReply(2, 'rpc', { data: { a: 1 } }),
      codec.encodePush({ disconnect: { code: 3008, reason: 'slow' } }),
    ])
    // The 200-byte channel pushes `pub` past the 128-byte head: not counted. Bench channels are `bench:cN`.
    everySplit(stream, (on) => {
      const messages = new DelimitedScanner((buf, start, end, length) => on(classifyProtobuf(buf, start, end, length)))
      return (buf, start, end) => messages.push(buf, start, end)
    }, { pubs: 2, connected: 1, pings: 1, code: 3008 })
  })
})

const SECRET = 'bench-stream-transports'
const CHANNEL = 'bench:c0'
const SINKS = 20
const PUBLICATIONS = 100

function token(sub) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + 3600, channels: [CHANNEL] })}`
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`
}

/** A delivery counter that resolves `reached(n)` as soon as it counts n: no polling. */
function eventCounter() {
  let value = 0
  const waiters = []
  return {
    get delivered() {
      return value
    },
    set delivered(v) {
      value = v
      for (let i = waiters.length - 1; i >= 0; i--) if (value >= waiters[i].n) waiters.splice(i, 1)[0].resolve()
    },
    reached(n) {
      return value >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))
    },
  }
}

/** Close codes as they come; `reached(n)` resolves at the n-th. */
function closeLog() {
  const codes = []
  const waiters = []
  codes.push = (code) => {
    Array.prototype.push.call(codes, code)
    for (let i = waiters.length - 1; i >= 0; i--) if (codes.length >= waiters[i].n) waiters.splice(i, 1)[0].resolve()
    return codes.length
  }
  codes.reached = (n) => (codes.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })))
  return codes
}

describe('against livedesk', () => {
  let livedesk
  let dataDir
  let protobufStreamServed
  beforeAll(async () => {
    const { startLivedesk } = await import('../../dist/main.js')
    dataDir = mkdtempSync(join(tmpdir(), 'livedesk-bench-test-'))
    livedesk = await startLivedesk({
      port: 0, host: '127.0.0.1', dataDir, logLevel: 'silent',
      realtime: { hmacSecret: SECRET, pingIntervalMs: 3_600_000, connectionsPerIp: 0, connectsPerIp: { points: 0, windowMs: 1_000 } },
    })
    const res = await fetch(`http://127.0.0.1:${livedesk.port}/connection/http_stream`, {
      method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: encodeCommand({ id: 1, connect: { token: token('x') } }),
    })
    protobufStreamServed = res.status === 200
    await res.body?.cancel()
  })
  afterAll(async () => {
    await livedesk?.close()
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  it('should reject a sink whose connect is refused, naming the reply, over each transport', async () => {
    const transports = STREAM_TRANSPORTS.filter((t) => t !== 'http_stream-protobuf' || protobufStreamServed)
    for (const transport of transports) {
      const command = { id: 1, connect: { token: 'not-a-jwt', name: 'bench' } }
      const connect = transport.endsWith('-protobuf') ? encodeCommand(command) : JSON.stringify(command)
      await expect(
        openStreamSink({ transport, port: livedesk.port, localAddress: '127.0.0.1', connect, counter: { delivered: 0 }, onClose: () => {}, timeoutMs: 10_000 }),
        transport,
      ).rejects.toThrow(/connect refused|disconnected 35\d\d|closed during handshake \(35\d\d\)/)
    }
  })

  it('should deliver every publication to every sink and probe over each transport, and report 3001 at shutdown', async (ctx) => {
    const transports = STREAM_TRANSPORTS.filter((t) => t !== 'http_stream-protobuf' || protobufStreamServed)
    if (!protobufStreamServed) console.warn('this build does not serve protobuf over http_stream: http_stream-protobuf not tested')
    const per = {}
    for (const transport of transports) {
      const counter = eventCounter()
      const stats = new ProbeStats(10_000)
      const closes = closeLog()
      const connect = (i) => {
        const command = { id: 1, connect: { token: token(`u${i}`), name: 'bench' } }
        return transport.endsWith('-protobuf') ? encodeCommand(command) : JSON.stringify(command)
      }
      const sinks = await Promise.all(Array.from({ length: SINKS }, (_, i) =>
        openStreamSink({ transport, port: livedesk.port, localAddress: '127.0.0.1', connect: connect(i), counter, onClose: (code) => closes.push(code) })))
      const probe = await openStreamProbe({ transport, port: livedesk.port, token: token('probe'), localAddress: '127.0.0.1', stats, counter, onClose: (code) => closes.push(code) })
      per[transport] = { counter, stats, closes, sinks, probe }
    }
    // Connect replies go out before a subscription's pushes, but the subscription may still be settling.
    for (let i = 0; i < 500 && livedesk.node.hub.channels.get(CHANNEL)?.size !== transports.length * (SINKS + 1); i++) await new Promise((r) => setTimeout(r, 10))
    expect(livedesk.node.hub.channels.get(CHANNEL)?.size).toBe(transports.length * (SINKS + 1))

    const makePayload = payloadFactory(1024)
    for (let s = 1; s <= PUBLICATIONS; s++) {
      await livedesk.node.publish(CHANNEL, makePayload(s))
      if (s % 10 === 0) await new Promise((r) => setImmediate(r)) // coalesced frames as well as single ones
    }
    for (const transport of transports) {
      const { counter, stats } = per[transport]
      await counter.reached((SINKS + 1) * PUBLICATIONS)
      expect(counter.delivered, transport).toBe((SINKS + 1) * PUBLICATIONS)
      const summary = stats.summary()
      expect(summary.samples, transport).toBe(PUBLICATIONS)
      expect(summary.gaps + summary.duplicates, transport).toBe(0)
      expect(summary.p99Ms, transport).toBeGreaterThanOrEqual(0)
    }

    const allClosed = Promise.all(transports.map((t) => per[t].closes.reached(SINKS + 1)))
    await livedesk.close()
    livedesk = undefined
    await allClosed
    for (const transport of transports) {
      expect(per[transport].closes.filter((c) => c === 3001).length, transport).toBe(SINKS + 1)
    }
    if (!protobufStreamServed) ctx.annotate?.('http_stream-protobuf skipped: not served by this build')
  })
})

/**
 * The load generator process, driven over IPC by bench/run.mjs. Messages in:
 * connect {...} | reopen | reset {latency, delivered} | report | http-publish {...} | stop-http-publish | close.
 * About 98% of connections are sinks (sink.mjs; stream-sink.mjs for G over another transport), the rest probes
 * (probes.mjs; stream-probes.mjs). Source addresses rotate over
 * 127.0.0.1–127.0.0.50 so 15k connections do not exhaust one address's ephemeral ports.
 */
import { createHmac } from 'node:crypto'
import http from 'node:http'
import { openSink } from './sink.mjs'
import { openProbe, ProbeStats } from './probes.mjs'
import { openStreamSink } from './stream-sink.mjs'
import { openStreamProbe } from './stream-probes.mjs'
import { startPublisher } from '../lib/publisher.mjs'

const SOURCE_ADDRESSES = 50
const send = (msg) => process.send?.(msg)
const counter = { delivered: 0 }
const stats = new ProbeStats()
const conns = [] // { kind: 'sink'|'probe', channel, handle, open, paused }
const closes = {}
let httpPublisher

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
/** A Centrifugo connection JWT (HS256) whose `channels` claim gives server-side subscriptions. */
function connectionToken(secret, sub, channels) {
  const head = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub, exp: Math.floor(Date.now() / 1000) + 86_400, channels })}`
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`
}

const PROTOCOL = { b1: 'ws', b1c: 'ws', b2: 'sio', g: 'centrifugo' }

/** Opens connection `i` of a `connect` request; resolves with its entry in `conns` (not yet added), or throws. */
async function openConnection(params, i, slow) {
  const { contender, transport, port, path, channels, probeEvery, hmacSecret, subsPerConnection = 1, sdkProbes = false } = params
  const channel = channels[i % channels.length]
  // Extra subscriptions (memory per subscription) ride on channels nobody publishes to, each shared by
  // 10 connections: the group shape of Centrifugo's million-connection test.
  const subscribed = [channel, ...Array.from({ length: subsPerConnection - 1 }, (_, k) => `extra${k}:${Math.floor(i / 10)}`)]
  const localAddress = `127.0.0.${1 + (i % SOURCE_ADDRESSES)}`
  const isProbe = !slow && probeEvery > 0 && i % probeEvery === probeEvery - 1
  const token = hmacSecret ? connectionToken(hmacSecret, `u${i}`, subscribed) : undefined
  const conn = { kind: isProbe ? 'probe' : 'sink', index: i, channel, handle: null, open: true, paused: false, slow }
  const onClose = (code) => {
    if (!conn.open) return
    conn.open = false
    closes[code] = (closes[code] ?? 0) + 1
  }
  if (transport) {
    // G over another transport (stream-sink.mjs, stream-probes.mjs): the same connect, other framing.
    const command = { id: 1, connect: { token, name: 'bench' } }
    const connect = transport.endsWith('-protobuf') ? (await import('./centrifugo-protobuf.mjs')).encodeCommand(command) : JSON.stringify(command)
    conn.handle = isProbe
      ? await openStreamProbe({ transport, port, token, localAddress, stats, counter, onClose })
      : await openStreamSink({ transport, port, localAddress, connect, counter, onClose })
  } else if (isProbe) {
    conn.handle = await openProbe({ contender, port, path, channel, token, localAddress, stats, counter, onClose, sdk: sdkProbes })
  } else {
    const q = `?ch=${encodeURIComponent(channel)}`
    conn.handle = await openSink({
      port,
      path: contender === 'b2' ? `${path}?EIO=4&transport=websocket` : contender === 'g' ? path : path + q,
      localAddress,
      protocol: PROTOCOL[contender],
      hello: contender === 'b2' ? `40${JSON.stringify({ ch: channel })}` : contender === 'g' ? JSON.stringify({ id: 1, connect: { token, name: 'bench' } }) : undefined,
      lines: contender === 'b1c' || contender === 'g',
      counter,
      onClose,
    })
  }
  if (slow) {
    conn.paused = true
    conn.handle.pause()
  }
  return conn
}

let connectParams // the last `connect` request's parameters, for `reopen`

/**
 * Opens connections `first`..`first + n - 1`. With `slow`, they are sinks that stop reading once ready:
 * fresh sockets whose receive buffers never grew, so a server's own queue is what fills.
 */
async function connect(params) {
  const { n, first = 0, concurrency = 100, slow = false } = params
  connectParams = params
  const started = performance.now()
  let failed = 0
  let firstError
  let next = first
  const end = first + n
  const worker = async () => {
    while (next < end) {
      const i = next++
      try {
        conns.push(await openConnection(params, i, slow))
      } catch (err) {
        failed++
        firstError ??= String(err?.message ?? err)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
  const ms = performance.now() - started
  send({ type: 'connected', ms, ok: n - failed, failed, firstError, probes: conns.filter((c) => c.kind === 'probe').length })
}

/** Opens again every reading connection the server closed (as an SDK would reconnect), 100 at a time. */
async function reopen() {
  const closed = conns.filter((c) => !c.open && !c.slow)
  let failed = 0
  let firstError
  const worker = async () => {
    for (let c = closed.pop(); c; c = closed.pop()) {
      try {
        conns[conns.indexOf(c)] = await openConnection(connectParams, c.index, false)
      } catch (err) {
        failed++
        firstError ??= String(err?.message ?? err)
      }
    }
  }
  const count = closed.length
  await Promise.all(Array.from({ length: Math.min(100, count) }, worker))
  send({ type: 'reopened', count, failed, firstError })
}

function report() {
  const activeByChannel = {}
  let open = 0
  for (const c of conns) {
    if (!c.open) continue
    open++
    if (!c.paused) activeByChannel[c.channel] = (activeByChannel[c.channel] ?? 0) + 1
  }
  return { type: 'report', delivered: counter.delivered, latency: stats.summary(), open, activeByChannel, closes: { ...closes } }
}

/** Publishes over `POST /api/publish` with a keep-alive pool; counts only publications the server accepted. */
function startHttpPublisher({ url, apiKey, rate, channels, payloadBytes, maxInFlight = 256 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 })
  const target = new URL('/api/publish', url)
  const accepted = Object.fromEntries(channels.map((c) => [c, 0]))
  let inFlight = 0
  let rejected = 0
  let firstError
  const publish = (channel, data) => {
    if (inFlight >= maxInFlight) {
      rejected++
      return
    }
    inFlight++
    const body = JSON.stringify({ channel, data })
    const req = http.request(target, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-api-key': apiKey },
    })
    req.on('response', (res) => {
      res.resume()
      res.on('end', () => {
        inFlight--
        if (res.statusCode === 200) accepted[channel]++
        else {
          rejected++
          firstError ??= `HTTP ${res.statusCode}`
        }
      })
    })
    req.on('error', (err) => {
      inFlight--
      rejected++
      firstError ??= String(err.message)
    })
    req.end(body)
  }
  const publisher = startPublisher({ rate, channels, payloadBytes, publish })
  return {
    async stop() {
      const result = publisher.stop()
      for (let i = 0; i < 500 && inFlight > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
      agent.destroy()
      const published = Object.values(accepted).reduce((a, b) => a + b, 0)
      return { ...result, published, perChannel: accepted, errors: rejected, inFlight, firstError, achievedRate: (result.published * 1000) / result.elapsedMs }
    },
  }
}

async function handle(msg) {
  switch (msg.type) {
    case 'connect':
      return connect(msg)
    case 'reopen':
      return reopen()
    case 'reset':
      if (msg.latency) stats.resetLatency()
      if (msg.delivered) counter.delivered = 0
      return send({ type: 'reset-done' })
    case 'report':
      return send(report())
    case 'http-publish':
      httpPublisher = startHttpPublisher(msg)
      return send({ type: 'publishing' })
    case 'stop-http-publish': {
      const result = httpPublisher ? await httpPublisher.stop() : { published: 0, perChannel: {} }
      httpPublisher = undefined
      return send({ type: 'published', ...result })
    }
    case 'close':
      for (const c of conns) c.handle?.close()
      setTimeout(() => process.exit(0), 200)
  }
}

process.on('message', (msg) => {
  handle(msg).catch((err) => send({ type: 'error', message: String(err?.stack ?? err) }))
})
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })

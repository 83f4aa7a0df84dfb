/**
 * Probes: real protocol clients that parse every message and measure latency from the payload's `t`.
 * B1/B1c: the `ws` client (newline-split frames); B2: socket.io-client; G: a `ws` client speaking the
 * Centrifugo JSON protocol, or with --sdk-probes the official `centrifuge` SDK.
 */
import WebSocket from 'ws'
import { io } from 'socket.io-client'
import { Centrifuge } from 'centrifuge'
import { now } from '../lib/publisher.mjs'
import { latencySummary } from '../lib/ratios.mjs'

/** Latency samples and sequence checks shared by all probes of a process. */
export class ProbeStats {
  constructor(capacity = 1_000_000) {
    this.samples = new Float64Array(capacity)
    this.count = 0
    this.dropped = 0
    this.gaps = 0
    this.duplicates = 0
  }
  record(data, probe) {
    const latency = now() - data.t
    if (this.count < this.samples.length) this.samples[this.count++] = latency
    else this.dropped++
    if (probe.last !== undefined) {
      if (data.s > probe.last + 1) this.gaps += data.s - probe.last - 1
      else if (data.s <= probe.last) this.duplicates++
    }
    probe.last = data.s
  }
  resetLatency() {
    this.count = 0
    this.dropped = 0
  }
  summary() {
    const n = this.count
    if (n === 0) return { samples: 0, gaps: this.gaps, duplicates: this.duplicates }
    return {
      samples: n,
      ...latencySummary(this.samples.slice(0, n).sort()),
      gaps: this.gaps,
      duplicates: this.duplicates,
    }
  }
}

const timeout = (ms, what) =>
  new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} timed out`)), ms).unref())

/** Opens one probe; resolves with { close } once it receives publications. `counter.delivered` counts them. */
export async function openProbe({ contender, port, path, channel, token, localAddress, stats, counter, onClose, sdk = false }) {
  const probe = { last: undefined }
  const deliver = (data) => {
    counter.delivered++
    stats.record(data, probe)
  }
  if (contender === 'b1' || contender === 'b1c') {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}?ch=${encodeURIComponent(channel)}`, { perMessageDeflate: false, localAddress })
    ws.on('message', (buf) => {
      for (const line of buf.toString().split('\n')) deliver(JSON.parse(line))
    })
    ws.on('close', (code) => onClose(code))
    await Promise.race([new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject))), timeout(30_000, 'probe')])
    return { close: () => ws.terminate() }
  }
  if (contender === 'b2') {
    const socket = io(`http://127.0.0.1:${port}`, {
      transports: ['websocket'],
      auth: { ch: channel },
      forceNew: true,
      reconnection: false,
      perMessageDeflate: false,
      localAddress,
    })
    socket.on('m', deliver)
    socket.on('disconnect', (reason) => onClose(reason))
    await Promise.race([
      new Promise((resolve, reject) => (socket.once('connect', resolve), socket.once('connect_error', reject))),
      timeout(30_000, 'probe'),
    ])
    return { close: () => socket.disconnect() }
  }
  if (!sdk) {
    // G, light: the Centrifugo JSON protocol by hand (connect, pushes, pings), as cheap per message as the
    // B1/B1c probe, so probes do not tilt the load generator's budget against G.
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false, localAddress })
    let connected
    const ready = new Promise((resolve, reject) => (connected = { resolve, reject }))
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, connect: { token, name: 'bench-probe' } })))
    ws.on('message', (buf) => {
      for (const line of buf.toString().split('\n')) {
        if (line === '{}') {
          ws.send('{}')
          continue
        }
        const reply = JSON.parse(line)
        if (reply.push?.pub) deliver(reply.push.pub.data)
        else if (reply.id === 1) reply.connect ? connected.resolve() : connected.reject(new Error(`probe connect: ${line}`))
        else if (reply.push?.disconnect) onClose(reply.push.disconnect.code)
      }
    })
    ws.on('close', (code) => onClose(code))
    ws.on('error', (err) => connected.reject(err))
    await Promise.race([ready, timeout(30_000, 'probe')])
    return { close: () => ws.terminate() }
  }
  // G with the official SDK (--sdk-probes), `ws` bound to a source address (Node 20 has no global WebSocket).
  class BoundWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { perMessageDeflate: false, localAddress })
    }
  }
  const client = new Centrifuge(`ws://127.0.0.1:${port}${path}`, { websocket: BoundWebSocket, token, name: 'bench-probe' })
  client.on('publication', (ctx) => deliver(ctx.data))
  client.on('disconnected', (ctx) => onClose(ctx.code))
  // A reconnectable disconnect (3008 slow, 3001 shutdown...) moves the SDK back to connecting.
  client.on('connecting', (ctx) => ctx.code >= 3000 && onClose(ctx.code))
  const connected = new Promise((resolve, reject) => {
    client.once('connected', resolve)
    client.once('disconnected', (ctx) => reject(new Error(`probe disconnected ${ctx.code} ${ctx.reason}`)))
  })
  client.connect()
  await Promise.race([connected, timeout(30_000, 'probe')])
  return { close: () => client.disconnect() }
}

/**
 * Probes for G's other transports: full parsers that decode every message and measure latency from the
 * payload's `t`, as probes.mjs does for WebSocket JSON. Node's `http` undoes the chunking; the SSE parser
 * follows the EventSource rules (fields per line, an event per blank line, `data` lines joined by '\n'), and
 * each event's data splits into one JSON message per line as centrifuge-js's SSE transport does; protobuf goes
 * through protobufjs (centrifugo-protobuf.mjs). `websocket-protobuf` uses the `ws` client.
 */
import http from 'node:http'
import WebSocket from 'ws'

const timeout = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} timed out`)), ms).unref())

/** EventSource's parsing of a text/event-stream (WHATWG HTML §9.2.6), `onEvent(data)` per dispatched event. */
export class EventStreamParser {
  constructor(onEvent) {
    this.onEvent = onEvent
    this.buffer = ''
    this.data = []
  }

  push(text) {
    this.buffer += text
    const lines = this.buffer.split(/\r\n|\r(?!$)|\n/)
    this.buffer = lines.pop()
    for (const line of lines) {
      if (line === '') {
        if (this.data.length) this.onEvent(this.data.join('\n'))
        this.data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      let value = colon < 0 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'data') this.data.push(value)
    }
  }
}

/**
 * Opens one probe over `transport`; resolves with { close } once connected. Publications count in
 * `counter.delivered` and their latency in `stats`; a disconnect push or a close reports its code.
 */
export async function openStreamProbe({ transport, port, token, localAddress, stats, counter, onClose }) {
  const probe = { last: undefined }
  let connected
  const ready = new Promise((resolve, reject) => (connected = { resolve, reject }))
  const onReply = (reply, raw) => {
    if (reply.push?.pub) {
      counter.delivered++
      stats.record(reply.push.pub.data, probe)
    } else if (reply.id === 1) reply.connect ? connected.resolve() : connected.reject(new Error(`probe connect: ${raw()}`))
    else if (reply.push?.disconnect) onClose(reply.push.disconnect.code)
  }
  const onJsonLine = (line) => {
    if (line === '' || line === '{}') return // pings: every 1 h in the benchmark, answered by no one
    onReply(JSON.parse(line), () => line)
  }
  const pb = transport.endsWith('-protobuf') ? await import('./centrifugo-protobuf.mjs') : null
  const onProtobufReplies = (stream, bytes) => {
    for (const r of stream.push(bytes)) {
      if (r.push?.pub) r.push.pub.data = JSON.parse(Buffer.from(r.push.pub.data).toString())
      onReply(r, () => JSON.stringify(r))
    }
  }
  const connect = { id: 1, connect: { token, name: 'bench-probe' } }

  if (transport === 'websocket-protobuf') {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/connection/websocket`, 'centrifuge-protobuf', { perMessageDeflate: false, localAddress })
    const stream = new pb.ReplyStream()
    ws.on('open', () => ws.send(pb.encodeCommand(connect)))
    ws.on('message', (data) => {
      for (const r of stream.push(data)) {
        if (!r.id && !r.push) ws.send(Buffer.from([0])) // ping → pong (an empty Command)
        else {
          if (r.push?.pub) r.push.pub.data = JSON.parse(Buffer.from(r.push.pub.data).toString())
          onReply(r, () => JSON.stringify(r))
        }
      }
    })
    ws.on('close', (code) => onClose(code))
    ws.on('error', (err) => connected.reject(err))
    await Promise.race([ready, timeout(30_000, 'probe')])
    return { close: () => ws.terminate() }
  }

  const protobuf = transport === 'http_stream-protobuf'
  const sse = transport === 'sse'
  const body = protobuf ? pb.encodeCommand(connect) : JSON.stringify(connect)
  const req = http.request({
    host: '127.0.0.1',
    port,
    localAddress,
    agent: false,
    method: sse ? 'GET' : 'POST',
    path: sse ? `/connection/sse?cf_connect=${encodeURIComponent(body)}` : '/connection/http_stream',
    headers: sse ? { accept: 'text/event-stream' } : { 'content-type': protobuf ? 'application/octet-stream' : 'application/json', 'content-length': Buffer.byteLength(body) },
  })
  req.on('response', (res) => {
    if (res.statusCode !== 200) {
      let text = ''
      res.on('data', (d) => (text += d))
      res.on('end', () => connected.reject(new Error(`probe ${transport}: HTTP ${res.statusCode} ${text.slice(0, 200)}`)))
      return
    }
    if (protobuf) {
      const stream = new pb.ReplyStream()
      res.on('data', (bytes) => onProtobufReplies(stream, bytes))
    } else if (sse) {
      res.setEncoding('utf8')
      const events = new EventStreamParser((data) => {
        for (const line of data.split('\n')) onJsonLine(line)
      })
      res.on('data', (text) => events.push(text))
    } else {
      res.setEncoding('utf8')
      let rest = ''
      res.on('data', (text) => {
        const lines = (rest + text).split('\n')
        rest = lines.pop()
        for (const line of lines) onJsonLine(line)
      })
    }
    res.on('close', () => onClose(1006))
  })
  req.on('error', (err) => connected.reject(err))
  req.end(sse ? undefined : body)
  await Promise.race([ready, timeout(30_000, 'probe')])
  return { close: () => req.destroy() }
}

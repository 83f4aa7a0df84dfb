/**
 * Centrifugo's unidirectional transports (centrifugo internal/uniws, unihttpstream, unisse): the client sends
 * one ConnectRequest (in `cf_connect`, the body, or the first WebSocket message) and then only receives. Every
 * message is a bare Push: `{"connect":{…}}` first, then `{"channel":…,"pub":{…}}`, `{}` pings (no pong is
 * expected) and `{"disconnect":{"code":…,"reason":…}}` before the end. Server-side subscriptions only.
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { Disconnects, limitCloseReason } from '../protocol/codes.js'
import type { Node } from './node.js'
import type { Transport, TransportName } from './transport.js'
import { originAllowed, peerAddress } from './transport-ws.js'

/** Where a unidirectional transport puts one message. */
export interface UniSink {
  write(message: Buffer | string): void
  /** Ends the connection after what was written; `code`/`reason` for sinks with a close frame. */
  end(code: number, reason: string): void
  readonly bufferedAmount: number
}

const PUSH_PREFIX = '{"push":'
const PUSH_PREFIX_BYTES = Buffer.from(PUSH_PREFIX)

/** Centrifugo's defaultUniErrorCodeToDisconnect: a refused connect ends the connection with a disconnect. */
function disconnectForError(code: number) {
  if (code === 109 || code === 110) return Disconnects.expired
  if (code === 111) return Disconnects.tooManyRequests
  if (code === 103) return Disconnects.permissionDenied
  return Disconnects.internal
}

/** Turns the core's reply/push frames into Centrifugo's unidirectional pushes. */
export class UniTransport implements Transport {
  readonly capabilities = { streaming: true, binary: false, bidirectional: false, emulation: false }
  private ended = false

  constructor(readonly name: Extract<TransportName, `uni_${string}`>, private readonly sink: UniSink) {}

  get bufferedAmount(): number {
    return this.sink.bufferedAmount
  }

  write(frame: Buffer | string): void {
    if (this.ended) return
    // A fan-out publication alone in its frame: the push inside the shared Buffer, without a copy.
    if (typeof frame !== 'string' && frame.indexOf(10) === -1 && frame.subarray(0, PUSH_PREFIX_BYTES.length).equals(PUSH_PREFIX_BYTES)) {
      return this.sink.write(frame.subarray(PUSH_PREFIX_BYTES.length, frame.length - 1))
    }
    const text = typeof frame === 'string' ? frame : frame.toString()
    for (const message of text.split('\n')) {
      if (this.ended) return
      if (message.startsWith(PUSH_PREFIX)) this.sink.write(message.slice(PUSH_PREFIX.length, -1))
      else if (message === '{}') this.sink.write(message) // a ping
      else this.reply(message)
    }
  }

  /** The only reply a unidirectional client gets is its connect's: a result becomes the connect push, an error the end. */
  private reply(message: string): void {
    const reply = JSON.parse(message) as { connect?: unknown; error?: { code: number } }
    if (reply.connect) this.sink.write(JSON.stringify({ connect: reply.connect }))
    else if (reply.error) {
      const d = disconnectForError(reply.error.code)
      this.close(d.code, d.reason)
    }
  }

  close(code: number, reason: string): void {
    if (this.ended) return
    this.ended = true
    this.sink.write(JSON.stringify({ disconnect: { code, reason } }))
    this.sink.end(code, reason)
  }
}

/** Wraps a ConnectRequest (JSON text) as the connect command the core reads; undefined when it is not a JSON object. */
export function connectCommandOf(text: string): string | undefined {
  if (text.trim() === '') return '{"id":1,"connect":{}}'
  try {
    const value = JSON.parse(text)
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    return JSON.stringify({ id: 1, connect: value })
  } catch {
    return undefined
  }
}

export interface UniWebSocketOptions {
  paths: string[]
  /** Paths another upgrade handler serves: left to it. */
  otherPaths: string[]
  /** As fastify's `trustProxy`: behind a proxy, the peer's address (per-IP limits, `remoteAddress`) comes from X-Forwarded-For. */
  trustProxy?: boolean | string[]
}

/**
 * Serves `uni_websocket` on these paths: the ConnectRequest in `cf_connect` or as the first message. JSON only,
 * as Centrifugo's uniws (its transport's protocol is always JSON; `cf_protocol` is not read).
 */
export function attachUniWebSocket(server: Server, node: Node, opts: UniWebSocketOptions): () => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 65_536, perMessageDeflate: false })
  const sockets = new Set<WebSocket>()
  const addressOf = peerAddress(opts.trustProxy)
  let open = 0
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (!opts.paths.includes(url.pathname)) {
      // The bidirectional handler leaves unknown paths to the other handlers: answered here.
      if (!opts.otherPaths.includes(url.pathname)) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    if (node.isClosing || !originAllowed(node.config.allowedOrigins, req.headers.origin)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const inUrl = url.searchParams.get('cf_connect')
    // As Centrifugo: a `cf_connect` that is not a JSON ConnectRequest is answered 400 before the upgrade.
    if (inUrl !== null && inUrl !== '' && connectCommandOf(inUrl) === undefined) {
      const body = JSON.stringify({ error: { code: 'bad_request', message: 'cf_connect must be a JSON ConnectRequest', field: 'cf_connect' } })
      socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
      return
    }
    // The same admission as the other transports: per-IP connects and open connections, and this handler's process cap.
    const ip = addressOf(req)
    socket.on('error', () => {})
    node.limits.admitSocket(ip, open++).catch(() => undefined).then((refusal) => {
      if (refusal || socket.destroyed) {
        open--
        if (!refusal) node.limits.releaseSocket(ip)
        else socket.end(`HTTP/1.1 ${refusal.status} ${refusal.status === 429 ? 'Too Many Requests' : 'Service Unavailable'}\r\nConnection: close\r\nRetry-After: ${refusal.retryAfterSec}\r\nContent-Length: 0\r\n\r\n`)
        return
      }
      socket.once('close', () => {
        open--
        node.limits.releaseSocket(ip)
      })
      wss.handleUpgrade(req, socket, head, (ws) => serve(ws, req, ip, inUrl || null))
    })
  }
  const serve = (ws: WebSocket, req: IncomingMessage, ip: string | undefined, inUrl: string | null) => {
    sockets.add(ws)
    const ua = req.headers['user-agent']
    const client = node.accept(new UniTransport('uni_websocket', {
      write: (m) => ws.readyState === 1 && ws.send(m, { binary: false }),
      end: (code, reason) => ws.readyState < 2 && ws.close(code, limitCloseReason(reason)),
      get bufferedAmount() { return ws.bufferedAmount },
    }), { remoteAddress: ip, userAgent: typeof ua === 'string' ? ua : undefined, headers: req.headers })
    ws.on('close', (code, reason) => {
      sockets.delete(ws)
      client.handleClose(code, reason.toString())
    })
    ws.on('error', () => {})
    const start = (text: string) => {
      const command = connectCommandOf(text)
      if (command === undefined) client.disconnect(Disconnects.badRequest)
      else client.handleFrame(command)
    }
    if (inUrl !== null) start(inUrl)
    // Without cf_connect, the first message is the ConnectRequest; anything after it is ignored, as in Centrifugo.
    else ws.once('message', (data, isBinary) => (isBinary ? client.disconnect(Disconnects.badRequest) : start(data.toString())))
  }
  server.on('upgrade', onUpgrade)
  return () => {
    server.off('upgrade', onUpgrade)
    for (const ws of sockets) ws.terminate()
    wss.close()
  }
}

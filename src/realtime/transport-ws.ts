/** The `ws` adapter: upgrades on the gateway paths, checks the origin, and feeds frames to a client. */
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import * as wsModule from 'ws'
import { WebSocketServer, type WebSocket } from 'ws'
import proxyAddr from '@fastify/proxy-addr'
import { limitCloseReason } from '../protocol/codes.js'
import type { UpgradeRefusal } from './limits.js'
import type { Node } from './node.js'
import { PROTOBUF_SUBPROTOCOL, wsCodec } from './protocol-choice.js'
import type { Transport, TransportInfo } from './transport.js'

export interface WebSocketOptions {
  paths: string[]
  /** As fastify's `trustProxy`: behind a proxy, the peer's address (for per-IP limits) comes from X-Forwarded-For. */
  trustProxy?: boolean | string[]
}

/** How long a closing socket may take to finish the close handshake before it is destroyed. */
const CLOSE_TIMEOUT_MS = 2_000

const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }).Sender
const TEXT = { binary: false }
const FRAME = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }
const BINARY_FRAME = { ...FRAME, opcode: 2 }

/**
 * Fan-out hands the same Buffer to every subscriber in a row, so the last WebSocket framing is kept and
 * reused: one header per publication instead of one per socket (the ws#617 pre-framing technique).
 */
let lastPayload: Buffer | undefined
let lastFramed: Buffer[] | undefined
let lastBinaryPayload: Buffer | undefined
let lastBinaryFramed: Buffer[] | undefined

function framed(payload: Buffer): Buffer[] {
  if (payload !== lastPayload) {
    lastPayload = payload
    lastFramed = Sender.frame(payload, FRAME)
  }
  return lastFramed!
}

function framedBinary(payload: Buffer): Buffer[] {
  if (payload !== lastBinaryPayload) {
    lastBinaryPayload = payload
    lastBinaryFramed = Sender.frame(payload, BINARY_FRAME)
  }
  return lastBinaryFramed!
}

class WsTransport implements Transport {
  readonly name = 'websocket'
  readonly capabilities = { streaming: true, binary: true, bidirectional: true, emulation: false }
  private readonly sender: { sendFrame(list: Buffer[]): void }

  /** `binary`: every frame goes out as a binary message (the protobuf protocol). */
  constructor(private readonly ws: WebSocket, private readonly binary = false) {
    // Without permessage-deflate and Blob payloads, ws's sender writes frames straight through.
    this.sender = (ws as unknown as { _sender: { sendFrame(list: Buffer[]): void } })._sender
  }

  write(frame: Buffer | string): void {
    if (this.ws.readyState !== 1) return
    if (this.binary) this.sender.sendFrame(framedBinary(typeof frame === 'string' ? Buffer.from(frame) : frame))
    else if (typeof frame === 'string') this.ws.send(frame, TEXT)
    else this.sender.sendFrame(framed(frame))
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState >= 2) return
    this.ws.close(code, limitCloseReason(reason))
    // A peer that never reads never answers the close frame either.
    setTimeout(() => this.ws.terminate(), CLOSE_TIMEOUT_MS).unref()
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount
  }
}

const STATUS_TEXT = { 429: 'Too Many Requests', 503: 'Service Unavailable' } as const

/** The HTTP answer to an upgrade a limit refused; the body names the limit. */
function upgradeRefusal(r: UpgradeRefusal): string {
  return `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status]}\r\nConnection: close\r\nRetry-After: ${r.retryAfterSec}\r\n` +
    `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(r.reason)}\r\n\r\n${r.reason}`
}

/** The peer's address as fastify's `request.ip` gives it for the same `trustProxy`. */
export function peerAddress(trustProxy: boolean | string[] | undefined): (req: IncomingMessage) => string | undefined {
  if (!trustProxy) return (req) => req.socket.remoteAddress
  const trusted = trustProxy === true ? () => true : proxyAddr.compile(trustProxy)
  return (req) => (req.socket.remoteAddress === undefined ? undefined : proxyAddr.all(req, trusted).at(-1))
}

export function originAllowed(allowed: string[], origin: string | undefined): boolean {
  if (allowed.length === 0 || allowed.includes('*') || origin === undefined) return true
  return allowed.includes(origin)
}

/** Attaches the gateway to an HTTP server; returns a function that stops accepting and terminates leftover sockets. */
export function attachWebSocket(server: Server, node: Node, opts: WebSocketOptions): () => void {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: node.config.maxFrameBytes,
    perMessageDeflate: false,
    // The JSON SDK offers no subprotocol and browsers abort if the server picks one; the protobuf SDK offers
    // `centrifuge-protobuf` and aborts unless the server selects it.
    handleProtocols: (offered) => (offered.has(PROTOBUF_SUBPROTOCOL) ? PROTOBUF_SUBPROTOCOL : false),
  })
  const sockets = new Set<WebSocket>()

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0]
    if (!opts.paths.includes(path)) {
      // Unless another upgrade handler takes it, answer rather than leave the socket hanging.
      if (server.listenerCount('upgrade') === 1) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    if (node.isClosing || !originAllowed(node.config.allowedOrigins, req.headers.origin)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const ua = req.headers['user-agent']
    const info = { remoteAddress: addressOf(req), userAgent: typeof ua === 'string' ? ua : undefined, headers: req.headers }
    admit(req, socket)
      .then((admitted) => admitted && wss.handleUpgrade(req, socket, head, (ws) => serve(ws, info, req.url ?? '')))
      .catch((err) => (node.log.warn({ err }, 'upgrade failed'), socket.destroy()))
  }
  // Limits answer before the handshake. An admitted socket counts for the process cap and holds its IP's slot
  // until it closes, however the upgrade ends; one being admitted counts already.
  const addressOf = peerAddress(opts.trustProxy)
  let held = 0
  const admit = async (req: IncomingMessage, socket: Duplex): Promise<boolean> => {
    // The HTTP server stopped listening for this socket's errors; a peer that resets meanwhile must not throw.
    socket.on('error', () => {})
    if (socket.destroyed) return false
    const ip = addressOf(req)
    const refusal = await node.limits.admitSocket(ip, held++).catch(() => undefined)
    if (refusal || socket.destroyed) {
      held--
      if (!refusal) node.limits.releaseSocket(ip)
      // Closed once written: a peer that never closes its side keeps no descriptor.
      else socket.end(upgradeRefusal(refusal), () => socket.destroy())
      return false
    }
    socket.once('close', () => {
      held--
      node.limits.releaseSocket(ip)
    })
    return true
  }
  // Listeners live outside the upgrade callback so that they do not keep the upgrade request alive.
  const serve = (ws: WebSocket, info: TransportInfo, url: string) => {
    sockets.add(ws)
    const codec = wsCodec(ws.protocol, url)
    const client = node.accept(new WsTransport(ws, codec.binary), info, codec)
    ws.on('message', (data, isBinary) => {
      if (isBinary) client.handleBinary(data as Buffer)
      else client.handleFrame(data.toString())
    })
    ws.on('close', (code, reason) => {
      sockets.delete(ws)
      client.handleClose(code, reason.toString())
    })
    // Protocol errors (oversized or invalid frames) close the socket with ws's code, e.g. 1009.
    ws.on('error', (err) => node.log.debug({ err: err.message }, 'socket error'))
  }
  server.on('upgrade', onUpgrade)
  return () => {
    server.off('upgrade', onUpgrade)
    for (const ws of sockets) ws.terminate()
    wss.close()
  }
}

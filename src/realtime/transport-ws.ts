/** The `ws` adapter: upgrades on the gateway paths, checks the origin, and feeds frames to a client. */
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import * as wsModule from 'ws'
import { WebSocketServer, type WebSocket } from 'ws'
import { limitCloseReason } from '../protocol/codes.js'
import type { Node } from './node.js'
import type { Transport, TransportInfo } from './transport.js'

export interface WebSocketOptions {
  paths: string[]
}

/** How long a closing socket may take to finish the close handshake before it is destroyed. */
const CLOSE_TIMEOUT_MS = 2_000

const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }).Sender
const TEXT = { binary: false }
const FRAME = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }

/**
 * Fan-out hands the same Buffer to every subscriber in a row, so the last WebSocket framing is kept and
 * reused: one header per publication instead of one per socket (the ws#617 pre-framing technique).
 */
let lastPayload: Buffer | undefined
let lastFramed: Buffer[] | undefined

function framed(payload: Buffer): Buffer[] {
  if (payload !== lastPayload) {
    lastPayload = payload
    lastFramed = Sender.frame(payload, FRAME)
  }
  return lastFramed!
}

class WsTransport implements Transport {
  private readonly sender: { sendFrame(list: Buffer[]): void }

  constructor(private readonly ws: WebSocket) {
    // Without permessage-deflate and Blob payloads, ws's sender writes frames straight through.
    this.sender = (ws as unknown as { _sender: { sendFrame(list: Buffer[]): void } })._sender
  }

  write(frame: Buffer | string): void {
    if (this.ws.readyState !== 1) return
    if (typeof frame === 'string') this.ws.send(frame, TEXT)
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

function originAllowed(allowed: string[], origin: string | undefined): boolean {
  if (allowed.length === 0 || allowed.includes('*') || origin === undefined) return true
  return allowed.includes(origin)
}

/** Attaches the gateway to an HTTP server; returns a function that stops accepting and terminates leftover sockets. */
export function attachWebSocket(server: Server, node: Node, opts: WebSocketOptions): () => void {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: node.config.maxFrameBytes,
    perMessageDeflate: false,
    // The SDK offers no subprotocol and browsers abort if the server picks one.
    handleProtocols: () => false,
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
    const info = { remoteAddress: req.socket.remoteAddress, userAgent: typeof ua === 'string' ? ua : undefined }
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, info))
  }
  // Listeners live outside the upgrade callback so that they do not keep the upgrade request alive.
  const serve = (ws: WebSocket, info: TransportInfo) => {
    sockets.add(ws)
    const client = node.accept(new WsTransport(ws), info)
    ws.on('message', (data, isBinary) => {
      if (isBinary) client.handleBinary()
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

/**
 * Centrifugo's bidirectional emulation (centrifuge handler_http_stream.go, handler_sse.go, emulation.go):
 * the connect command opens a long response (HTTP-streaming: one JSON reply per line, or with a binary
 * `application/octet-stream` connect the protobuf protocol's length-delimited Replies; SSE: JSON only, one `data:`
 * event per frame), and every later command arrives as a POST to the emulation endpoint (a JSON or protobuf
 * EmulationRequest) naming the session and the node that holds it. A request reaching another node is passed
 * on through the broker's control channel.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { sendError } from '../http/errors.js'
import { jsonCodec, type Codec } from '../protocol/codec.js'
import { decodeEmulationRequest } from '../protocol/codec-protobuf.js'
import type { Node } from './node.js'
import { originAllowed } from './transport-ws.js'
import { httpStreamCodec } from './protocol-choice.js'
import type { Transport, TransportInfo, TransportName } from './transport.js'
import { connectCommandOf, UniTransport } from './transport-uni.js'

export interface HttpTransportOptions {
  node: Node
  /** Path prefixes, each serving `<prefix>/connection/http_stream`, `<prefix>/connection/sse` and `<prefix>/emulation`. */
  prefixes: string[]
  /** Largest connect or emulation body (Centrifugo's 64 KiB default). @default 65536 */
  maxRequestBytes?: number
}

export const DEFAULT_EMULATION_MAX_REQUEST_BYTES = 65_536

const STREAM_HEADERS = {
  'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0',
  Pragma: 'no-cache',
  Expires: '0',
  // nginx must pass every frame on as it comes.
  'X-Accel-Buffering': 'no',
  'X-Content-Type-Options': 'nosniff',
}
const NEWLINE = Buffer.from('\n')
const SSE_DATA = Buffer.from('data: ')
const SSE_END = Buffer.from('\n\n')

/**
 * One streaming response as a transport; commands after connect come through the emulation endpoint.
 * JSON: one reply per line. Protobuf (http_stream only): the codec's varint length-delimited Replies, back to back.
 */
class HttpStreamTransport implements Transport {
  readonly capabilities: Transport['capabilities']

  constructor(readonly name: Exclude<TransportName, 'websocket'>, private readonly res: ServerResponse, private readonly codec: Codec = jsonCodec) {
    this.capabilities = { streaming: true, binary: codec.binary, bidirectional: true, emulation: true }
  }

  get bufferedAmount(): number {
    // The response's own buffer plus its socket's: what the peer has not read yet.
    return this.res.writableLength
  }

  write(frame: Buffer | string): void {
    if (this.res.writableEnded || this.res.destroyed) return
    if (this.codec.binary) {
      // Length-delimited messages frame themselves: written as they are, no separator.
      this.res.write(frame)
      return
    }
    if (this.name === 'sse') {
      if (typeof frame !== 'string' && frame.indexOf(10) === -1) {
        // A fan-out publication alone in its frame: the shared Buffer between the event's prefix and end, not copied.
        this.res.cork()
        this.res.write(SSE_DATA)
        this.res.write(frame)
        this.res.write(SSE_END)
        process.nextTick(() => this.res.uncork())
        return
      }
      // One event per frame; the newlines between messages become `data:` lines, which EventSource joins with '\n'.
      const text = typeof frame === 'string' ? frame : frame.toString()
      this.res.write(`data: ${text.replaceAll('\n', '\ndata: ')}\n\n`)
    } else if (typeof frame === 'string') {
      this.res.write(frame + '\n')
    } else {
      // The fan-out Buffer is written as it is, with its line end in the same write.
      this.res.cork()
      this.res.write(frame)
      this.res.write(NEWLINE)
      process.nextTick(() => this.res.uncork())
    }
  }

  /**
   * Each message framed on its own (an SSE event, a JSON line, a length-delimited Reply), as Centrifugo's SSE and
   * HTTP-streaming writers do, all in one write.
   */
  writeMany(messages: readonly (Buffer | string)[]): void {
    if (this.res.writableEnded || this.res.destroyed) return
    // One copy into one write: a write call costs more than copying a few kilobytes.
    const parts: Buffer[] = []
    for (const m of messages) {
      const b = typeof m === 'string' ? Buffer.from(m) : m
      if (this.codec.binary) parts.push(b)
      else if (this.name !== 'sse') parts.push(b, NEWLINE)
      else if (b.indexOf(10) === -1) parts.push(SSE_DATA, b, SSE_END)
      else parts.push(Buffer.from(`data: ${b.toString().replaceAll('\n', '\ndata: ')}\n\n`))
    }
    this.res.write(Buffer.concat(parts))
  }

  /** As Centrifugo: a disconnect push, then the end of the response (the SDK reads the code from the push). */
  close(code: number, reason: string): void {
    if (this.res.writableEnded || this.res.destroyed) return
    this.write(this.codec.binary ? this.codec.encodePush({ disconnect: { code, reason } }) : JSON.stringify({ push: { disconnect: { code, reason } } }))
    this.res.end()
  }
}

/** A fastify plugin serving the HTTP-streaming and SSE connection endpoints and the emulation endpoint. */
export function httpTransports(opts: HttpTransportOptions) {
  const { node } = opts
  const bodyLimit = opts.maxRequestBytes ?? DEFAULT_EMULATION_MAX_REQUEST_BYTES
  // Streams open on this process: they count for the same connection limit as WebSockets.
  let open = 0
  const responses = new Set<ServerResponse>()
  // A socket that carried a stream is not reused (`Connection: close`); until it is gone, closing the app ends it.
  const streamSockets = new Set<Socket>()

  // Centrifugo's SSE and unidirectional streams speak JSON whatever the query says; only http_stream serves protobuf.
  const openStream = async (name: 'http_stream' | 'sse' | 'uni_http_stream' | 'uni_sse', connect: string | Buffer, req: FastifyRequest, reply: FastifyReply, codec: Codec = jsonCodec) => {
    const sse = name === 'sse' || name === 'uni_sse'
    const refusal = await node.limits.admitSocket(req.ip, open++).catch(() => undefined)
    if (refusal) {
      open--
      reply.header('Retry-After', String(refusal.retryAfterSec))
      return sendError(reply, refusal.status, refusal.status === 429 ? 'rate_limited' : 'unavailable', refusal.reason)
    }
    reply.hijack()
    const res = reply.raw
    // A stream lives as long as the connection: the HTTP idle timeout (issue 12) must not cut it; pings find dead peers.
    const socket = req.raw.socket
    socket.setTimeout(0)
    streamSockets.add(socket)
    socket.once('close', () => streamSockets.delete(socket))
    res.writeHead(200, {
      ...STREAM_HEADERS,
      'Content-Type': sse ? 'text/event-stream; charset=utf-8' : codec.binary ? 'application/octet-stream' : 'application/json',
      Connection: 'close',
      ...corsHeaders(req.raw),
    })
    // SSE: an empty line first so that EventSource opens before the connect reply.
    if (sse) res.write('\r\n')
    res.flushHeaders()
    const info: TransportInfo = { remoteAddress: req.ip, userAgent: req.headers['user-agent'], headers: req.headers }
    const transport = name === 'uni_http_stream' || name === 'uni_sse'
      ? new UniTransport(name, {
        // One push per line (uni_http_stream) or per event (uni_sse).
        write: (m) => void (res.writableEnded || (sse ? res.write(`data: ${m}\n\n`) : (res.write(m), res.write('\n')))),
        end: () => void res.end(),
        get bufferedAmount() { return res.writableLength },
      })
      : new HttpStreamTransport(name, res, codec)
    const client = node.accept(transport, info, codec)
    responses.add(res)
    res.once('close', () => {
      responses.delete(res)
      open--
      node.limits.releaseSocket(req.ip)
      client.handleClose(3000, 'connection closed')
    })
    client.handleFrame(connect)
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    // The same origin check as the WebSocket upgrade: a page elsewhere cannot open or drive a session.
    app.addHook('onRequest', async (req, reply) => {
      if (!originAllowed(node.config.allowedOrigins, req.headers.origin)) return sendError(reply, 403, 'forbidden', 'origin not allowed', 'origin')
    })
    // Bodies are protocol frames: kept as text, whatever the content type says.
    // Connected streams were ended by the node's shutdown (3001); the rest (not connected yet) end here.
    app.addHook('preClose', async () => {
      for (const res of responses) res.destroy()
      for (const socket of streamSockets) socket.destroy()
    })
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_req, body, done) => done(null, body))
    // The protobuf SDK's bodies (connect Commands, EmulationRequest) are binary: kept as bytes.
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body))
    const limitEmulation = async (req: FastifyRequest, reply: FastifyReply) => {
      const refusal = await node.limits.admitEmulation(req.ip).catch(() => undefined)
      if (!refusal) return
      reply.header('Retry-After', String(refusal.retryAfterSec)).headers(corsHeaders(req.raw))
      return sendError(reply, refusal.status, 'rate_limited', refusal.reason)
    }
    const preflight = (_req: FastifyRequest, reply: FastifyReply) =>
      reply.code(204).headers({ 'Access-Control-Max-Age': '300', 'Access-Control-Allow-Methods': 'POST, OPTIONS', ...corsHeaders(_req.raw) }).send()

    for (const prefix of opts.prefixes) {
      app.options(`${prefix}/connection/http_stream`, { schema: { hide: true } }, preflight)
      app.options(`${prefix}/emulation`, { schema: { hide: true } }, preflight)

      app.post(`${prefix}/connection/http_stream`, { schema: { hide: true } }, async (req, reply) => {
        const body = req.body
        const empty = Buffer.isBuffer(body) ? body.length === 0 : typeof body !== 'string' || !body.trim()
        if (empty) return sendError(reply, 400, 'bad_request', 'the body must hold the connect command', 'body')
        return openStream('http_stream', body as string | Buffer, req, reply, httpStreamCodec(req.headers['content-type']))
      })

      const sse = async (req: FastifyRequest, reply: FastifyReply) => {
        const connect = req.method === 'GET' ? (req.query as Record<string, unknown>).cf_connect : textOf(req.body)
        if (typeof connect !== 'string' || !connect.trim()) {
          return sendError(reply, 400, 'bad_request', 'cf_connect must hold the connect command', 'cf_connect')
        }
        return openStream('sse', connect, req, reply)
      }
      app.get(`${prefix}/connection/sse`, { schema: { hide: true } }, sse)
      app.post(`${prefix}/connection/sse`, { schema: { hide: true } }, sse)

      // Unidirectional: the body or cf_connect is a bare ConnectRequest (an empty body connects with no data).
      app.post(`${prefix}/connection/uni_http_stream`, { schema: { hide: true } }, async (req, reply) => {
        const command = connectCommandOf(textOf(req.body) ?? '')
        if (command === undefined) return sendError(reply, 400, 'bad_request', 'the body must be a JSON ConnectRequest', 'body')
        return openStream('uni_http_stream', command, req, reply)
      })
      const uniSse = async (req: FastifyRequest, reply: FastifyReply) => {
        const raw = req.method === 'GET' ? (req.query as Record<string, unknown>).cf_connect : textOf(req.body)
        const command = connectCommandOf(typeof raw === 'string' ? raw : '')
        if (command === undefined) return sendError(reply, 400, 'bad_request', 'cf_connect must be a JSON ConnectRequest', 'cf_connect')
        return openStream('uni_sse', command, req, reply)
      }
      app.get(`${prefix}/connection/uni_sse`, { schema: { hide: true } }, uniSse)
      app.post(`${prefix}/connection/uni_sse`, { schema: { hide: true } }, uniSse)

      // Rate-limited per address before the body is read (Centrifugo has no such limit; 429 as the other edges answer).
      app.post(`${prefix}/emulation`, { schema: { hide: true }, onRequest: limitEmulation }, async (req, reply) => {
        // The protobuf SDK posts a binary EmulationRequest (application/octet-stream); `data` is then its Commands frame.
        const parsed = Buffer.isBuffer(req.body) ? decodeEmulationRequest(req.body) : parseEmulationRequest(typeof req.body === 'string' ? req.body : '')
        if ('field' in parsed) return sendError(reply, 400, 'bad_request', parsed.message, parsed.field)
        reply.headers(corsHeaders(req.raw))
        const found = await node.emulate(parsed)
        if (!found) return sendError(reply, 404, 'not_found', 'no such session on this node', 'session')
        return reply.code(204).send()
      })
    }
  }
}

/** The SDK's JSON EmulationRequest: `data` is the commands as the JSON text a WebSocket frame would carry. */
export interface EmulationRequest {
  node: string
  session: string
  data: string
}

function parseEmulationRequest(body: string): EmulationRequest | { field: string; message: string } {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return { field: 'body', message: 'the body must be a JSON EmulationRequest' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { field: 'body', message: 'the body must be a JSON object' }
  const v = value as Record<string, unknown>
  for (const field of ['node', 'session', 'data'] as const) {
    if (typeof v[field] !== 'string' || (field !== 'data' && v[field] === '')) return { field, message: `${field} must be a non-empty string` }
  }
  return { node: v.node as string, session: v.session as string, data: v.data as string }
}

/** A text body as text; a binary one (application/octet-stream) as its UTF-8 text, read as JSON as Centrifugo does. */
function textOf(body: unknown): string | undefined {
  return Buffer.isBuffer(body) ? body.toString() : typeof body === 'string' ? body : undefined
}

/** A page on another allowed origin (the widget) reads the stream only when its origin is echoed back. */
function corsHeaders(req: IncomingMessage): Record<string, string> {
  const origin = req.headers.origin
  if (!origin) return {}
  return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Headers': 'Content-Type', Vary: 'Origin' }
}

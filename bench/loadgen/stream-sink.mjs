/**
 * Sinks for G's other transports, as light as the WebSocket JSON sink (sink.mjs): a raw TCP socket, one shared
 * read buffer, and streaming decoders (stream-decode.mjs) that count every publication push by parsing the
 * transport's framing for real:
 * - `websocket-protobuf`: the WebSocket handshake with the `centrifuge-protobuf` subprotocol (as the SDK's
 *   protobuf build asks), binary frames of varint length-delimited Replies;
 * - `http_stream`: `POST /connection/http_stream` with the connect command as the body; a chunked response of
 *   one JSON reply per line;
 * - `sse`: `GET /connection/sse?cf_connect=…`; a chunked `text/event-stream`, one `data:` line per message;
 * - `http_stream-protobuf`: `POST /connection/http_stream` with `Content-Type: application/octet-stream` (how
 *   Centrifugo and centrifuge-js choose protobuf there) and a delimited Command; a chunked run of delimited Replies.
 * Ready on the connect reply; a disconnect push (the emulated transports' close) reports its code.
 */
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { clientFrame } from './sink.mjs'
import {
  ChunkedDecoder, classifyJson, classifyProtobuf, CONNECTED, DelimitedScanner, DISCONNECT, ERROR, lastDisconnect, LineScanner, PING, PUB,
} from './stream-decode.mjs'

const HEADER_END = Buffer.from('\r\n\r\n')
const SSE_DATA = Buffer.from('data: ')
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024)
/** The protobuf pong: an empty Command, length-delimited. */
const PROTOBUF_PONG = Buffer.from([0])

/** The G transports a sink speaks, with whether they are protobuf. */
export const STREAM_TRANSPORTS = ['websocket-protobuf', 'http_stream', 'sse', 'http_stream-protobuf']

/** A masked client binary frame with an all-zero mask. */
const binaryFrame = (payload) => clientFrame(payload, 2)

/**
 * The HTTP request that opens `transport` with `connect` (the JSON connect command, or the delimited protobuf
 * Command for the protobuf transports).
 */
export function openingRequest(transport, port, connect) {
  const host = `Host: 127.0.0.1:${port}\r\n`
  if (transport === 'websocket-protobuf') {
    return `GET /connection/websocket HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: centrifuge-protobuf\r\n\r\n`
  }
  if (transport === 'sse') {
    return `GET /connection/sse?cf_connect=${encodeURIComponent(connect)} HTTP/1.1\r\n${host}Accept: text/event-stream\r\n\r\n`
  }
  const protobuf = transport === 'http_stream-protobuf'
  const body = Buffer.isBuffer(connect) ? connect : Buffer.from(connect)
  const head = `POST /connection/http_stream HTTP/1.1\r\n${host}Content-Type: ${protobuf ? 'application/octet-stream' : 'application/json'}\r\n` +
    `Accept: ${protobuf ? 'application/octet-stream' : 'application/json'}\r\nContent-Length: ${body.length}\r\n\r\n`
  return Buffer.concat([Buffer.from(head), body])
}

/**
 * Opens one sink over `transport`. `connect`: the JSON connect command (text) or, for the protobuf transports,
 * the delimited Command bytes. Resolves when the connect reply arrived; rejects on refusal or timeout.
 * `counter.delivered` counts publications; `onClose(code)` is called once.
 */
export function openStreamSink({ transport, port, localAddress, connect, counter, onClose, timeoutMs = 30_000 }) {
  if (!STREAM_TRANSPORTS.includes(transport)) throw new Error(`unknown transport ${transport}`)
  const protobuf = transport.endsWith('-protobuf')
  const websocket = transport === 'websocket-protobuf'
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: '127.0.0.1',
      port,
      localAddress,
      onread: { buffer: READ_BUFFER, callback: (nread, buf) => void receive(buf.subarray(0, nread)) },
    })
    socket.setNoDelay(true)
    let ready = false
    let settled = false
    let closedCode = 1006
    let head = null
    let body // (buf, start, end) => void: the response body or the WebSocket's message bytes
    const timer = setTimeout(() => fail(new Error('handshake timeout')), timeoutMs)

    const fail = (err) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      reject(err)
    }

    // [start, end) of `buf`: the message's head, read only for an error's text.
    const onMessage = (kind, buf, start, end) => {
      if (kind === PUB) {
        if (ready) counter.delivered++
      } else if (kind === CONNECTED) {
        if (ready) return
        ready = true
        settled = true
        clearTimeout(timer)
        resolve(sink)
      } else if (kind === ERROR) fail(new Error(`${transport} connect refused: ${buf.toString('utf8', start, end)}`))
      else if (kind === DISCONNECT) {
        closedCode = lastDisconnect.code
        if (!ready) fail(new Error(`${transport} disconnected ${lastDisconnect.code} during connect`))
      } else if (kind === PING && websocket && ready) socket.write(binaryFrame(PROTOBUF_PONG))
    }
    const messages = protobuf
      ? new DelimitedScanner((buf, start, end, length) => onMessage(classifyProtobuf(buf, start, end, length), buf, start, end))
      : new LineScanner(
        transport === 'sse'
          ? (buf, start, end) => {
            // One `data:` line per message; blank lines end events, other fields do not occur.
            if (end - start >= SSE_DATA.length && buf.compare(SSE_DATA, 0, SSE_DATA.length, start, start + SSE_DATA.length) === 0) {
              onMessage(classifyJson(buf, start + SSE_DATA.length, end), buf, start, end)
            }
          }
          : (buf, start, end) => onMessage(classifyJson(buf, start, end), buf, start, end),
      )
    const scan = (buf, start, end) => messages.push(buf, start, end)

    // WebSocket frames (server frames are unmasked): data frames' payload goes to the scanner, control frames
    // are read whole (close: its code; ping: a pong).
    let rem = 0
    let op = 0
    let control = null
    let stash = null
    const onControl = (payload) => {
      if (op === 8) {
        closedCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005
        socket.end()
      } else if (op === 9) socket.write(clientFrame(payload.toString(), 10))
    }
    const frames = (buf, start, end) => {
      let chunk = buf
      let i = start
      if (stash) {
        chunk = Buffer.concat([stash, buf.subarray(start, end)])
        stash = null
        i = 0
        end = chunk.length
      }
      while (i < end) {
        if (rem > 0) {
          const to = Math.min(end, i + rem)
          if (control) control.push(Buffer.from(chunk.subarray(i, to)))
          else scan(chunk, i, to)
          rem -= to - i
          i = to
          if (rem === 0 && control) {
            const payload = Buffer.concat(control)
            control = null
            onControl(payload)
          }
          continue
        }
        if (end - i < 2) return void (stash = Buffer.from(chunk.subarray(i, end)))
        let plen = chunk[i + 1] & 0x7f
        let hl = 2
        if (plen === 126) {
          if (end - i < 4) return void (stash = Buffer.from(chunk.subarray(i, end)))
          plen = chunk.readUInt16BE(i + 2)
          hl = 4
        } else if (plen === 127) {
          if (end - i < 10) return void (stash = Buffer.from(chunk.subarray(i, end)))
          plen = chunk.readUInt32BE(i + 6)
          hl = 10
        }
        op = chunk[i] & 0x0f
        i += hl
        rem = plen
        control = op >= 8 ? [] : null
        if (plen === 0 && control) {
          control = null
          onControl(Buffer.alloc(0))
        }
      }
    }

    const receive = (chunk) => {
      try {
        if (body) return body(chunk, 0, chunk.length)
        head = head ? Buffer.concat([head, chunk]) : Buffer.from(chunk)
        const at = head.indexOf(HEADER_END)
        if (at === -1) return
        const text = head.subarray(0, at).toString('latin1')
        const rest = head.subarray(at + 4)
        head = null
        const status = text.slice(0, 12)
        if (websocket) {
          if (!status.startsWith('HTTP/1.1 101')) return fail(new Error(`upgrade refused: ${text.split('\r\n')[0]}`))
          body = frames
          socket.write(binaryFrame(connect))
        } else {
          if (!status.startsWith('HTTP/1.1 200')) return fail(new Error(`${transport} refused: ${text.split('\r\n')[0]}${rest.length ? ` ${rest.toString().slice(0, 200)}` : ''}`))
          // Node answers a response of unknown length in chunks; without them the body runs until the close.
          if (/\r\ntransfer-encoding:\s*chunked/i.test(text)) {
            const chunked = new ChunkedDecoder(scan)
            body = (buf, start, end) => chunked.push(buf, start, end)
          } else body = scan
        }
        if (rest.length) body(rest, 0, rest.length)
      } catch (err) {
        // A framing error is the server's fault and ends this sink: counted as a close, never a crash.
        closedCode = 1002
        if (!settled) fail(err)
        else socket.destroy()
      }
    }

    socket.on('connect', () => socket.write(openingRequest(transport, port, connect)))
    socket.on('error', (err) => fail(err))
    socket.on('close', () => {
      if (!settled) fail(new Error(`closed during handshake (${closedCode})`))
      else onClose(closedCode)
    })

    const sink = {
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      close: () => socket.destroy(),
    }
  })
}

/**
 * A sink: a raw TCP socket that does the WebSocket handshake and the contender's hello, then only counts.
 * Counting rule: a server text frame of at least MIN_MESSAGE_BYTES is one message, plus one per '\n' inside
 * it when the contender joins messages into frames (B1c, G). Smaller frames are read whole and answered
 * (Socket.IO ping "2" → "3", Centrifugo ping "{}" → "{}").
 */
import net from 'node:net'
import { randomBytes } from 'node:crypto'

const MIN_MESSAGE_BYTES = 16
const HEADER_END = Buffer.from('\r\n\r\n')
// Every sink reads into this one buffer (`onread`): no Buffer per read, no stream machinery, so the load
// generator spends its core on the kernel's copy rather than on JS. Anything kept past a read is copied.
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024)

/** A masked client text frame with an all-zero mask (legal; servers do not check the key). */
export function clientFrame(text, opcode = 1) {
  const payload = Buffer.from(text)
  const len = payload.length
  const header = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len, 0, 0, 0, 0]) : Buffer.alloc(8)
  if (len >= 126) {
    if (len > 0xffff) throw new Error('client frame too large')
    header[0] = 0x80 | opcode
    header[1] = 0x80 | 126
    header.writeUInt16BE(len, 2)
  }
  return Buffer.concat([header, payload])
}

function countNewlines(buf, start, end) {
  let n = 0
  const view = buf.subarray(start, end)
  let i = view.indexOf(10)
  while (i !== -1) {
    n++
    i = view.indexOf(10, i + 1)
  }
  return n
}

/**
 * Opens one sink. `protocol`: 'ws' (ready on 101), 'sio' (open packet, then `40{auth}` until `40`),
 * 'centrifugo' (sends `hello`, ready on the connect reply). Resolves when ready; rejects on failure.
 * `counter.delivered` is shared by all sinks; `onClose(code)` is called once.
 */
export function openSink({ port, path, localAddress, protocol, hello, lines, counter, onClose, timeoutMs = 30_000 }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: '127.0.0.1',
      port,
      localAddress,
      onread: { buffer: READ_BUFFER, callback: (nread, buf) => void receive(buf.subarray(0, nread)) },
    })
    socket.setNoDelay(true)
    let ready = false
    let upgraded = false
    let head = null
    let stash = null
    let rem = 0
    let op = 0
    let small = null
    let closedCode = 1006
    let settled = false
    const timer = setTimeout(() => fail(new Error('handshake timeout')), timeoutMs)

    const fail = (err) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      reject(err)
    }
    const becomeReady = () => {
      ready = true
      settled = true
      clearTimeout(timer)
      resolve(sink)
    }

    const onSmall = (payload) => {
      if (op === 8) {
        closedCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005
        socket.end()
        return
      }
      if (op === 9) return void socket.write(clientFrame(payload.toString(), 10))
      const text = payload.toString()
      if (!ready) {
        if (protocol === 'sio') {
          if (text[0] === '0') socket.write(clientFrame(hello))
          else if (text.startsWith('40')) becomeReady()
          else if (text.startsWith('44')) fail(new Error(`socket.io connect refused: ${text}`))
        } else if (protocol === 'centrifugo') {
          if (text.includes('"connect"')) becomeReady()
          else fail(new Error(`centrifugo connect refused: ${text.slice(0, 200)}`))
        }
        return
      }
      if (protocol === 'sio' && text === '2') socket.write(clientFrame('3'))
      else if (protocol === 'centrifugo' && text === '{}') socket.write(clientFrame('{}'))
      else if (payload.length >= MIN_MESSAGE_BYTES) counter.delivered += 1 + (lines ? countNewlines(payload, 0, payload.length) : 0)
    }

    // `chunk` may be READ_BUFFER itself: whatever outlives a read is copied.
    const keep = (chunk, from) => void (stash = Buffer.from(chunk.subarray(from)))
    const onFrames = (chunk) => {
      if (stash) {
        chunk = Buffer.concat([stash, chunk])
        stash = null
      }
      const len = chunk.length
      let i = 0
      while (i < len) {
        if (rem > 0) {
          const end = Math.min(len, i + rem)
          if (small) small.push(Buffer.from(chunk.subarray(i, end)))
          else if (lines) counter.delivered += countNewlines(chunk, i, end)
          rem -= end - i
          i = end
          if (rem === 0 && small) {
            const payload = small.length === 1 ? small[0] : Buffer.concat(small)
            small = null
            onSmall(payload)
          }
          continue
        }
        if (len - i < 2) return keep(chunk, i)
        let plen = chunk[i + 1] & 0x7f
        let hl = 2
        if (plen === 126) {
          if (len - i < 4) return keep(chunk, i)
          plen = chunk.readUInt16BE(i + 2)
          hl = 4
        } else if (plen === 127) {
          if (len - i < 10) return keep(chunk, i)
          plen = chunk.readUInt32BE(i + 6)
          hl = 10
        }
        op = chunk[i] & 0x0f
        i += hl
        rem = plen
        if (!ready || op >= 8 || plen < MIN_MESSAGE_BYTES) small = []
        else counter.delivered++
        if (plen === 0) {
          small = null
          onSmall(Buffer.alloc(0))
        }
      }
    }

    socket.on('connect', () => {
      const key = randomBytes(16).toString('base64')
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      )
    })
    const receive = (chunk) => {
      if (upgraded) return onFrames(chunk)
      head = head ? Buffer.concat([head, chunk]) : Buffer.from(chunk)
      const end = head.indexOf(HEADER_END)
      if (end === -1) return
      const status = head.subarray(0, 12).toString()
      if (!status.startsWith('HTTP/1.1 101')) return fail(new Error(`upgrade refused: ${head.subarray(0, end).toString().split('\r\n')[0]}`))
      upgraded = true
      const rest = head.subarray(end + 4)
      head = null
      if (protocol === 'ws') becomeReady()
      else if (protocol === 'centrifugo') socket.write(clientFrame(hello))
      if (rest.length) onFrames(rest)
    }
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

/**
 * Streaming decoders for the sinks of G's other transports: HTTP/1.1 chunked bodies, newline-delimited lines
 * (HTTP-streaming JSON, SSE) and varint length-delimited protobuf Replies (WebSocket protobuf, HTTP-streaming
 * protobuf), each fed bytes in whatever pieces the socket gives them. A message is never assembled: only its
 * first HEAD_BYTES are looked at (copied only when a read splits them), which is enough to tell a publication
 * push from a reply, a ping or a disconnect. Classifiers follow Centrifugo's client protocol (client.proto v0.19.2).
 */

/** Bytes of a message a classifier sees: a publication push's channel and `pub` tag fit well within it. */
export const HEAD_BYTES = 128

/** What a message is, as far as counting goes. */
export const PUB = 1
export const PING = 2
export const CONNECTED = 3
export const ERROR = 4
export const DISCONNECT = 5
export const OTHER = 0

const NL = 10

/**
 * HTTP/1.1 chunked transfer decoding (RFC 9112 §7.1): the chunk data goes to `onData(buf, start, end)`;
 * `ended` turns true at the last chunk. Extensions and trailers are skipped.
 */
export class ChunkedDecoder {
  constructor(onData) {
    this.onData = onData
    this.state = 0 // 0 size line, 1 extension, 2 data, 3 CRLF after data, 4 ended
    this.size = 0
    this.rem = 0
    this.ended = false
  }

  sizeLineEnded() {
    if (this.size === 0) {
      this.state = 4
      this.ended = true
    } else {
      this.rem = this.size
      this.size = 0
      this.state = 2
    }
  }

  push(buf, start, end) {
    let i = start
    while (i < end) {
      switch (this.state) {
        case 0: {
          const c = buf[i++]
          if (c === NL) this.sizeLineEnded()
          else if (c === 59 /* ; */) this.state = 1
          else if (c !== 13 && c !== 32 && c !== 9) {
            const digit = c <= 57 ? c - 48 : (c | 0x20) - 87
            if (digit < 0 || digit > 15) throw new Error(`bad chunk size byte 0x${c.toString(16)}`)
            this.size = this.size * 16 + digit
          }
          break
        }
        case 1:
          if (buf[i++] === NL) this.sizeLineEnded()
          break
        case 2: {
          const take = Math.min(this.rem, end - i)
          this.onData(buf, i, i + take)
          this.rem -= take
          i += take
          if (this.rem === 0) this.state = 3
          break
        }
        case 3:
          if (buf[i++] === NL) this.state = 0
          break
        default:
          return
      }
    }
  }
}

/**
 * Splits a byte stream into lines ending in '\n' and calls `onLine(buf, start, end, length)` for each, where
 * [start, end) holds the line's first min(length, HEAD_BYTES) bytes (without the '\n'; a trailing '\r' kept).
 */
export class LineScanner {
  constructor(onLine) {
    this.onLine = onLine
    this.head = Buffer.allocUnsafe(HEAD_BYTES)
    this.headLen = 0
    this.length = 0 // bytes of the current line seen in earlier pieces
  }

  push(buf, start, end) {
    let i = start
    while (i < end) {
      let nl = buf.indexOf(NL, i)
      if (nl >= end) nl = -1
      if (nl === -1) {
        // The line goes on in the next piece: keep its head.
        const want = Math.min(HEAD_BYTES - this.headLen, end - i)
        if (want > 0) buf.copy(this.head, this.headLen, i, i + want)
        this.headLen += want
        this.length += end - i
        return
      }
      if (this.length === 0) {
        this.onLine(buf, i, Math.min(nl, i + HEAD_BYTES), nl - i)
      } else {
        const want = Math.min(HEAD_BYTES - this.headLen, nl - i)
        if (want > 0) buf.copy(this.head, this.headLen, i, i + want)
        const headLen = this.headLen + want
        const length = this.length + nl - i
        this.headLen = 0
        this.length = 0
        this.onLine(this.head, 0, headLen, length)
      }
      i = nl + 1
    }
  }
}

/**
 * Splits a byte stream into varint length-delimited messages and calls `onMessage(buf, start, end, length)`
 * for each, where [start, end) holds its first min(length, HEAD_BYTES) bytes. A length-0 message is a ping.
 */
export class DelimitedScanner {
  constructor(onMessage) {
    this.onMessage = onMessage
    this.head = Buffer.allocUnsafe(HEAD_BYTES)
    this.headLen = 0
    this.readingLength = true
    this.lengthValue = 0
    this.lengthScale = 1
    this.lengthBytes = 0
    this.length = 0
    this.rem = 0
  }

  push(buf, start, end) {
    let i = start
    while (i < end) {
      if (this.readingLength) {
        const byte = buf[i++]
        this.lengthValue += (byte & 0x7f) * this.lengthScale
        this.lengthScale *= 128
        if (++this.lengthBytes > 10) throw new Error('varint length longer than 10 bytes')
        if (byte >= 0x80) continue
        this.length = this.rem = this.lengthValue
        this.lengthValue = 0
        this.lengthScale = 1
        this.lengthBytes = 0
        this.readingLength = false
        this.headLen = 0
        if (this.length === 0) {
          this.readingLength = true
          this.onMessage(this.head, 0, 0, 0)
        }
        continue
      }
      const take = Math.min(this.rem, end - i)
      if (this.rem === this.length && take === this.length) {
        // The whole message is in this piece: look at it where it is.
        this.onMessage(buf, i, i + Math.min(take, HEAD_BYTES), this.length)
      } else {
        const want = Math.min(HEAD_BYTES - this.headLen, take)
        if (want > 0) {
          buf.copy(this.head, this.headLen, i, i + want)
          this.headLen += want
        }
        if (take === this.rem) this.onMessage(this.head, 0, this.headLen, this.length)
      }
      this.rem -= take
      i += take
      if (this.rem === 0) this.readingLength = true
    }
  }
}

// ---- JSON: one reply or push per line -----------------------------------------------------------

const PUSH_CHANNEL = Buffer.from('{"push":{"channel":"')
const PUB_AFTER_CHANNEL = Buffer.from(',"pub":')
const PUSH_DISCONNECT = Buffer.from('{"push":{"disconnect":{"code":')
const REPLY_ID_1 = Buffer.from('{"id":1,"')
const CONNECT = Buffer.from('connect"')
const ERROR_KEY = Buffer.from('error"')

const startsWith = (buf, start, end, prefix) => end - start >= prefix.length && buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0

/** Reads the decimal number at `i` (bounded by `end`); -1 when there is none. */
function decimalAt(buf, i, end) {
  let n = -1
  for (; i < end && buf[i] >= 48 && buf[i] <= 57; i++) n = (n < 0 ? 0 : n * 10) + buf[i] - 48
  return n
}

/** Set by the classifiers when they return DISCONNECT: the disconnect push's code. */
export const lastDisconnect = { code: 0 }

/**
 * Classifies one JSON line of Centrifugo's protocol from its head: a publication push (`{"push":{"channel":…,
 * "pub":`), the connect reply to command 1, an error reply to it, a disconnect push (its code in `lastDisconnect.code`),
 * or a ping (`{}`).
 */
export function classifyJson(buf, start, end) {
  if (end > start && buf[end - 1] === 13) end-- // '\r\n' line ends
  if (startsWith(buf, start, end, PUSH_CHANNEL)) {
    // Channel names come JSON-escaped: the string ends at the first quote not preceded by a backslash.
    let i = start + PUSH_CHANNEL.length
    while (i < end && (buf[i] !== 34 || buf[i - 1] === 92)) i++
    return startsWith(buf, i + 1, end, PUB_AFTER_CHANNEL) ? PUB : OTHER
  }
  if (end - start === 2 && buf[start] === 123 && buf[start + 1] === 125) return PING
  if (startsWith(buf, start, end, REPLY_ID_1)) {
    const i = start + REPLY_ID_1.length
    return startsWith(buf, i, end, CONNECT) ? CONNECTED : startsWith(buf, i, end, ERROR_KEY) ? ERROR : OTHER
  }
  if (startsWith(buf, start, end, PUSH_DISCONNECT)) {
    lastDisconnect.code = decimalAt(buf, start + PUSH_DISCONNECT.length, end)
    return DISCONNECT
  }
  return OTHER
}

// ---- protobuf: one length-delimited Reply per message -------------------------------------------

/** Set by `varintAt` to the position after the varint it read. */
let varintEnd = 0

/** The varint at `i`, or -1 when `end` cuts it. */
function varintAt(buf, i, end) {
  let value = 0
  let scale = 1
  for (let k = 0; k < 10 && i < end; k++) {
    const byte = buf[i++]
    value += (byte & 0x7f) * scale
    if (byte < 0x80) {
      varintEnd = i
      return value
    }
    scale *= 128
  }
  return -1
}

/** Skips one field's value of wire type `wire` at `i`; the position after it, or -1 past `end`. */
function skipValue(buf, i, end, wire) {
  if (wire === 0) return varintAt(buf, i, end) < 0 ? -1 : varintEnd
  if (wire === 1) return i + 8
  if (wire === 5) return i + 4
  if (wire === 2) {
    const len = varintAt(buf, i, end)
    return len < 0 ? -1 : varintEnd + len
  }
  return -1
}

/**
 * Classifies one Reply (client.proto: Reply.id = 1, error = 2, push = 4, connect = 5; Push.pub = 4,
 * disconnect = 11; Disconnect.code = 1) from its head. A length-0 Reply is a ping.
 */
export function classifyProtobuf(buf, start, end, length) {
  if (length === 0) return PING
  let i = start
  let id = 0
  while (i < end) {
    const tag = varintAt(buf, i, end)
    if (tag < 0) return OTHER
    i = varintEnd
    const field = tag >>> 3
    const wire = tag & 7
    if (field === 4 && wire === 2) {
      // Push: look for its pub (4) or disconnect (11) among its fields.
      const len = varintAt(buf, i, end)
      if (len < 0) return OTHER
      let j = varintEnd
      const pushEnd = Math.min(end, j + len)
      while (j < pushEnd) {
        const t = varintAt(buf, j, pushEnd)
        if (t < 0) return OTHER
        j = varintEnd
        if (t === 0x22) return PUB
        if (t === 0x5a) {
          if (varintAt(buf, j, pushEnd) < 0) return OTHER
          j = varintEnd
          lastDisconnect.code = buf[j] === 0x08 ? Math.max(0, varintAt(buf, j + 1, pushEnd)) : 0
          return DISCONNECT
        }
        j = skipValue(buf, j, pushEnd, t & 7)
        if (j < 0) return OTHER
      }
      return OTHER
    }
    if (field === 1 && wire === 0) {
      id = varintAt(buf, i, end)
      if (id < 0) return OTHER
      i = varintEnd
      continue
    }
    if (id === 1 && field === 5) return CONNECTED
    if (id === 1 && field === 2) return ERROR
    i = skipValue(buf, i, end, wire)
    if (i < 0) return OTHER
  }
  return OTHER
}

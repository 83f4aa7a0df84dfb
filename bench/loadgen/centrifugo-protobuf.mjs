/**
 * Centrifugo's client protocol in protobuf for the load generator: Commands encoded and Replies decoded by
 * protobufjs from Centrifugo's own `client.proto` (the copy livedesk vendors, read from dist/), not by livedesk's
 * codec, so a probe checks livedesk's encoding rather than repeating it. `data` bytes hold JSON text.
 */
import protobuf from 'protobufjs'

const { CLIENT_PROTO } = await import('../../dist/protocol/client-proto.js').catch(() => {
  throw new Error('dist/protocol/client-proto.js is missing: run `npm run build` first')
})
const root = protobuf.parse(CLIENT_PROTO, { keepCase: true }).root
const Command = root.lookupType('centrifugal.centrifuge.protocol.Command')
const Reply = root.lookupType('centrifugal.centrifuge.protocol.Reply')

/** One Command, varint length-delimited (a frame or request body of one command). */
export const encodeCommand = (command) => Buffer.from(Command.encodeDelimited(Command.fromObject(command)).finish())

/**
 * Decodes a stream of delimited Replies fed in pieces: `push(bytes)` returns the Replies completed by it (as
 * protobufjs objects) and keeps any incomplete rest for the next piece.
 */
export class ReplyStream {
  constructor() {
    this.rest = Buffer.alloc(0)
  }

  push(bytes) {
    const buf = this.rest.length ? Buffer.concat([this.rest, bytes]) : bytes
    const replies = []
    let pos = 0
    while (pos < buf.length) {
      // The length prefix, then the whole message, or wait for more.
      let length = 0
      let scale = 1
      let i = pos
      for (; i < buf.length && i - pos < 10; i++) {
        length += (buf[i] & 0x7f) * scale
        scale *= 128
        if (buf[i] < 0x80) break
      }
      if (i >= buf.length || buf.length - (i + 1) < length) break
      replies.push(Reply.decode(buf.subarray(i + 1, i + 1 + length)))
      pos = i + 1 + length
    }
    this.rest = Buffer.from(buf.subarray(pos))
    return replies
  }
}

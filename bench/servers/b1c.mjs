/**
 * B1c, raw `ws` with per-connection coalescing: publications queue per connection and go out once per
 * event-loop turn as newline-joined frames of at most `maxMessagesInFrame` (16, Centrifugo's default).
 */
import { WebSocketServer, Sender } from 'ws'

const FRAME = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }
const NEWLINE = Buffer.from('\n')

export async function start({ host, maxMessagesInFrame = 16 }) {
  const wss = new WebSocketServer({ host, port: 0, path: '/ws', perMessageDeflate: false, clientTracking: false })
  const rooms = new Map()
  let connections = 0
  let dirty = []
  let scheduled = false

  wss.on('connection', (ws, req) => {
    const channel = new URL(req.url, 'http://x').searchParams.get('ch') ?? ''
    let room = rooms.get(channel)
    if (!room) rooms.set(channel, (room = new Set()))
    const conn = { ws, pending: null }
    room.add(conn)
    connections++
    ws.on('error', () => {})
    ws.on('close', () => {
      room.delete(conn)
      connections--
    })
  })

  const flush = () => {
    scheduled = false
    const batch = dirty
    dirty = []
    for (const conn of batch) {
      const pending = conn.pending
      conn.pending = null
      if (conn.ws.readyState !== 1) continue
      for (let i = 0; i < pending.length; i += maxMessagesInFrame) {
        const end = Math.min(pending.length, i + maxMessagesInFrame)
        if (end - i === 1) {
          conn.ws._sender.sendFrame(pending[i].frame)
          continue
        }
        const parts = []
        for (let j = i; j < end; j++) {
          if (j > i) parts.push(NEWLINE)
          parts.push(pending[j].buf)
        }
        conn.ws._sender.sendFrame(Sender.frame(Buffer.concat(parts), FRAME))
      }
    }
  }

  await new Promise((resolve) => wss.on('listening', resolve))
  return {
    port: wss.address().port,
    path: '/ws',
    connections: () => connections,
    publish(channel, data) {
      const room = rooms.get(channel)
      if (!room) return
      const buf = Buffer.from(JSON.stringify(data))
      const message = { buf, frame: Sender.frame(buf, FRAME) }
      for (const conn of room) {
        if (conn.pending === null) {
          conn.pending = [message]
          dirty.push(conn)
        } else conn.pending.push(message)
      }
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    close: () => new Promise((resolve) => wss.close(() => resolve())),
  }
}

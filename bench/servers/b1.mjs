/** B1, the physical limit: raw `ws`, each publication framed once and written to every subscriber with `sendFrame`. */
import { WebSocketServer, Sender } from 'ws'

const FRAME = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }

export async function start({ host }) {
  const wss = new WebSocketServer({ host, port: 0, path: '/ws', perMessageDeflate: false, clientTracking: false })
  const rooms = new Map()
  let connections = 0
  wss.on('connection', (ws, req) => {
    const channel = new URL(req.url, 'http://x').searchParams.get('ch') ?? ''
    let room = rooms.get(channel)
    if (!room) rooms.set(channel, (room = new Set()))
    room.add(ws)
    connections++
    ws.on('error', () => {})
    ws.on('close', () => {
      room.delete(ws)
      connections--
    })
  })
  await new Promise((resolve) => wss.on('listening', resolve))
  return {
    port: wss.address().port,
    path: '/ws',
    connections: () => connections,
    publish(channel, data) {
      const room = rooms.get(channel)
      if (!room) return
      const frame = Sender.frame(Buffer.from(JSON.stringify(data)), FRAME)
      for (const ws of room) if (ws.readyState === 1) ws._sender.sendFrame(frame)
    },
    close: () => new Promise((resolve) => wss.close(() => resolve())),
  }
}

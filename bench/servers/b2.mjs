/** B2, what users pick: Socket.IO 4, WebSocket transport only, `io.to(room).emit`, request references dropped. */
import { createServer } from 'node:http'
import { Server } from 'socket.io'

export async function start({ host, pingIntervalMs }) {
  const http = createServer()
  const io = new Server(http, {
    transports: ['websocket'],
    perMessageDeflate: false,
    serveClient: false,
    pingInterval: pingIntervalMs,
    pingTimeout: 20_000,
  })
  let connections = 0
  // Socket.IO's own memory advice: the HTTP request of each connection is otherwise kept alive.
  io.engine.on('connection', (rawSocket) => {
    rawSocket.request = null
  })
  io.on('connection', (socket) => {
    connections++
    socket.join(String(socket.handshake.auth?.ch ?? ''))
    socket.on('disconnect', () => connections--)
  })
  await new Promise((resolve) => http.listen(0, host, resolve))
  return {
    port: http.address().port,
    path: '/socket.io/',
    connections: () => connections,
    publish(channel, data) {
      io.to(channel).emit('m', data)
    },
    close: () => new Promise((resolve) => io.close(() => resolve())),
  }
}

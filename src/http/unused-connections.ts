/**
 * Connections that never sent a request (a browser's preconnect, a TCP health check, a fetch aborted while its
 * socket was connecting) are not idle to Node, and its `server.close()` stops the timer that would expire them:
 * each would hold a shutdown open for as long as its peer keeps it. The server ends them when it closes.
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Socket } from 'node:net'

/** Tracks the server's connections until their first request (or upgrade); `end()` ends the rest and any accepted later. */
export function unusedConnections(server: Server): { end(): void } {
  const unused = new Set<Socket>()
  let closing = false
  server.on('connection', (socket: Socket) => {
    // Accepted between the close hook and the end of listening: nothing will serve it.
    if (closing) return void socket.destroy()
    unused.add(socket)
    socket.once('close', () => unused.delete(socket))
  })
  const used = (req: IncomingMessage) => void unused.delete(req.socket)
  server.on('request', used)
  server.on('upgrade', used)
  return {
    end() {
      closing = true
      for (const socket of unused) socket.destroy()
      unused.clear()
    },
  }
}

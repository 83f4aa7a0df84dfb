/** A loopback TCP proxy a test can cut (every connection dropped, new ones refused) and restore on the same port. */
import { connect, createServer, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  port: number
  /** Drops every open connection and stops listening: the target looks unreachable. */
  cut(): Promise<void>
  /** Listens again on the same port. */
  restore(): Promise<void>
  close(): Promise<void>
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((inbound) => {
        const outbound = connect(target.port, target.host)
        for (const s of [inbound, outbound]) {
          sockets.add(s)
          s.on('close', () => sockets.delete(s))
          s.on('error', () => { inbound.destroy(); outbound.destroy() })
        }
        inbound.pipe(outbound).pipe(inbound)
      })
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port
        resolve()
      })
    })
  const cut = async () => {
    const s = server
    server = undefined
    for (const socket of sockets) socket.destroy()
    if (s) await new Promise<void>((r) => s.close(() => r()))
  }
  await listen()
  return { port, cut, restore: listen, close: cut }
}

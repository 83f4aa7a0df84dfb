/** One loopback address in front of several nodes, like a load balancer whose backend the test picks. */
import { createServer, connect, type Server, type Socket } from 'node:net'

export class SwitchProxy {
  /** Port new connections go to; null refuses them (every node unreachable). */
  target: number | null
  private readonly open = new Set<Socket>()

  private constructor(private readonly server: Server, target: number | null) {
    this.target = target
  }

  static async start(target: number | null): Promise<SwitchProxy> {
    const server = createServer()
    const proxy = new SwitchProxy(server, target)
    server.on('connection', (socket) => proxy.accept(socket))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  get port(): number {
    return (this.server.address() as { port: number }).port
  }

  /** Drops every open connection at once, as a node crash or a network cut would. */
  cutAll(): void {
    for (const socket of this.open) socket.destroy()
  }

  async close(): Promise<void> {
    this.cutAll()
    await new Promise((resolve) => this.server.close(resolve))
  }

  private accept(socket: Socket): void {
    if (this.target === null) {
      socket.destroy()
      return
    }
    const upstream = connect(this.target, '127.0.0.1')
    for (const [from, to] of [[socket, upstream], [upstream, socket]] as const) {
      this.open.add(from)
      from.pipe(to)
      from.on('error', () => to.destroy())
      from.on('close', () => {
        this.open.delete(from)
        to.destroy()
      })
    }
  }
}

/** A user's backend for the proxy tests: a real node:http server on 127.0.0.1 that records every request and
 * answers by path with the handler the test set. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received { path: string; headers: IncomingHttpHeaders; body: any }
export type Answer = { status?: number; delayMs?: number; json?: unknown }
export type Handler = (body: any, headers: IncomingHttpHeaders) => Answer | Promise<Answer>

export class ProxyBackend {
  readonly received: Received[] = []
  readonly handlers = new Map<string, Handler>()
  private server!: Server
  url = ''

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let text = ''
      req.on('data', (c) => (text += c))
      req.on('end', async () => {
        const path = req.url ?? ''
        const body = JSON.parse(text)
        this.received.push({ path, headers: req.headers, body })
        const handler = this.handlers.get(path)
        const answer = handler ? await handler(body, req.headers) : { status: 404 }
        if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs))
        if (res.destroyed) return
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' })
        res.end(answer.json === undefined ? '' : JSON.stringify(answer.json))
      })
    })
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  on(path: string, handler: Handler): void {
    this.handlers.set(path, handler)
  }

  /** Answers `path` with 200 and the JSON `reply` returns. */
  json(path: string, reply: (body: any) => unknown): void {
    this.handlers.set(path, (body) => ({ json: reply(body) }))
  }

  /** Requests to `path` so far. */
  to(path: string): Received[] {
    return this.received.filter((r) => r.path === path)
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((r) => this.server.close(() => r()))
  }
}

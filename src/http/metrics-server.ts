/** `/metrics` on a listener of its own (METRICS_ADDRESS), e.g. loopback or a private network, away from the public port. */
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify'
import type { Logger } from 'pino'
import type { Node } from '../realtime/node.js'
import type { DbStats } from '../store/db.js'
import { metrics } from './metrics.js'
import type { Observations } from './observability.js'
import { securityHeaders } from './security-headers.js'
import { serverTimeoutOptions, type HttpTimeouts } from './timeouts.js'

/** `host:port`, `[v6]:port` or a bare port (all interfaces, as HOST's default); port 0 picks a free one. */
export function parseListenAddress(address: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(address.trim())
  const port = m ? Number(m[2]) : NaN
  if (!m || port > 65535) throw new Error(`METRICS_ADDRESS must be host:port or a port, got "${address}"`)
  return { host: (m[1] ?? '0.0.0.0').replace(/^\[|\]$/g, ''), port }
}

export interface MetricsServer {
  /** `http://host:port` as bound. */
  url: string
  close(): Promise<void>
}

export async function startMetricsServer(opts: {
  address: string
  node: Node
  db?: DbStats
  token?: string
  log: Logger
  timeouts?: Partial<HttpTimeouts>
  observations?: Observations
}): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(opts.address)
  const app = Fastify({ ...serverTimeoutOptions(opts.timeouts), loggerInstance: opts.log as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) })
  app.addHook('onSend', securityHeaders())
  await app.register(metrics({ node: opts.node, db: opts.db, token: opts.token, observations: opts.observations }))
  await app.listen({ host, port })
  const bound = app.server.address()
  const url = typeof bound === 'object' && bound ? `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : `http://${host}:${port}`
  return { url, close: () => app.close() }
}

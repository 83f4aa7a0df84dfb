/** The HTTP edge: health, metrics, Centrifugo's server API, OpenAPI and docs, the web pages, and any plugin handed in. */
import { existsSync } from 'node:fs'
import fastifyStatic from '@fastify/static'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import type { Logger } from 'pino'
import type { Node } from '../realtime/node.js'
import type { DbStats } from '../store/db.js'
import { metrics } from './metrics.js'
import type { Observations } from './observability.js'
import { securityHeaders } from './security-headers.js'
import { serverApi, type ServerApiOptions } from './server-api.js'
import { serverTimeoutOptions, type HttpTimeouts } from './timeouts.js'
import { unusedConnections } from './unused-connections.js'

export interface AppOptions {
  node: Node
  apiKey: string
  log: Logger
  /** Built console and widget (web/dist); served when present. */
  webDir?: string
  /** Largest accepted request body in bytes. @default 1_048_576 */
  bodyLimit?: number
  /** The database's running totals, shown at /metrics. */
  dbStats?: DbStats
  /**
   * Fastify's `trustProxy`: behind nginx, `true` (or a list of proxy addresses) takes the client's address from
   * X-Forwarded-For, so per-IP limits and stored addresses are the visitors', not the proxy's.
   */
  trustProxy?: boolean | string | string[]
  /** Further APIs, such as the domain's /api/v1. */
  plugins?: Array<{ plugin: FastifyPluginAsync; prefix: string }>
  /** How long a client may take to send a request or stay idle (timeouts.ts); WebSockets are not affected. */
  timeouts?: Partial<HttpTimeouts>
  /** CSP frame-ancestors of the widget page (security-headers.ts). @default ['*'] */
  widgetFrameAncestors?: string[]
  /** The server API's own limits: the key in the query string, the pattern length, the JSON depth. */
  serverApi?: Omit<ServerApiOptions, 'node' | 'apiKey'>
  /** When set, `/metrics` needs `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string
  /** Serve `/metrics` here; false when a listener of its own does (metrics-server.ts). @default true */
  metricsOnMainPort?: boolean
  /** Latency metrics (observability.ts), served at /metrics with the counters. */
  observations?: Observations
  /** Called first on the new instance: request hooks that must see every route (traces). */
  instrument?: (app: FastifyInstance) => void
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({ ...serverTimeoutOptions(opts.timeouts), trustProxy: opts.trustProxy ?? false, loggerInstance: opts.log as FastifyBaseLogger, bodyLimit: opts.bodyLimit ?? 1_048_576, logController: new LogController({ disableRequestLogging: true }) })
  // A connection that never sent a request would otherwise hold close() open (unused-connections.ts).
  const unused = unusedConnections(app.server)
  app.addHook('preClose', async () => unused.end())
  // First, so every route registered below (plugins, static pages, 404s) answers with the headers.
  app.addHook('onSend', securityHeaders({ widgetFrameAncestors: opts.widgetFrameAncestors }))
  opts.observations?.instrumentHttp(app)
  opts.instrument?.(app)

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'livedesk API', version: opts.node.version, description: 'Operators, clients, sessions and messages. Live events travel over the Centrifugo-compatible WebSocket at /centrifugo/connection/websocket.' },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'The API key (API_KEY) of trusted backends' },
          operatorToken: { type: 'http', scheme: 'bearer', description: 'An operator token from POST /api/v1/operators/{id}/tokens' },
          clientToken: { type: 'http', scheme: 'bearer', description: 'A client token from POST /api/v1/widget/clients or POST /api/v1/clients' },
        },
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { url: '/api/v1/openapi.json' } as never })

  app.get('/health', { schema: { hide: true } }, async (_req, reply) => {
    if (opts.node.isClosing) return reply.code(503).send({ status: 'shutting down' })
    return { status: 'ok', node: opts.node.config.nodeId }
  })
  if (opts.metricsOnMainPort !== false) await app.register(metrics({ node: opts.node, db: opts.dbStats, token: opts.metricsToken, observations: opts.observations }))
  await app.register(serverApi({ ...opts.serverApi, node: opts.node, apiKey: opts.apiKey }))
  for (const { plugin, prefix } of opts.plugins ?? []) await app.register(plugin, { prefix })
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  if (opts.webDir && existsSync(opts.webDir)) {
    await app.register(fastifyStatic, { root: opts.webDir, index: 'index.html' })
    app.get('/widget', { schema: { hide: true } }, (_req, reply) => reply.sendFile('widget/index.html'))
    app.get('/admin', { schema: { hide: true } }, (_req, reply) => reply.sendFile('admin/index.html'))
  }
  return app
}

/** Prometheus metrics at `GET /metrics`: gauges and counters read from the node's plain counters at scrape time. */
import type { FastifyPluginAsync } from 'fastify'
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { Node } from '../realtime/node.js'
import type { DbStats } from '../store/db.js'
import type { Observations } from './observability.js'
import { secretMatcher } from './secret.js'

/**
 * `db` absent in gateway-only mode; with `token`, a scrape needs `Authorization: Bearer <token>` (else 401).
 * With `observations`, its histograms are served too (they share its registry, labelled by node).
 */
export function metrics(opts: { node: Node; db?: DbStats; token?: string; observations?: Observations }): FastifyPluginAsync {
  const { node } = opts
  const registry = opts.observations?.registry ?? new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'livedesk_' })
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()) } })
  // A counter mirrored from a running total kept by the node.
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()) } })
  gauge('livedesk_connections', 'Authenticated connections on this node', () => node.hub.clients.size)
  gauge('livedesk_users', 'Distinct users connected to this node', () => node.hub.users.size)
  gauge('livedesk_channels', 'Channels with a subscriber on this node', () => node.hub.channels.size)
  gauge('livedesk_subscriptions', 'Subscriptions on this node', () => node.hub.numSubscriptions())
  counter('livedesk_connects_total', 'Successful connects', () => node.stats.connects)
  counter('livedesk_publications_total', 'Publications made through this node', () => node.stats.publications)
  counter('livedesk_deliveries_total', 'Publications delivered to local subscribers', () => node.stats.deliveries)
  counter('livedesk_frames_total', 'WebSocket frame batches written', () => node.stats.frames)
  counter('livedesk_slow_disconnects_total', 'Connections cut because their queue overflowed (3008)', () => node.stats.slowDisconnects)
  counter('livedesk_errors_total', 'Commands that failed with an internal error', () => node.stats.errors)
  const db = opts.db
  if (db) {
    counter('livedesk_db_statements_total', 'SQL statements sent by this node, BEGIN and COMMIT included', () => db.statements)
    counter('livedesk_db_transactions_total', 'Database transactions run by this node', () => db.transactions)
  }

  const tokenMatches = opts.token ? secretMatcher(opts.token) : undefined
  return async (app) => {
    app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
      if (tokenMatches && !tokenMatches(/^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1])) {
        return reply.code(401).header('www-authenticate', 'Bearer').send({ error: { code: 'unauthorized', message: '/metrics needs Authorization: Bearer <METRICS_TOKEN>' } })
      }
      reply.header('content-type', registry.contentType)
      return registry.metrics()
    })
  }
}

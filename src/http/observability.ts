/**
 * Latency and backlog metrics, every one labelled with this node: gateway commands, HTTP requests, domain
 * transactions, publish-to-delivery lag, the outbox backlog and broker errors. They live in one prom-client
 * registry that `/metrics` (metrics.ts) serves with the node's counters; those carry no `node` label, and
 * `livedesk_node_info{node}` joins them to it by scrape target (`* on (instance) group_left(node)`).
 */
import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client'
import type { Node } from '../realtime/node.js'
import type { Db, DbStats } from '../store/db.js'
import { unpublishedCount } from '../store/outbox.js'

/** Seconds: from 0.5 ms (a local command) to 10 s (a stuck transaction). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Seconds: a healthy disk flushes in a millisecond or less; a commit over 0.1 s is one an operator notices. */
const WAL_FLUSH_BUCKETS = [0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

/** Publications awaiting their delivery on this node, kept at most this long (they may never come back). */
const LAG_PENDING_MS = 10_000
/** And at most this many: past it, new publications are not timed until the oldest age out. */
const LAG_PENDING_MAX = 10_000

/** Traces are on when OTEL_TRACES_EXPORTER names an exporter (not `none`) or an OTLP endpoint is set (tracing.ts). */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  const exporter = env.OTEL_TRACES_EXPORTER?.trim()
  if (exporter === 'none') return false
  return Boolean(exporter || env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
}

type Labels<T extends string> = LabelValues<T | 'node'>

export class Observations {
  readonly registry = new Registry()
  private readonly commandSeconds: Histogram<'node' | 'transport' | 'command'>
  private readonly httpSeconds: Histogram<'node' | 'route' | 'method' | 'status_class'>
  private readonly transactionSeconds
  private readonly deliveryLagSeconds
  readonly brokerErrors

  constructor(private readonly nodeId: string) {
    const registers = [this.registry]
    const histogram = <T extends string>(name: string, help: string, labelNames: T[]) =>
      new Histogram<T | 'node'>({ name, help, labelNames: ['node', ...labelNames], buckets: LATENCY_BUCKETS, registers })
    this.commandSeconds = histogram('livedesk_command_duration_seconds', 'Gateway commands, from their arrival to their reply being queued', ['transport', 'command'])
    this.httpSeconds = histogram('livedesk_http_request_duration_seconds', 'HTTP requests, by route pattern (unmatched for 404s), method and status class', ['route', 'method', 'status_class'])
    this.transactionSeconds = histogram('livedesk_domain_transaction_duration_seconds', 'Domain transactions, waiting for the connection included', []).labels(nodeId)
    this.deliveryLagSeconds = histogram('livedesk_delivery_lag_seconds', 'From a publish on this node to its frames written to this node\'s sockets, once per publication with local subscribers', []).labels(nodeId)
    this.brokerErrors = new Counter({ name: 'livedesk_broker_errors_total', help: 'Errors reported by the broker and presence connections (Redis)', labelNames: ['node'], registers }).labels(nodeId)
    this.brokerErrors.inc(0)
    new Gauge({ name: 'livedesk_node_info', help: 'This node\'s name (1); joins the unlabelled counters to a node', labelNames: ['node'], registers }).labels(nodeId).set(1)
  }

  private labels<T extends string>(values: LabelValues<T>): Labels<T> {
    return { ...values, node: this.nodeId } as Labels<T>
  }

  /** The unpublished events of the outbox, read at scrape time. */
  outboxBacklog(db: Db): void {
    const nodeId = this.nodeId
    new Gauge({
      name: 'livedesk_outbox_backlog', help: "Events committed and not yet passed by their node's heartbeated watermark (all nodes; includes the last seconds)", labelNames: ['node'], registers: [this.registry],
      async collect() {
        this.set({ node: nodeId }, await unpublishedCount(db))
      },
    })
  }

  /** PGlite with PGLITE_DURABILITY=fsync: how long each WAL flush took (every commit in flight waits for it); else nothing. */
  walFlushes(stats: DbStats): void {
    if (stats.fsyncs === undefined) return
    const seconds = new Histogram({
      name: 'livedesk_pglite_wal_flush_seconds',
      help: 'PGlite (PGLITE_DURABILITY=fsync): how long each flush of the WAL to the disk took; the commits in flight waited for it',
      labelNames: ['node'],
      buckets: WAL_FLUSH_BUCKETS,
      registers: [this.registry],
    }).labels(this.nodeId)
    stats.onWalFlush = (s) => seconds.observe(s)
  }

  /** PGlite: how long each vacuum or analyse of a table took (statements wait for it); its errors go to `onError`. */
  pgliteMaintenance(stats: DbStats, onError: (err: unknown) => void): void {
    const seconds = new Histogram({
      name: 'livedesk_pglite_maintenance_seconds',
      help: 'PGlite, which has no autovacuum: each vacuum or analyse of a table past its thresholds, by operation; statements waited for it',
      labelNames: ['node', 'operation'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    })
    for (const operation of ['vacuum', 'analyze']) seconds.zero({ node: this.nodeId, operation })
    stats.onMaintenance = (run) => seconds.observe({ node: this.nodeId, operation: run.operation }, run.seconds)
    stats.onMaintenanceError = onError
  }

  /** Times every request that reached fastify (WebSocket upgrades do not). */
  instrumentHttp(app: FastifyInstance): void {
    app.addHook('onResponse', async (req, reply) => {
      const status = `${Math.floor(reply.statusCode / 100)}xx`
      this.httpSeconds.observe(this.labels({ route: req.routeOptions.url ?? 'unmatched', method: req.method, status_class: status }), reply.elapsedTime / 1000)
    })
  }

  /**
   * Times the node's commands, and the lag of publications made here: from `publishJson` to the end of the
   * event-loop turn whose flush wrote them (a setImmediate queued after the node's flush). One observation per
   * publication with local subscribers, not per subscriber; a publication made on another node is timed there
   * (clocks may differ).
   */
  instrumentNode(node: Node): void {
    node.observeCommand = (transport, command, startedAt) =>
      this.commandSeconds.observe(this.labels({ transport, command }), (performance.now() - startedAt) / 1000)
    // Two generations: an entry is dropped after one to two LAG_PENDING_MS if its publication never comes back.
    // Keyed by the publication's data: the string a broker hands back keeps its hash, where a key built from it
    // (channel + data) was a new string to hash per lookup. One event published to several channels counts each.
    let current = new Map<string, { at: number; channels: number }>()
    let previous = new Map<string, { at: number; channels: number }>()
    const rotate = setInterval(() => {
      previous = current
      current = new Map()
    }, LAG_PENDING_MS)
    rotate.unref()
    // A publication back from the broker is a new object (Redis): its data finds the one published here.
    node.observePublication = {
      published: (_channel, pub) => {
        const pending = current.get(pub.data)
        if (pending) pending.channels++
        else if (current.size < LAG_PENDING_MAX) current.set(pub.data, { at: performance.now(), channels: 1 })
      },
      fannedOut: (_channel, pub, subscribers) => {
        const generation = current.has(pub.data) ? current : previous
        const pending = generation.get(pub.data)
        if (pending === undefined) return
        if (--pending.channels === 0) generation.delete(pub.data)
        const startedAt = pending.at
        if (subscribers > 0) setImmediate(() => this.deliveryLagSeconds.observe((performance.now() - startedAt) / 1000))
      },
      pending: () => current.size + previous.size,
    }
  }

  /** The same database, its transactions timed. */
  timedDb(db: Db): Db {
    const seconds = this.transactionSeconds
    return {
      query: (sql, params) => db.query(sql, params),
      async transaction(fn) {
        const end = seconds.startTimer()
        try {
          return await db.transaction(fn)
        } finally {
          end()
        }
      },
      close: () => db.close(),
      connections: db.connections,
      get stats() {
        return db.stats
      },
    }
  }
}

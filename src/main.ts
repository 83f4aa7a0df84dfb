/** Configuration and wiring: reads the environment, builds the parts, and starts them. Nothing else lives here. */
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Logger } from 'pino'
import { chooseLogFormat, createLogger, printStartBanner, type LogFormat } from './log.js'
import { Errors, ReplyError, Disconnect } from './protocol/codes.js'
import { MemoryBroker } from './realtime/broker-memory.js'
import type { Broker } from './realtime/broker.js'
import type { NamespaceOptions, RealtimeConfig } from './realtime/config.js'
import { loadConfig, printableConfig, realtimeConfigOf } from './config/index.js'
import { isStandalone, withDomainNamespaces } from './config/standalone.js'
import { besideStandalone, isDomainConnect } from './realtime/standalone-hooks.js'
import { Node } from './realtime/node.js'
import { createMapBroker, type MapBrokerType } from './realtime/map-brokers.js'
import { MemoryPresenceManager } from './realtime/presence-memory.js'
import type { PresenceManager } from './realtime/presence.js'
import { attachWebSocket } from './realtime/transport-ws.js'
import { httpTransports } from './realtime/transport-http.js'
import { attachUniWebSocket } from './realtime/transport-uni.js'
import { MemoryConnectionCounter, maxServerConnections, type LimitStore, type RateLimit } from './realtime/limits.js'
import { apiV1 } from './http/api-v1.js'
import { buildApp } from './http/app.js'
import { startMetricsServer } from './http/metrics-server.js'
import { Observations, tracingWanted } from './http/observability.js'
import type { TracingOptions } from './http/tracing.js'
import type { HttpTimeouts } from './http/timeouts.js'
import type { RealtimeHooks } from './realtime/hooks.js'
import { checkProxyConfig, hasProxies, type ProxyConfig } from './realtime/proxy/config.js'
import { withProxies } from './realtime/proxy/hooks.js'
import { namespaceNameOf } from './realtime/channel-rules.js'
import { createDomain, DEFAULT_DOMAIN_CONFIG, type Domain, type DomainConfig } from './domain/index.js'
import type { LiveGateway } from './domain/ports.js'
import { openDb } from './store/index.js'
import { Readiness, databaseCheck, readyRoute, redisChecks } from './http/ready.js'
import { configSchemaRoute } from './http/config-schema.js'
import { backupRoute } from './http/backup.js'
import type { PgliteDurability } from './store/pglite-durability.js'
import { Attachments, DEFAULT_ATTACHMENT_MAX_BYTES, DEFAULT_ATTACHMENT_TYPES, type AttachmentOptions } from './domain/attachments.js'
import { openAttachmentStorage } from './store/attachments.js'

export interface LivedeskOptions {
  port?: number
  host?: string
  apiKey?: string
  dataDir?: string
  databaseUrl?: string
  /** Connections to the PostgreSQL server: the most statements this node runs at once. @default 10 */
  databasePoolSize?: number
  /** PGlite: 'fsync' flushes every commit to the disk (survives a power loss), 'relaxed' leaves it to the kernel. @default 'fsync' */
  pgliteDurability?: PgliteDurability
  /** PGlite, which has no autovacuum: how often its tables past autovacuum's thresholds are vacuumed and analysed; 0: never. @default 60 000 */
  pgliteMaintenanceIntervalMs?: number
  redisUrl?: string
  /** Key and channel prefix in Redis, so that several deployments can share one server. @default 'livedesk' */
  redisPrefix?: string
  /** Where map subscriptions keep their state (Centrifugo's `map_broker.type`). @default 'redis' with redisUrl, else 'memory' */
  mapBroker?: MapBrokerType
  /** Gateway settings; `defaultNamespace` keys not given keep livedesk's (history and presence on). */
  realtime?: Partial<Omit<RealtimeConfig, 'defaultNamespace'>> & { defaultNamespace?: Partial<NamespaceOptions> }
  domain?: Partial<DomainConfig>
  /** Behind a proxy: trust its X-Forwarded-For (`true`, or the proxies' addresses). @default false */
  trustProxy?: boolean | string[]
  /** Widget sign-ups (POST /api/v1/widget/clients) per IP per minute, across all nodes. @default 20 */
  widgetSignupsPerMinute?: number
  /** Messages of one client (widget and API) per window, across all nodes; past it 429. @default 120 per minute */
  clientMessages?: RateLimit
  /** Messages of one operator per window, across all nodes; past it 429. @default 240 per minute */
  operatorMessages?: RateLimit
  /** HTTP timeouts in ms (src/http/timeouts.ts): headers, whole request, idle connection, keep-alive. */
  httpTimeouts?: Partial<HttpTimeouts>
  /** Deepest nesting of a JSON request body on /api/v1 and /api; deeper is a 400 before parsing. @default 32 */
  maxJsonDepth?: number
  /** Largest HTTP-streaming/SSE connect body and emulation request, in bytes (Centrifugo's 64 KiB). @default 65536 */
  emulationMaxRequestBytes?: number
  /** Also accept the server API key as `?api_key=` (Centrifugo does); otherwise headers only. @default false */
  apiKeyInQuery?: boolean
  /** Longest `pattern` of the server API's `channels` method, in characters. @default 256 */
  channelPatternMaxLength?: number
  /**
   * Centrifugo's `http_api.error_mode`: `transport` answers server API errors with their HTTP status (404, 400, 416,
   * 409, 500) and a bare `{code, message}`, for every request, not only those with `X-Centrifugo-Error-Mode: transport`.
   * @default 'default'
   */
  serverApiErrorMode?: 'default' | 'transport'
  /** CSP frame-ancestors of the widget page: the sites that may embed it. @default ['*'] */
  widgetFrameAncestors?: string[]
  /** When set, `/metrics` needs `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string
  /** Serve `/metrics` on this `host:port` (its own listener) instead of the main port. */
  metricsAddress?: string
  logLevel?: string
  /** `json` or `pretty` (one readable line per event); unset: pretty when stdout is a terminal (src/log.ts). */
  logFormat?: LogFormat
  /** On SIGTERM, `/ready` answers 503 this long before connections close, so a load balancer stops sending first. @default 0 */
  drainDelayMs?: number
  demo?: boolean
  /** OpenTelemetry traces (src/http/tracing.ts); absent: on only when OTEL_TRACES_EXPORTER or an OTLP endpoint is set. */
  tracing?: TracingOptions
  /** Files in messages (issue 16): size and type limits and where they are stored. */
  attachments?: AttachmentOptions
  /** Logged as warnings at start: the keys of a Centrifugo configuration file livedesk ignores (src/config/centrifugo.ts). */
  startupWarnings?: string[]
  /** Gateway-only mode (gateway tests, benchmarks): these hooks replace the domain, and no database is opened. */
  hooks?: RealtimeHooks
  /** Centrifugo's proxies to the user's backend (src/realtime/proxy/): connect, refresh, subscribe, publish, sub_refresh, rpc. */
  proxy?: ProxyConfig
}

export interface Livedesk {
  url: string
  wsUrl: string
  port: number
  apiKey: string
  /** Where `/metrics` is served when `metricsAddress` moved it off the main port. */
  metricsUrl?: string
  node: Node
  /** Absent in gateway-only mode. */
  domain?: Domain
  close(): Promise<void>
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string

/** Option parsing lives in src/config: the environment table, the configuration file and its schema. */
export { optionsFromEnv, loadConfig } from './config/index.js'

/** The API key: given, or stored in the data directory, or generated, stored and printed once. */
function resolveApiKey(given: string | undefined, dataDir: string, log: Logger): string {
  if (given) return given
  const file = join(dataDir, 'api-key')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  const key = randomBytes(24).toString('base64url')
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(file, key + '\n', { mode: 0o600 })
  log.info({ apiKey: key, file }, 'generated an API key (shown once; stored in the data directory)')
  return key
}

async function createBrokers(options: LivedeskOptions, realtime: RealtimeConfig, log: Logger, observations: Observations): Promise<{ broker: Broker; presence: PresenceManager }> {
  if (!options.redisUrl) return { broker: new MemoryBroker(), presence: new MemoryPresenceManager() }
  const { RedisBroker } = await import('./realtime/broker-redis.js')
  const { RedisPresenceManager } = await import('./realtime/presence-redis.js')
  const { splitRedisUrl } = await import('./realtime/redis-topology.js')
  const onError = (err: Error) => {
    observations.brokerErrors.inc()
    log.warn({ err: err.message }, 'redis')
  }
  const shards = splitRedisUrl(options.redisUrl).map((url) => ({ url, prefix: options.redisPrefix, onError }))
  const brokers = shards.map((common) => new RedisBroker(common))
  const presences = shards.map((common) => new RedisPresenceManager({ ...common, ttlMs: realtime.presenceTtlMs }))
  if (shards.length === 1) return { broker: brokers[0]!, presence: presences[0]! }
  const { ShardedBroker, ShardedPresenceManager } = await import('./realtime/sharded.js')
  return { broker: new ShardedBroker(brokers), presence: new ShardedPresenceManager(presences) }
}

/** How long a limit waits for Redis before it decides without it. */
const LIMITS_REDIS_TIMEOUT_MS = 250

/** A Redis client for this node's own use (rate limits); ioredis reconnects by itself. */
async function connectRedis(url: string, name: string, log: Logger) {
  const { Redis } = await import('ioredis')
  const { parseRedisUrl } = await import('./realtime/redis-topology.js')
  // Node-wide counters live on the first shard.
  const [first] = parseRedisUrl(url)
  // A Redis that hangs (paused, partitioned) must not hold writes back: past the timeout a limit falls back to this
  // node's memory and a connection count admits (limits.ts), as when Redis is down.
  // No auto-pipelining, as the broker's commands (broker-redis.ts): its pipelines fill V8's old generation.
  const redis = new Redis({ ...first!.options, connectionName: `livedesk:${name}`, maxRetriesPerRequest: 1, commandTimeout: LIMITS_REDIS_TIMEOUT_MS, enableAutoPipelining: false })
  redis.on('error', (err) => log.warn({ err: err.message }, `redis (${name})`))
  return redis
}

/** Per-IP and per-user connection counts: in Redis (shared by the nodes) when there is one, else in this process. */
async function limitStoreOf(redis: import('ioredis').Redis | undefined, prefix: string | undefined, log: Logger): Promise<LimitStore> {
  if (!redis) return { counter: new MemoryConnectionCounter() }
  const { RedisConnectionCounter } = await import('./realtime/limits-redis.js')
  const onError = (err: unknown) => log.warn({ err: (err as Error)?.message }, 'redis (limits)')
  return { counter: new RedisConnectionCounter({ redis, prefix, onError }), redis, prefix }
}

/** Maps a domain refusal to the protocol: unknown errors stay internal (100). */
export function toProtocolError(err: unknown): unknown {
  if (err instanceof ReplyError || err instanceof Disconnect) return err
  const code = (err as { code?: unknown })?.code
  switch (code) {
    case 'unauthorized': return Errors.unauthorized()
    // As Centrifugo answers a connect whose proxy gave an expiry in the past: terminal for the SDK, no getToken loop.
    case 'token_expired': return Errors.expired()
    // 107 as Centrifugo, its message naming the field at fault as /api/v1's 400 does.
    case 'bad_request': return (err as { field?: string }).field ? new ReplyError(107, `bad request: ${(err as { field?: string }).field}`) : Errors.badRequest()
    case 'forbidden': return Errors.permissionDenied()
    case 'not_found': return (err as { field?: string }).field === 'method' ? Errors.methodNotFound() : Errors.unknownChannel()
    case 'rate_limited': return Errors.tooManyRequests()
    case 'conflict': return Errors.limitExceeded()
    default: return err
  }
}

/** The gateway's plug-in points answered by the domain: `connect.data.settings.token` authenticates. */
function domainHooks(domain: () => Domain): RealtimeHooks {
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (err) {
      throw toProtocolError(err)
    }
  }
  return {
    authenticate: (e) =>
      guard(async () => {
        const data = (typeof e.data === 'object' && e.data !== null ? e.data : {}) as { application?: unknown; settings?: { token?: unknown } }
        const identity = await domain().authenticate({
          application: data.application, token: data.settings?.token, remoteAddress: e.remoteAddress, userAgent: e.userAgent,
        })
        return { user: identity.user, channels: identity.channels, info: identity.info, expireAt: identity.expireAt, meta: identity.meta }
      }),
    refresh: (ctx, token) => guard(() => domain().refresh(ctx.meta, ctx.client, token)),
    rpc: (ctx, method, data) => guard(() => domain().rpc(ctx.meta, method, data)),
    connected: (ctx) => void domain().connectionOpened(ctx.meta, ctx.client),
    disconnected: (ctx) => void domain().connectionClosed(ctx.meta, ctx.client),
  }
}

export async function startLivedesk(options: LivedeskOptions = {}): Promise<Livedesk> {
  const log = createLogger({ level: options.logLevel, format: options.logFormat })
  const dataDir = resolve(options.dataDir ?? './data')
  const apiKey = resolveApiKey(options.apiKey, dataDir, log)
  const domainNamespaces = options.hooks ? undefined : withDomainNamespaces(realtimeConfigOf(options))
  const realtime: RealtimeConfig = domainNamespaces?.realtime ?? realtimeConfigOf(options)
  for (const name of domainNamespaces?.replaced ?? []) log.warn(`namespace "${name}" is the operator-chat domain's: the configuration's options for it are ignored`)
  for (const warning of options.startupWarnings ?? []) log.warn(warning)
  if (realtime.insecure) log.warn('insecure gateway: connections without a token are anonymous and every channel operation is allowed (for SDK test suites only)')
  const observations = new Observations(realtime.nodeId)
  // The standard OTEL_* variables turn traces on; the SDK is loaded only then.
  const tracingOptions = options.tracing ?? (tracingWanted(process.env) ? {} : undefined)
  const tracing = tracingOptions ? await (await import('./http/tracing.js')).startTracing({ ...tracingOptions, nodeId: realtime.nodeId, version: VERSION }) : undefined
  const opened = options.hooks ? undefined : await openDb({ databaseUrl: options.databaseUrl, poolSize: options.databasePoolSize, dataDir, pgliteDurability: options.pgliteDurability, pgliteMaintenanceIntervalMs: options.pgliteMaintenanceIntervalMs })
  const timed = opened && observations.timedDb(opened)
  const db = timed && tracing ? tracing.tracedDb(timed) : timed
  if (db) observations.outboxBacklog(db)
  if (opened) observations.walFlushes(opened.stats)
  if (opened && !options.databaseUrl) observations.pgliteMaintenance(opened.stats, (err) => log.warn({ err }, 'PGlite maintenance (vacuum, analyse) failed; the next round tries again'))
  const { broker, presence } = await createBrokers(options, realtime, log, observations)
  // The node needs the hooks and the domain needs the node: the hooks reach the domain once it exists.
  let domain: Domain | undefined
  const ownHooks = options.hooks ?? (isStandalone(realtime) ? besideStandalone(domainHooks(() => domain!), realtime) : domainHooks(() => domain!))
  if (options.proxy) checkProxyConfig(options.proxy)
  // Proxies answer what the domain does not: connects of other applications, the namespaces the configuration names.
  const hooks = hasProxies(options.proxy)
    ? withProxies(ownHooks, options.proxy, {
      ownConnect: (e) => !options.hooks && isDomainConnect(e), namespaceOf: (channel) => namespaceNameOf(realtime, channel).name,
      insecure: realtime.insecure, log: log.child({ part: 'proxy' }),
    })
    : ownHooks
  // Rate-limit counters in Redis when there are several nodes, so a limit holds whichever node a request reaches.
  const rateLimitRedis = options.redisUrl ? await connectRedis(options.redisUrl, 'ratelimit', log) : undefined
  const limitStore = await limitStoreOf(rateLimitRedis, options.redisPrefix, log)
  const mapBroker = await createMapBroker({
    type: options.mapBroker, db, redisUrl: options.redisUrl, redisPrefix: options.redisPrefix, expireIntervalMs: realtime.mapExpireIntervalMs,
    onError: (err) => log.warn({ err: err.message }, 'redis (map broker)'),
  })
  const node = new Node({ config: realtime, broker, presence, hooks, log: log.child({ part: 'realtime' }), version: VERSION, limitStore, mapBroker, proxy: options.proxy })
  observations.instrumentNode(node)
  await node.run()
  // The publisher sends one event to each of its channels in a row: encoded once.
  let encoded: { data: unknown; json: string } | undefined
  const gateway: LiveGateway = {
    publish: async (channel, data, opts) => {
      const json = encoded !== undefined && encoded.data === data ? encoded.json : JSON.stringify(data)
      encoded = { data, json }
      await node.publishJson(channel, json, { idempotencyKey: opts?.idempotencyKey })
    },
    disconnectUser: (user, code, reason) => node.disconnectUser(user, code, reason),
    closeConnection: (client, code, reason) => node.hub.clients.get(client)?.disconnect(new Disconnect(code, reason)),
    connectionCount: async (channel) => (await node.presenceStats(channel)).numClients,
    subscribeUser: (user, channel) => node.subscribeUser(user, channel),
    unsubscribeUser: (user, channel) => node.unsubscribeUser(user, channel),
  }
  const live = tracing ? tracing.tracedLive(gateway) : gateway
  if (db) domain = await createDomain({ db, live, config: { ...DEFAULT_DOMAIN_CONFIG, ...options.domain }, log: log.child({ part: 'domain' }), nodeId: realtime.nodeId })

  // Attachments in PostgreSQL when several nodes may share it (DATABASE_URL), else beside PGlite in DATA_DIR.
  const a = options.attachments ?? {}
  const attachments = db && new Attachments(db, {
    storage: await openAttachmentStorage({ kind: a.storage ?? (options.databaseUrl ? 'database' : 'disk'), db, dataDir, s3: a.s3 }),
    maxBytes: a.maxBytes ?? DEFAULT_ATTACHMENT_MAX_BYTES,
    types: a.types ?? DEFAULT_ATTACHMENT_TYPES,
    unsentTtlMs: a.unsentTtlMs,
  })

  const redisProbe = options.redisUrl ? await redisChecks(options.redisUrl) : undefined
  const readiness = new Readiness([...(db ? [databaseCheck(db)] : []), ...(redisProbe?.checks ?? [])])
  const plugins = domain
    ? [{ plugin: apiV1({ domain, apiKey, rateLimitRedis, rateLimitPrefix: options.redisPrefix, widgetSignupsPerMinute: options.widgetSignupsPerMinute, clientMessages: options.clientMessages, operatorMessages: options.operatorMessages, maxJsonDepth: options.maxJsonDepth, attachments: attachments || undefined }), prefix: '/api/v1' }]
    : []
  const app = await buildApp({
    node, apiKey, log, webDir: join(ROOT, 'web', 'dist'),
    // HTTP-streaming, SSE and emulation beside each WebSocket path (transport-http.ts).
    plugins: [...plugins, { plugin: readyRoute(readiness), prefix: '' }, { plugin: configSchemaRoute, prefix: '' }, { plugin: backupRoute({ db: opened, apiKey, dataDir }), prefix: '' }, { plugin: httpTransports({ node, prefixes: ['', '/centrifugo'], maxRequestBytes: options.emulationMaxRequestBytes }), prefix: '' }],
    dbStats: db?.stats, trustProxy: options.trustProxy,
    timeouts: options.httpTimeouts, widgetFrameAncestors: options.widgetFrameAncestors, metricsToken: options.metricsToken,
    metricsOnMainPort: !options.metricsAddress, observations, instrument: tracing?.instrumentHttp,
    serverApi: { keyInQuery: options.apiKeyInQuery, errorMode: options.serverApiErrorMode, channelPatternMaxLength: options.channelPatternMaxLength, maxJsonDepth: options.maxJsonDepth },
  })
  const detach = attachWebSocket(app.server, node, { paths: ['/connection/websocket', '/centrifugo/connection/websocket'], trustProxy: options.trustProxy })
  const detachUni = attachUniWebSocket(app.server, node, { paths: ['/connection/uni_websocket', '/centrifugo/connection/uni_websocket'], otherPaths: ['/connection/websocket', '/centrifugo/connection/websocket'], trustProxy: options.trustProxy })
  // Past this, accept() drops the socket: a flood of any kind cannot take the files the process needs.
  if (realtime.maxConnections > 0) app.server.maxConnections = maxServerConnections(realtime.maxConnections)
  await app.listen({ port: options.port ?? 8000, host: options.host ?? '0.0.0.0' })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 8000)
  const url = `http://127.0.0.1:${port}`
  const metricsServer = options.metricsAddress
    ? await startMetricsServer({ address: options.metricsAddress, node, db: db?.stats, token: options.metricsToken, log, timeouts: options.httpTimeouts, observations })
    : undefined

  let closed: Promise<void> | undefined
  const close = () =>
    (closed ??= (async () => {
      // Not ready first: a load balancer polling /ready stops sending here before the sockets close.
      readiness.drain()
      if (options.drainDelayMs) await new Promise((r) => setTimeout(r, options.drainDelayMs))
      await node.shutdown()
      detach()
      detachUni()
      await app.close()
      await metricsServer?.close()
      await domain?.close()
      await db?.close()
      rateLimitRedis?.disconnect()
      await tracing?.close()
      redisProbe?.close()
    })())
  return { url, wsUrl: `ws://127.0.0.1:${port}/centrifugo/connection/websocket`, port, apiKey, metricsUrl: metricsServer?.url, node, domain, close }
}

/**
 * On one core V8's GC helper threads take the core from the event loop: under load, delivery stalls for 50–130 ms
 * every few seconds (bench/README.md). The flag can only be given at start, so a node that has one core says so.
 */
export function withGcAdvice<T extends { startupWarnings?: string[] }>(options: T, cores: number, execArgv: readonly string[]): T {
  if (cores > 1 || execArgv.includes('--single-threaded-gc')) return options
  const advice = 'this process has one CPU core: start it with `node --single-threaded-gc dist/main.js`, or V8\'s GC threads will compete with the event loop (README, "Running several nodes")'
  return { ...options, startupWarnings: [...(options.startupWarnings ?? []), advice] }
}

/** `npm start [-- --config livedesk.json] [--print-config]`: start, print where, and stop cleanly on SIGTERM/SIGINT within 5 s of the drain delay. */
async function main(): Promise<void> {
  const options = withGcAdvice(loadConfig(), availableParallelism(), process.execArgv)
  if (process.argv.includes('--print-config')) {
    process.stdout.write(JSON.stringify(printableConfig(options), null, 2) + '\n')
    return
  }
  // Taken before anything is printed: a signal that finds no handler kills the process at once, mid-start or
  // just after the banner that told a supervisor it could stop us. One during the start waits for its end.
  let received: string | undefined
  let onSignal: (signal: string) => void = (signal) => void (received ??= signal)
  process.once('SIGTERM', () => onSignal('SIGTERM'))
  process.once('SIGINT', () => onSignal('SIGINT'))
  const livedesk = await startLivedesk(options)
  const log = createLogger({ level: options.logLevel, format: options.logFormat })
  const noOperators = livedesk.domain ? (await livedesk.domain.operators.list({ limit: 1 })).items.length === 0 : false
  const apiKeyFile = options.apiKey ? undefined : join(resolve(options.dataDir ?? './data'), 'api-key')
  printStartBanner(log, chooseLogFormat(options.logFormat, process.stdout.isTTY === true), { url: livedesk.url, apiKeyFile, noOperators })
  let demo: { stop(): Promise<void> } | undefined
  if (options.demo) {
    const { startDemo } = await import('./demo/simulator.js')
    const started = await startDemo({ baseUrl: livedesk.url, apiKey: livedesk.apiKey, log: log.child({ part: 'demo' }) })
    demo = started
    console.log(`\n  Demo is running. Open the operator console:\n\n    ${started.consoleUrl}\n\n  and a visitor's widget: ${livedesk.url}/widget\n`)
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down')
    setTimeout(() => process.exit(1), 5_000 + (options.drainDelayMs ?? 0)).unref()
    Promise.resolve(demo?.stop())
      .then(() => livedesk.close())
      .then(() => process.exit(0), () => process.exit(1))
  }
  onSignal = stop
  if (received) stop(received)
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}

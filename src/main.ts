/** Configuration and wiring: reads the environment, builds the parts, and starts them. Nothing else lives here. */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import pino, { type Logger } from 'pino'
import { Errors, ReplyError, Disconnect } from './protocol/codes.js'
import { MemoryBroker } from './realtime/broker-memory.js'
import type { Broker } from './realtime/broker.js'
import { DEFAULT_NAMESPACE, DEFAULT_REALTIME_CONFIG, type RealtimeConfig } from './realtime/config.js'
import { Node } from './realtime/node.js'
import { MemoryPresenceManager } from './realtime/presence-memory.js'
import type { PresenceManager } from './realtime/presence.js'
import { attachWebSocket } from './realtime/transport-ws.js'
import { httpTransports } from './realtime/transport-http.js'
import { MemoryConnectionCounter, maxServerConnections, type LimitStore, type RateLimit } from './realtime/limits.js'
import { apiV1 } from './http/api-v1.js'
import { buildApp } from './http/app.js'
import { startMetricsServer } from './http/metrics-server.js'
import type { HttpTimeouts } from './http/timeouts.js'
import type { RealtimeHooks } from './realtime/hooks.js'
import { createDomain, DEFAULT_DOMAIN_CONFIG, type Domain, type DomainConfig } from './domain/index.js'
import type { LiveGateway } from './domain/ports.js'
import { openDb } from './store/index.js'
import { pgliteDurabilityOf, type PgliteDurability } from './store/pglite-durability.js'

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
  redisUrl?: string
  /** Key and channel prefix in Redis, so that several deployments can share one server. @default 'livedesk' */
  redisPrefix?: string
  realtime?: Partial<RealtimeConfig>
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
  /** CSP frame-ancestors of the widget page: the sites that may embed it. @default ['*'] */
  widgetFrameAncestors?: string[]
  /** When set, `/metrics` needs `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string
  /** Serve `/metrics` on this `host:port` (its own listener) instead of the main port. */
  metricsAddress?: string
  logLevel?: string
  demo?: boolean
  /** Gateway-only mode (gateway tests, benchmarks): these hooks replace the domain, and no database is opened. */
  hooks?: RealtimeHooks
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

/** Reads a number from the environment; a malformed value stops the start with a message naming the variable. */
function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`)
  return n
}

/** Reads an on/off variable (`1`/`true`, `0`/`false`); unset is undefined, anything else stops the start. */
function envFlag(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  if (raw === '1' || raw === 'true') return true
  if (raw === '0' || raw === 'false') return false
  throw new Error(`${name} must be 1, true, 0 or false, got "${raw}"`)
}

const seconds = (n: number | undefined) => (n === undefined ? undefined : n * 1000)
const perWindow = (points: number | undefined, windowMs: number): RateLimit | undefined => (points === undefined ? undefined : { points, windowMs })
const defined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>

/** Options from environment variables (the table in the README). */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv.slice(2)): LivedeskOptions {
  const historySize = envNumber(env, 'HISTORY_SIZE')
  const historyTtlMs = seconds(envNumber(env, 'HISTORY_TTL'))
  return {
    port: envNumber(env, 'PORT') ?? 8000,
    host: env.HOST || '0.0.0.0',
    apiKey: env.API_KEY || undefined,
    dataDir: env.DATA_DIR || './data',
    databaseUrl: env.DATABASE_URL || undefined,
    databasePoolSize: envNumber(env, 'DATABASE_POOL_SIZE'),
    pgliteDurability: pgliteDurabilityOf(env.PGLITE_DURABILITY),
    redisUrl: env.REDIS_URL || undefined,
    redisPrefix: env.REDIS_PREFIX || undefined,
    logLevel: env.LOG_LEVEL || 'info',
    widgetSignupsPerMinute: envNumber(env, 'WIDGET_SIGNUPS_PER_MINUTE'),
    clientMessages: perWindow(envNumber(env, 'CLIENT_MESSAGES_PER_MINUTE'), 60_000),
    operatorMessages: perWindow(envNumber(env, 'OPERATOR_MESSAGES_PER_MINUTE'), 60_000),
    httpTimeouts: defined({
      headersTimeoutMs: seconds(envNumber(env, 'HTTP_HEADERS_TIMEOUT')),
      requestTimeoutMs: seconds(envNumber(env, 'HTTP_REQUEST_TIMEOUT')),
      idleTimeoutMs: seconds(envNumber(env, 'HTTP_IDLE_TIMEOUT')),
      keepAliveTimeoutMs: seconds(envNumber(env, 'HTTP_KEEP_ALIVE_TIMEOUT')),
    }),
    maxJsonDepth: envNumber(env, 'MAX_JSON_DEPTH'),
    emulationMaxRequestBytes: envNumber(env, 'EMULATION_MAX_REQUEST_BYTES'),
    apiKeyInQuery: env.API_KEY_IN_QUERY === '1' || env.API_KEY_IN_QUERY === 'true',
    channelPatternMaxLength: envNumber(env, 'CHANNEL_PATTERN_MAX_LENGTH'),
    widgetFrameAncestors: env.WIDGET_FRAME_ANCESTORS ? env.WIDGET_FRAME_ANCESTORS.split(/[\s,]+/).filter(Boolean) : undefined,
    metricsToken: env.METRICS_TOKEN || undefined,
    metricsAddress: env.METRICS_ADDRESS || undefined,
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    demo: argv.includes('--demo') || env.DEMO === '1' || env.DEMO === 'true',
    domain: defined({
      clientPresenceGraceMs: seconds(envNumber(env, 'CLIENT_PRESENCE_GRACE')),
      typingTtlMs: seconds(envNumber(env, 'TYPING_TTL')),
      typingMinIntervalMs: envNumber(env, 'TYPING_MIN_INTERVAL'),
      timerFirstAnswerSec: envNumber(env, 'TIMER_FIRST_ANSWER'),
      timerNextAnswersSec: envNumber(env, 'TIMER_NEXT_ANSWERS'),
      tokenTtlMs: seconds(envNumber(env, 'OPERATOR_TOKEN_TTL')),
      operatorJwtLeewayMs: seconds(envNumber(env, 'OPERATOR_JWT_LEEWAY')),
      revocationCheckMs: envNumber(env, 'REVOCATION_CHECK_INTERVAL'),
      clientTokenIdleTtlMs: seconds(envNumber(env, 'CLIENT_TOKEN_IDLE_TTL')),
      defaultMaxChats: envNumber(env, 'DEFAULT_MAX_CHATS'),
      operatorJwtSecret: env.OPERATOR_JWT_SECRET || undefined,
      nodeTtlMs: seconds(envNumber(env, 'NODE_TTL')),
      timerSweepMs: envNumber(env, 'TIMER_SWEEP_INTERVAL'),
      outboxRelayIntervalMs: envNumber(env, 'OUTBOX_RELAY_INTERVAL'),
      publishWaitMs: envNumber(env, 'PUBLISH_WAIT'),
      outboxRetentionMs: seconds(envNumber(env, 'OUTBOX_RETENTION')),
      openSessionsPerIp: envNumber(env, 'OPEN_SESSIONS_PER_IP'),
      sessionsPerIp: perWindow(envNumber(env, 'SESSIONS_PER_IP_PER_HOUR'), 3_600_000),
    }),
    realtime: defined({
      nodeId: env.NODE_ID || undefined,
      hmacSecret: env.GATEWAY_HMAC_SECRET || undefined,
      disallowAnonymousConnectionTokens: envFlag(env, 'GATEWAY_DISALLOW_ANONYMOUS_TOKENS'),
      insecure: envFlag(env, 'GATEWAY_INSECURE'),
      allowedOrigins: env.ALLOWED_ORIGINS ? env.ALLOWED_ORIGINS.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
      pingIntervalMs: seconds(envNumber(env, 'PING_INTERVAL')),
      pongTimeoutMs: seconds(envNumber(env, 'PONG_TIMEOUT')),
      maxFrameBytes: envNumber(env, 'MAX_FRAME_BYTES'),
      maxMessagesInFrame: envNumber(env, 'MAX_MESSAGES_IN_FRAME'),
      maxQueueBytes: envNumber(env, 'MAX_QUEUE_BYTES'),
      expiredCloseDelayMs: seconds(envNumber(env, 'EXPIRED_CLOSE_DELAY')),
      maxConnections: envNumber(env, 'MAX_CONNECTIONS'),
      connectionsPerIp: envNumber(env, 'CONNECTIONS_PER_IP'),
      connectsPerIp: perWindow(envNumber(env, 'CONNECTS_PER_IP_PER_SECOND'), 1_000),
      connectionsPerUser: envNumber(env, 'CONNECTIONS_PER_USER'),
      maxSubscriptions: envNumber(env, 'MAX_SUBSCRIPTIONS'),
      commandRate: perWindow(envNumber(env, 'COMMANDS_PER_SECOND'), 1_000),
      defaultNamespace: historySize !== undefined || historyTtlMs !== undefined
        ? { ...LIVEDESK_NAMESPACE, ...defined({ historySize, historyTtlMs }) }
        : undefined,
    }),
  }
}

/** TRUST_PROXY: `true`/`1`, or comma-separated proxy addresses (CIDR allowed). */
function trustProxyOf(raw: string | undefined): boolean | string[] | undefined {
  if (!raw) return undefined
  if (raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0') return false
  return raw.split(',').map((s) => s.trim()).filter(Boolean)
}

/** How long past its token's expiry a connection may still refresh before it is closed with 3005 (EXPIRED_CLOSE_DELAY). */
const EXPIRED_CLOSE_DELAY_MS = 5_000

/** Every channel keeps history with recovery and tracks presence unless a namespace says otherwise. */
const LIVEDESK_NAMESPACE = { ...DEFAULT_NAMESPACE, historySize: 1000, historyTtlMs: 3_600_000, presence: true }

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

async function createBrokers(options: LivedeskOptions, realtime: RealtimeConfig, log: Logger): Promise<{ broker: Broker; presence: PresenceManager }> {
  if (!options.redisUrl) return { broker: new MemoryBroker(), presence: new MemoryPresenceManager() }
  const { RedisBroker } = await import('./realtime/broker-redis.js')
  const { RedisPresenceManager } = await import('./realtime/presence-redis.js')
  const { splitRedisUrl } = await import('./realtime/redis-topology.js')
  const onError = (err: Error) => log.warn({ err: err.message }, 'redis')
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
  const redis = new Redis({ ...first!.options, connectionName: `livedesk:${name}`, maxRetriesPerRequest: 1, commandTimeout: LIMITS_REDIS_TIMEOUT_MS })
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
  const log = pino({ level: options.logLevel ?? 'info' })
  const dataDir = resolve(options.dataDir ?? './data')
  const apiKey = resolveApiKey(options.apiKey, dataDir, log)
  const realtime: RealtimeConfig = {
    ...DEFAULT_REALTIME_CONFIG,
    defaultNamespace: LIVEDESK_NAMESPACE,
    // A console has this long past its token's expiry to refresh it (Centrifugo gives 25 s): then 3005.
    expiredCloseDelayMs: EXPIRED_CLOSE_DELAY_MS,
    nodeId: `livedesk-${randomBytes(3).toString('hex')}`,
    ...options.realtime,
  }
  if (realtime.insecure) log.warn('insecure gateway: connections without a token are anonymous and every channel operation is allowed (for SDK test suites only)')
  const db = options.hooks ? undefined : await openDb({ databaseUrl: options.databaseUrl, poolSize: options.databasePoolSize, dataDir, pgliteDurability: options.pgliteDurability })
  const { broker, presence } = await createBrokers(options, realtime, log)
  // The node needs the hooks and the domain needs the node: the hooks reach the domain once it exists.
  let domain: Domain | undefined
  const hooks = options.hooks ?? domainHooks(() => domain!)
  // Rate-limit counters in Redis when there are several nodes, so a limit holds whichever node a request reaches.
  const rateLimitRedis = options.redisUrl ? await connectRedis(options.redisUrl, 'ratelimit', log) : undefined
  const limitStore = await limitStoreOf(rateLimitRedis, options.redisPrefix, log)
  const node = new Node({ config: realtime, broker, presence, hooks, log: log.child({ part: 'realtime' }), version: VERSION, limitStore })
  await node.run()
  const live: LiveGateway = {
    publish: async (channel, data, opts) => void (await node.publish(channel, data, { idempotencyKey: opts?.idempotencyKey })),
    disconnectUser: (user, code, reason) => node.disconnectUser(user, code, reason),
    closeConnection: (client, code, reason) => node.hub.clients.get(client)?.disconnect(new Disconnect(code, reason)),
    connectionCount: async (channel) => (await node.presenceStats(channel)).numClients,
  }
  if (db) domain = await createDomain({ db, live, config: { ...DEFAULT_DOMAIN_CONFIG, ...options.domain }, log: log.child({ part: 'domain' }), nodeId: realtime.nodeId })

  const plugins = domain
    ? [{ plugin: apiV1({ domain, apiKey, rateLimitRedis, rateLimitPrefix: options.redisPrefix, widgetSignupsPerMinute: options.widgetSignupsPerMinute, clientMessages: options.clientMessages, operatorMessages: options.operatorMessages, maxJsonDepth: options.maxJsonDepth }), prefix: '/api/v1' }]
    : []
  const app = await buildApp({
    node, apiKey, log, webDir: join(ROOT, 'web', 'dist'),
    // HTTP-streaming, SSE and emulation beside each WebSocket path (transport-http.ts).
    plugins: [...plugins, { plugin: httpTransports({ node, prefixes: ['', '/centrifugo'], maxRequestBytes: options.emulationMaxRequestBytes }), prefix: '' }],
    dbStats: db?.stats, trustProxy: options.trustProxy,
    timeouts: options.httpTimeouts, widgetFrameAncestors: options.widgetFrameAncestors, metricsToken: options.metricsToken,
    metricsOnMainPort: !options.metricsAddress,
    serverApi: { keyInQuery: options.apiKeyInQuery, channelPatternMaxLength: options.channelPatternMaxLength, maxJsonDepth: options.maxJsonDepth },
  })
  const detach = attachWebSocket(app.server, node, { paths: ['/connection/websocket', '/centrifugo/connection/websocket'], trustProxy: options.trustProxy })
  // Past this, accept() drops the socket: a flood of any kind cannot take the files the process needs.
  if (realtime.maxConnections > 0) app.server.maxConnections = maxServerConnections(realtime.maxConnections)
  await app.listen({ port: options.port ?? 8000, host: options.host ?? '0.0.0.0' })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 8000)
  const url = `http://127.0.0.1:${port}`
  const metricsServer = options.metricsAddress
    ? await startMetricsServer({ address: options.metricsAddress, node, db: db?.stats, token: options.metricsToken, log, timeouts: options.httpTimeouts })
    : undefined

  let closed: Promise<void> | undefined
  const close = () =>
    (closed ??= (async () => {
      await node.shutdown()
      detach()
      await app.close()
      await metricsServer?.close()
      await domain?.close()
      await db?.close()
      rateLimitRedis?.disconnect()
    })())
  return { url, wsUrl: `ws://127.0.0.1:${port}/centrifugo/connection/websocket`, port, apiKey, metricsUrl: metricsServer?.url, node, domain, close }
}

/** `npm start`: start, print where, and stop cleanly on SIGTERM/SIGINT within 5 s. */
async function main(): Promise<void> {
  const options = optionsFromEnv()
  const livedesk = await startLivedesk(options)
  const log = pino({ level: options.logLevel })
  log.info({ url: livedesk.url, ws: livedesk.wsUrl, docs: `${livedesk.url}/docs` }, 'livedesk is up')
  let demo: { stop(): Promise<void> } | undefined
  if (options.demo) {
    const { startDemo } = await import('./demo/simulator.js')
    const started = await startDemo({ baseUrl: livedesk.url, apiKey: livedesk.apiKey, log: log.child({ part: 'demo' }) })
    demo = started
    console.log(`\n  Demo is running. Open the operator console:\n\n    ${started.consoleUrl}\n\n  and a visitor's widget: ${livedesk.url}/widget\n`)
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down')
    setTimeout(() => process.exit(1), 5_000).unref()
    Promise.resolve(demo?.stop())
      .then(() => livedesk.close())
      .then(() => process.exit(0), () => process.exit(1))
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}

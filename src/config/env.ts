/** Options from environment variables (the README's table): only the variables that are set, nothing defaulted. */
import type { LivedeskOptions } from '../main.js'
import type { RateLimit } from '../realtime/limits.js'
import { pgliteDurabilityOf } from '../store/pglite-durability.js'
import { logFormatFromEnv } from '../log.js'

/** Reads a number from the environment; a malformed value stops the start with a message naming the variable. */
export function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`)
  return n
}

/** Reads an on/off variable (`1`/`true`, `0`/`false`); unset is undefined, anything else stops the start. */
export function envFlag(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  if (raw === '1' || raw === 'true') return true
  if (raw === '0' || raw === 'false') return false
  throw new Error(`${name} must be 1, true, 0 or false, got "${raw}"`)
}

export const seconds = (n: number | undefined) => (n === undefined ? undefined : n * 1000)
const perWindow = (points: number | undefined, windowMs: number): RateLimit | undefined => (points === undefined ? undefined : { points, windowMs })
export const defined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
const list = (raw: string | undefined, separator: RegExp) => (raw ? raw.split(separator).map((s) => s.trim()).filter(Boolean) : undefined)

/** The options the environment sets; a variable that is unset or empty leaves its option out. */
export function envOptions(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv.slice(2)): LivedeskOptions {
  const historySize = envNumber(env, 'HISTORY_SIZE')
  const historyTtlMs = seconds(envNumber(env, 'HISTORY_TTL'))
  const demo = argv.includes('--demo') ? true : envFlag(env, 'DEMO')
  return defined({
    port: envNumber(env, 'PORT'),
    host: env.HOST || undefined,
    apiKey: env.API_KEY || undefined,
    dataDir: env.DATA_DIR || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    databasePoolSize: envNumber(env, 'DATABASE_POOL_SIZE'),
    pgliteDurability: pgliteDurabilityOf(env.PGLITE_DURABILITY),
    redisUrl: env.REDIS_URL || undefined,
    redisPrefix: env.REDIS_PREFIX || undefined,
    logLevel: env.LOG_LEVEL || undefined,
    logFormat: logFormatFromEnv(env.LOG_FORMAT),
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
    apiKeyInQuery: envFlag(env, 'API_KEY_IN_QUERY'),
    channelPatternMaxLength: envNumber(env, 'CHANNEL_PATTERN_MAX_LENGTH'),
    widgetFrameAncestors: list(env.WIDGET_FRAME_ANCESTORS, /[\s,]+/),
    metricsToken: env.METRICS_TOKEN || undefined,
    metricsAddress: env.METRICS_ADDRESS || undefined,
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    drainDelayMs: seconds(envNumber(env, 'DRAIN_DELAY')),
    demo,
    domain: defined({
      clientPresenceGraceMs: seconds(envNumber(env, 'CLIENT_PRESENCE_GRACE')),
      typingTtlMs: seconds(envNumber(env, 'TYPING_TTL')),
      typingMinIntervalMs: envNumber(env, 'TYPING_MIN_INTERVAL'),
      timerFirstAnswerSec: envNumber(env, 'TIMER_FIRST_ANSWER'),
      timerNextAnswersSec: envNumber(env, 'TIMER_NEXT_ANSWERS'),
      firstAnswerTimeoutSec: envNumber(env, 'FIRST_ANSWER_TIMEOUT'),
      nextAnswerTimeoutSec: envNumber(env, 'NEXT_ANSWER_TIMEOUT'),
      reassignOfflineAfterMs: seconds(envNumber(env, 'REASSIGN_OFFLINE_AFTER')),
      operatorAutoAwayAfterMs: seconds(envNumber(env, 'OPERATOR_AUTO_AWAY_AFTER')),
      operatorAutoOfflineAfterMs: seconds(envNumber(env, 'OPERATOR_AUTO_OFFLINE_AFTER')),
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
      allowedOrigins: list(env.ALLOWED_ORIGINS, /,/),
      pingIntervalMs: seconds(envNumber(env, 'PING_INTERVAL')),
      pongTimeoutMs: seconds(envNumber(env, 'PONG_TIMEOUT')),
      maxFrameBytes: envNumber(env, 'MAX_FRAME_BYTES'),
      maxMessagesInFrame: envNumber(env, 'MAX_MESSAGES_IN_FRAME'),
      maxQueueBytes: envNumber(env, 'MAX_QUEUE_BYTES'),
      expiredCloseDelayMs: seconds(envNumber(env, 'EXPIRED_CLOSE_DELAY')),
      maxConnections: envNumber(env, 'MAX_CONNECTIONS'),
      connectionsPerIp: envNumber(env, 'CONNECTIONS_PER_IP'),
      connectsPerIp: perWindow(envNumber(env, 'CONNECTS_PER_IP_PER_SECOND'), 1_000),
      emulationPerIp: perWindow(envNumber(env, 'EMULATION_PER_IP_PER_SECOND'), 1_000),
      connectionsPerUser: envNumber(env, 'CONNECTIONS_PER_USER'),
      maxSubscriptions: envNumber(env, 'MAX_SUBSCRIPTIONS'),
      commandRate: perWindow(envNumber(env, 'COMMANDS_PER_SECOND'), 1_000),
      // Over the file's and the built-in default namespace, key by key (config/index.ts).
      defaultNamespace: historySize !== undefined || historyTtlMs !== undefined ? defined({ historySize, historyTtlMs }) : undefined,
    }),
  })
}

/** TRUST_PROXY: `true`/`1`, or comma-separated proxy addresses (CIDR allowed). */
function trustProxyOf(raw: string | undefined): boolean | string[] | undefined {
  if (!raw) return undefined
  if (raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0') return false
  return raw.split(',').map((s) => s.trim()).filter(Boolean)
}

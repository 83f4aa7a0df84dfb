/** Options from environment variables (the README's table): only the variables that are set, nothing defaulted. */
import { createPublicKey } from 'node:crypto'
import type { LivedeskOptions } from '../main.js'
import type { RateLimit } from '../realtime/limits.js'
import type { NamespaceOptions } from '../realtime/config.js'
import { DELTA_TYPES, isDeltaType } from '../realtime/delta.js'
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

/** Reads delta encodings (comma-separated; only `fossil` exists), as Centrifugo's `allowed_delta_types`. */
function envDeltaTypes(env: NodeJS.ProcessEnv, name: string): NamespaceOptions['allowedDeltaTypes'] | undefined {
  const types = list(env[name], /[\s,]+/)
  const unknown = types?.find((t) => !isDeltaType(t))
  if (unknown !== undefined) throw new Error(`${name}: unknown delta type "${unknown}" (known: ${DELTA_TYPES.join(', ')})`)
  return types as NamespaceOptions['allowedDeltaTypes'] | undefined
}

/** MAP_BROKER: memory, redis or postgres; anything else stops the start. */
function mapBrokerOf(raw: string | undefined): LivedeskOptions['mapBroker'] {
  if (!raw) return undefined
  if (raw !== 'memory' && raw !== 'redis' && raw !== 'postgres') throw new Error(`MAP_BROKER must be memory, redis or postgres, got "${raw}"`)
  return raw
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
  const allowedDeltaTypes = envDeltaTypes(env, 'ALLOWED_DELTA_TYPES')
  const deltaPublish = envFlag(env, 'DELTA_PUBLISH')
  const namespaceKeys = defined({ historySize, historyTtlMs, allowedDeltaTypes, deltaPublish })
  const demo = argv.includes('--demo') ? true : envFlag(env, 'DEMO')
  return defined({
    port: envNumber(env, 'PORT'),
    host: env.HOST || undefined,
    apiKey: env.API_KEY || undefined,
    dataDir: env.DATA_DIR || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    databasePoolSize: envNumber(env, 'DATABASE_POOL_SIZE'),
    pgliteDurability: pgliteDurabilityOf(env.PGLITE_DURABILITY),
    pgliteMaintenanceIntervalMs: seconds(envNumber(env, 'PGLITE_MAINTENANCE_INTERVAL')),
    redisUrl: env.REDIS_URL || undefined,
    redisPrefix: env.REDIS_PREFIX || undefined,
    mapBroker: mapBrokerOf(env.MAP_BROKER),
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
    serverApiErrorMode: (env.SERVER_API_ERROR_MODE || undefined) as 'default' | 'transport' | undefined,
    channelPatternMaxLength: envNumber(env, 'CHANNEL_PATTERN_MAX_LENGTH'),
    widgetFrameAncestors: list(env.WIDGET_FRAME_ANCESTORS, /[\s,]+/),
    metricsToken: env.METRICS_TOKEN || undefined,
    metricsAddress: env.METRICS_ADDRESS || undefined,
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    drainDelayMs: seconds(envNumber(env, 'DRAIN_DELAY')),
    demo,
    attachments: attachmentsFromEnv(env),
    proxy: proxyFromEnv(env),
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
      revocationGraceMs: envNumber(env, 'REVOCATION_GRACE'),
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
      webhookTimeoutMs: seconds(envNumber(env, 'WEBHOOK_TIMEOUT')),
      webhookRetryBaseMs: envNumber(env, 'WEBHOOK_RETRY_BASE'),
      webhookRetryMaxDelayMs: seconds(envNumber(env, 'WEBHOOK_RETRY_MAX_DELAY')),
      webhookMaxAttempts: envNumber(env, 'WEBHOOK_MAX_ATTEMPTS'),
      webhookDisableAfter: envNumber(env, 'WEBHOOK_DISABLE_AFTER'),
      webhookConcurrency: envNumber(env, 'WEBHOOK_CONCURRENCY'),
      webhookPollIntervalMs: envNumber(env, 'WEBHOOK_POLL_INTERVAL'),
      webhookLogRetentionMs: seconds(envNumber(env, 'WEBHOOK_LOG_RETENTION')),
    }),
    realtime: defined({
      nodeId: env.NODE_ID || undefined,
      hmacSecret: env.GATEWAY_HMAC_SECRET || undefined,
      sharedPollHmacSecret: env.GATEWAY_SHARED_POLL_HMAC_SECRET || undefined,
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
      historyMetaTtlMs: seconds(envNumber(env, 'HISTORY_META_TTL')),
      clientHistoryMaxPublications: envNumber(env, 'CLIENT_HISTORY_MAX_PUBLICATIONS'),
      allowAnonymousConnectWithoutToken: envFlag(env, 'GATEWAY_ANONYMOUS_WITHOUT_TOKEN'),
      tokenPublicKey: tokenPublicKeyOf(env.GATEWAY_TOKEN_PUBLIC_KEY),
      mapExpireIntervalMs: envNumber(env, 'MAP_EXPIRE_INTERVAL'),
      nodeInfoIntervalMs: envNumber(env, 'NODE_INFO_INTERVAL'),
      surveyTimeoutMs: envNumber(env, 'SURVEY_TIMEOUT'),
      // Over the file's and the built-in default namespace, key by key (config/index.ts).
      defaultNamespace: Object.keys(namespaceKeys).length > 0 ? namespaceKeys : undefined,
    }),
  })
}

/** ATTACHMENT_* and S3_*: only what is set; an unknown ATTACHMENT_STORAGE stops the start. */
/** Connect, refresh and rpc (methods without namespace) proxies; PROXY_TIMEOUT and PROXY_HTTP_HEADERS go with each one set here. */
function proxyFromEnv(env: NodeJS.ProcessEnv): LivedeskOptions['proxy'] {
  const timeoutMs = seconds(envNumber(env, 'PROXY_TIMEOUT'))
  if (timeoutMs === 0) throw new Error('PROXY_TIMEOUT must be more than 0 seconds')
  const httpHeaders = list(env.PROXY_HTTP_HEADERS, /[\s,]+/)
  const endpoint = (name: string) => {
    const url = env[name] || undefined
    if (url === undefined) return undefined
    if (!/^https?:\/\//.test(url)) throw new Error(`${name} must be an http:// or https:// URL, got "${url}"`)
    return defined({ endpoint: url, timeoutMs, httpHeaders }) as { endpoint: string }
  }
  const rpc = endpoint('PROXY_RPC_ENDPOINT')
  const proxy = defined({
    connect: endpoint('PROXY_CONNECT_ENDPOINT'),
    refresh: endpoint('PROXY_REFRESH_ENDPOINT'),
    defaults: rpc && { rpc },
    rpcNamespaces: rpc && { '': 'default' },
    refreshRetryMs: seconds(envNumber(env, 'PROXY_REFRESH_RETRY')),
  })
  return Object.keys(proxy).length ? proxy : undefined
}

function attachmentsFromEnv(env: NodeJS.ProcessEnv): LivedeskOptions['attachments'] {
  const raw = env.ATTACHMENT_STORAGE || undefined
  if (raw !== undefined && raw !== 'database' && raw !== 'disk' && raw !== 's3') {
    throw new Error(`ATTACHMENT_STORAGE must be database, disk or s3, got "${raw}"`)
  }
  const storage: 'database' | 'disk' | 's3' | undefined = raw
  const s3 = defined({
    endpoint: env.S3_ENDPOINT || undefined,
    bucket: env.S3_BUCKET || undefined,
    region: env.S3_REGION || undefined,
    accessKeyId: env.S3_ACCESS_KEY_ID || undefined,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY || undefined,
  })
  const options = defined({
    maxBytes: envNumber(env, 'ATTACHMENT_MAX_BYTES'),
    unsentTtlMs: seconds(envNumber(env, 'ATTACHMENT_UNSENT_TTL')),
    types: list(env.ATTACHMENT_TYPES, /[\s,]+/),
    storage,
    s3: Object.keys(s3).length > 0 ? s3 : undefined,
  })
  return Object.keys(options).length > 0 ? options : undefined
}

/** GATEWAY_TOKEN_PUBLIC_KEY: a PEM RSA (RS256) or EC (ES256) public key; anything else stops the start. */
function tokenPublicKeyOf(pem: string | undefined): { pem: string; algorithm: 'RS256' | 'ES256' } | undefined {
  if (!pem) return undefined
  let type: string | undefined
  try {
    type = createPublicKey(pem).asymmetricKeyType
  } catch {
    type = undefined
  }
  if (type === 'rsa') return { pem, algorithm: 'RS256' }
  if (type === 'ec') return { pem, algorithm: 'ES256' }
  throw new Error('GATEWAY_TOKEN_PUBLIC_KEY must be a PEM RSA or EC public key (-----BEGIN PUBLIC KEY-----)')
}

/** TRUST_PROXY: `true`/`1`, or comma-separated proxy addresses (CIDR allowed). */
function trustProxyOf(raw: string | undefined): boolean | string[] | undefined {
  if (!raw) return undefined
  if (raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0') return false
  return raw.split(',').map((s) => s.trim()).filter(Boolean)
}

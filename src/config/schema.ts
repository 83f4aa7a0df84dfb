/**
 * The configuration file's one JSON Schema, built with TypeBox: the keys of `LivedeskOptions` that a file may set
 * (times in milliseconds, as the options), closed at every level so a misspelt key is an error naming it.
 * `docs/config.schema.json` and `GET /config.schema.json` are this schema.
 */
import { Type, type TSchema } from 'typebox'

const count = (description: string) => Type.Integer({ minimum: 0, description })
const ms = (description: string) => Type.Integer({ minimum: 0, description: `${description} (milliseconds)` })
const closed = <T extends Record<string, TSchema>>(properties: T, description?: string) =>
  Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) })
const optional = <T extends Record<string, TSchema>>(properties: T) =>
  Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, Type.Optional(v)])) as { [K in keyof T]: ReturnType<typeof Type.Optional<T[K]>> }

const RateLimitSchema = closed({ points: Type.Integer({ minimum: 1 }), windowMs: Type.Integer({ minimum: 1 }) }, 'At most `points` per `windowMs` milliseconds')

/** A channel namespace's options (src/realtime/config.ts NamespaceOptions), every one optional over the defaults. */
export const NamespaceSchema = closed(optional({
  historySize: count('Publications kept for history and recovery; 0 turns both off'),
  historyTtlMs: ms('How long history is kept'),
  forceRecovery: Type.Boolean({ description: 'Recovery whenever history is on' }),
  presence: Type.Boolean({ description: 'Presence of subscribers is tracked' }),
  joinLeave: Type.Boolean({ description: 'Join/leave pushes to subscribers' }),
  allowSubscribe: Type.Boolean({ description: 'Client-side subscribe allowed' }),
  allowPublish: Type.Boolean({ description: 'Client-side publish allowed' }),
  allowHistory: Type.Boolean({ description: 'Client-side history allowed' }),
  allowPresence: Type.Boolean({ description: 'Client-side presence allowed' }),
  allowAnonymous: Type.Boolean({ description: 'The allow* options also hold for anonymous connections' }),
}))

/** A namespace is the part of a channel name before the first ':'. */
const NAMESPACE_NAME = '^[A-Za-z0-9_.-]{1,64}$'

export const ConfigSchema = Type.Object(optional({
  $schema: Type.String({ description: 'For editors: the schema of this file' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, description: 'PORT' }),
  host: Type.String({ minLength: 1, description: 'HOST' }),
  apiKey: Type.String({ minLength: 1, description: 'API_KEY (secret)' }),
  dataDir: Type.String({ minLength: 1, description: 'DATA_DIR' }),
  databaseUrl: Type.String({ pattern: '^postgres(ql)?://', description: 'DATABASE_URL (its password is a secret)' }),
  databasePoolSize: Type.Integer({ minimum: 1, description: 'DATABASE_POOL_SIZE' }),
  pgliteDurability: Type.Union([Type.Literal('fsync'), Type.Literal('relaxed')], { description: 'PGLITE_DURABILITY' }),
  redisUrl: Type.String({ pattern: '^rediss?(\\+sentinel)?://', description: 'REDIS_URL (its password is a secret)' }),
  redisPrefix: Type.String({ minLength: 1, description: 'REDIS_PREFIX' }),
  logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { description: 'LOG_LEVEL' }),
  logFormat: Type.Union([Type.Literal('json'), Type.Literal('pretty')], { description: 'LOG_FORMAT: unset picks pretty on a terminal, JSON otherwise' }),
  demo: Type.Boolean({ description: 'DEMO' }),
  trustProxy: Type.Union([Type.Boolean(), Type.Array(Type.String({ minLength: 1 }))], { description: 'TRUST_PROXY' }),
  widgetSignupsPerMinute: count('WIDGET_SIGNUPS_PER_MINUTE'),
  clientMessages: RateLimitSchema,
  operatorMessages: RateLimitSchema,
  httpTimeouts: closed(optional({
    headersTimeoutMs: ms('HTTP_HEADERS_TIMEOUT'),
    requestTimeoutMs: ms('HTTP_REQUEST_TIMEOUT'),
    idleTimeoutMs: ms('HTTP_IDLE_TIMEOUT'),
    keepAliveTimeoutMs: ms('HTTP_KEEP_ALIVE_TIMEOUT'),
  })),
  maxJsonDepth: Type.Integer({ minimum: 1, description: 'MAX_JSON_DEPTH' }),
  emulationMaxRequestBytes: Type.Integer({ minimum: 1, description: 'EMULATION_MAX_REQUEST_BYTES' }),
  apiKeyInQuery: Type.Boolean({ description: 'API_KEY_IN_QUERY' }),
  channelPatternMaxLength: Type.Integer({ minimum: 1, description: 'CHANNEL_PATTERN_MAX_LENGTH' }),
  widgetFrameAncestors: Type.Array(Type.String({ minLength: 1 }), { description: 'WIDGET_FRAME_ANCESTORS' }),
  metricsToken: Type.String({ minLength: 1, description: 'METRICS_TOKEN (secret)' }),
  metricsAddress: Type.String({ pattern: '^[^:]*:[0-9]+$', description: 'METRICS_ADDRESS (host:port)' }),
  drainDelayMs: ms('DRAIN_DELAY: on SIGTERM, how long /ready answers 503 before connections close'),
  domain: closed(optional({
    clientPresenceGraceMs: ms('CLIENT_PRESENCE_GRACE'),
    typingTtlMs: ms('TYPING_TTL'),
    typingMinIntervalMs: ms('TYPING_MIN_INTERVAL'),
    timerFirstAnswerSec: count('TIMER_FIRST_ANSWER (seconds)'),
    timerNextAnswersSec: count('TIMER_NEXT_ANSWERS (seconds)'),
    firstAnswerTimeoutSec: Type.Number({ minimum: 0, description: 'FIRST_ANSWER_TIMEOUT (seconds; 0: off)' }),
    nextAnswerTimeoutSec: Type.Number({ minimum: 0, description: 'NEXT_ANSWER_TIMEOUT (seconds; 0: off)' }),
    reassignOfflineAfterMs: ms('REASSIGN_OFFLINE_AFTER (0: off)'),
    operatorAutoAwayAfterMs: ms('OPERATOR_AUTO_AWAY_AFTER (0: off)'),
    operatorAutoOfflineAfterMs: ms('OPERATOR_AUTO_OFFLINE_AFTER (0: off)'),
    tokenTtlMs: ms('OPERATOR_TOKEN_TTL'),
    operatorJwtLeewayMs: ms('OPERATOR_JWT_LEEWAY'),
    revocationCheckMs: ms('REVOCATION_CHECK_INTERVAL'),
    clientTokenIdleTtlMs: ms('CLIENT_TOKEN_IDLE_TTL'),
    defaultMaxChats: count('DEFAULT_MAX_CHATS'),
    operatorJwtSecret: Type.String({ minLength: 1, description: 'OPERATOR_JWT_SECRET (secret)' }),
    nodeTtlMs: ms('NODE_TTL'),
    timerSweepMs: ms('TIMER_SWEEP_INTERVAL'),
    outboxRelayIntervalMs: ms('OUTBOX_RELAY_INTERVAL'),
    publishWaitMs: ms('PUBLISH_WAIT'),
    outboxRetentionMs: ms('OUTBOX_RETENTION'),
    openSessionsPerIp: count('OPEN_SESSIONS_PER_IP'),
    sessionsPerIp: RateLimitSchema,
  })),
  realtime: closed(optional({
    nodeId: Type.String({ minLength: 1, description: 'NODE_ID' }),
    hmacSecret: Type.String({ minLength: 1, description: 'GATEWAY_HMAC_SECRET (secret)' }),
    disallowAnonymousConnectionTokens: Type.Boolean({ description: 'GATEWAY_DISALLOW_ANONYMOUS_TOKENS' }),
    insecure: Type.Boolean({ description: 'GATEWAY_INSECURE' }),
    allowedOrigins: Type.Array(Type.String({ minLength: 1 }), { description: 'ALLOWED_ORIGINS' }),
    pingIntervalMs: ms('PING_INTERVAL'),
    pongTimeoutMs: ms('PONG_TIMEOUT'),
    staleCloseDelayMs: ms('A socket without a valid connect within this closes 3502'),
    expiredCloseDelayMs: ms('EXPIRED_CLOSE_DELAY'),
    maxFrameBytes: Type.Integer({ minimum: 1, description: 'MAX_FRAME_BYTES' }),
    maxMessagesInFrame: Type.Integer({ minimum: 1, description: 'MAX_MESSAGES_IN_FRAME' }),
    maxQueueBytes: Type.Integer({ minimum: 1, description: 'MAX_QUEUE_BYTES' }),
    recoveryMaxPublications: count('Recovery fails past this many missed publications'),
    presenceTtlMs: ms('Presence entries live this long unless re-added'),
    maxConnections: count('MAX_CONNECTIONS'),
    connectionsPerIp: count('CONNECTIONS_PER_IP'),
    connectsPerIp: RateLimitSchema,
    emulationPerIp: RateLimitSchema,
    connectionsPerUser: count('CONNECTIONS_PER_USER'),
    maxSubscriptions: count('MAX_SUBSCRIPTIONS'),
    commandRate: RateLimitSchema,
    defaultNamespace: NamespaceSchema,
    namespaces: Type.Record(Type.String({ pattern: NAMESPACE_NAME }), NamespaceSchema, { description: 'Channel namespaces by name', additionalProperties: false }),
  })),
}), {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'livedesk configuration',
  description: 'livedesk --config <file>: every key optional; environment variables override the file. Times are milliseconds.',
  additionalProperties: false,
})

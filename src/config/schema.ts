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

/** A map namespace's `map` block (src/realtime/map-config.ts MapNamespaceOptions, Centrifugo's `map`). */
const MapNamespaceSchema = closed({
  mode: Type.Union([Type.Literal('ephemeral'), Type.Literal('recoverable'), Type.Literal('persistent')], { description: 'ephemeral: state only, keys expire; recoverable: plus a stream for recovery; persistent: keys never expire, with the stream' }),
  ...optional({
    keyTtlMs: ms('How long a key lives after its last write; required for ephemeral and recoverable, 0 for persistent'),
    streamSize: count('Changes kept for recovery (default 100)'),
    streamTtlMs: ms('How long changes are kept (default 60000)'),
    metaTtlMs: ms('How long the epoch lives without writes (default 10 × streamTtlMs for expiring keys, forever for persistent)'),
    clientKey: Type.Union([Type.Literal('client_id'), Type.Literal('user_id')], { description: 'A client writes the key of its client id or user id, whatever key it sends' }),
    allowPublishForClient: Type.Boolean({ description: 'Authenticated clients may write keys' }),
    allowPublishForSubscriber: Type.Boolean({ description: 'Subscribed clients may write keys' }),
    allowPublishForAnonymous: Type.Boolean({ description: 'The publish permissions also hold for anonymous clients' }),
    allowRemoveForClient: Type.Boolean({ description: 'Authenticated clients may remove keys' }),
    allowRemoveForSubscriber: Type.Boolean({ description: 'Subscribed clients may remove keys' }),
    allowRemoveForAnonymous: Type.Boolean({ description: 'The remove permissions also hold for anonymous clients' }),
    removeClientOnUnsubscribe: Type.Boolean({ description: "A client's own key (its client id) is removed when it unsubscribes" }),
    defaultPageSize: Type.Integer({ minimum: 1, description: 'State and stream page size when the client asks for none (default 100)' }),
    minPageSize: Type.Integer({ minimum: 1, description: 'Smallest page a client gets (default 100)' }),
    maxPageSize: Type.Integer({ minimum: 1, description: 'Largest page a client gets (default 1000)' }),
    liveTransitionMaxPublicationLimit: Type.Integer({ minimum: 1, description: 'Changes a subscriber may be behind when it goes live; past it 112 (default maxPageSize)' }),
    subscribeCatchUpTimeoutMs: ms('A state/stream catch-up taking longer is cut 3008 (default 5000)'),
  }),
})

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
  allowedDeltaTypes: Type.Array(Type.Literal('fossil'), { uniqueItems: true, description: "Delta encodings subscribers may ask for (Centrifugo's allowed_delta_types); ALLOWED_DELTA_TYPES for the default namespace" }),
  deltaPublish: Type.Boolean({ description: "Every publication is published with delta (Centrifugo's delta_publish); DELTA_PUBLISH for the default namespace" }),
  subscriptionType: Type.Union(['stream', 'map', 'map_clients', 'map_users', 'shared_poll'].map((t) => Type.Literal(t)), { description: "Centrifugo's subscription_type: map namespaces serve map subscriptions only" }),
  map: MapNamespaceSchema,
  mapClientsPresenceChannelPrefix: Type.String({ minLength: 1, description: 'Each map subscriber is an entry (key: client id) of the map channel <prefix><channel>' }),
  mapUsersPresenceChannelPrefix: Type.String({ minLength: 1, description: 'Each distinct user subscribed to a map channel is an entry (key: user id) of the map_users channel <prefix><channel>, refreshed while subscribed and removed only when its key TTL passes (as Centrifugo)' }),
  allowTagsFilter: Type.Boolean({ description: 'Map subscribers may send a tags filter' }),
  clientPublishDebounceIntervalMs: ms('Told to map subscribers, whose SDK then coalesces its writes (publish_debounce)'),
  // Centrifugo's namespace options of standalone mode (src/realtime/channel-rules.ts StandaloneNamespaceOptions).
  allowPublishForSubscriber: Type.Boolean({ description: "A connection subscribed to the channel may publish (Centrifugo's allow_publish_for_subscriber)" }),
  allowHistoryForSubscriber: Type.Boolean({ description: 'A connection subscribed to the channel may read its history' }),
  allowPresenceForSubscriber: Type.Boolean({ description: 'A connection subscribed to the channel may read its presence' }),
  allowSubscribeForAnonymous: Type.Boolean({ description: 'Anonymous connections may subscribe (with allowSubscribe)' }),
  allowPublishForAnonymous: Type.Boolean({ description: 'Anonymous connections may publish (with allowPublish or allowPublishForSubscriber)' }),
  allowHistoryForAnonymous: Type.Boolean({ description: 'Anonymous connections may read history' }),
  allowPresenceForAnonymous: Type.Boolean({ description: 'Anonymous connections may read presence' }),
  allowUserLimitedChannels: Type.Boolean({ description: 'ns:room#alice,bob may be subscribed by alice and bob' }),
  channelRegex: Type.String({ minLength: 1, description: 'The part of a channel after its namespace must match, else 107' }),
  forcePositioning: Type.Boolean({ description: 'Subscriptions are positioned; unset: whenever history is on' }),
  allowPositioning: Type.Boolean({ description: 'Subscribers may ask for positioning' }),
  allowRecovery: Type.Boolean({ description: 'Subscribers may ask for recovery; unset: any may' }),
  recoveryMode: Type.Union([Type.Literal('stream'), Type.Literal('cache')], { description: 'cache: a recovering subscriber gets only the latest publication' }),
  forcePushJoinLeave: Type.Boolean({ description: 'Join/leave to every subscriber; false: to those asking (joinLeave) with presence access; unset: every subscriber' }),
  historyMetaTtlMs: ms("How long the stream's epoch and offset live without publications; unset: realtime.historyMetaTtlMs"),
  serverSideOnly: Type.Boolean({ description: 'Client-side subscribe, publish, history and presence are refused (103) even when insecure; a subscription token still subscribes' }),
}))

/** One proxy endpoint (src/realtime/proxy/config.ts ProxyEndpoint): Centrifugo's proxy object in livedesk's names. */
const ProxyEndpointSchema = closed({
  endpoint: Type.String({ pattern: '^https?://', description: 'The backend URL that receives the JSON POST' }),
  ...optional({
    timeoutMs: Type.Integer({ minimum: 1, description: 'Longest wait for the backend; past it the client gets error 100 (milliseconds, default 1000)' }),
    httpHeaders: Type.Array(Type.String({ minLength: 1 }), { description: "Connection request headers passed on (Centrifugo's http_headers)" }),
    emulatedHeaders: Type.Array(Type.String({ minLength: 1 }), { description: "Connect command headers passed on (Centrifugo's emulated_headers)" }),
    staticHeaders: Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Headers sent with every request' }),
    binaryEncoding: Type.Boolean({ description: 'data goes as b64data' }),
    includeConnectionMeta: Type.Boolean({ description: "The connect result's meta goes with later requests" }),
    statusToCodeTransforms: Type.Array(closed({
      statusCode: Type.Integer({ minimum: 100, maximum: 599 }),
      ...optional({
        toError: closed({ code: Type.Integer({ minimum: 1 }), message: Type.String(), ...optional({ temporary: Type.Boolean() }) }),
        toDisconnect: closed({ code: Type.Integer({ minimum: 1 }), reason: Type.String() }),
      }),
    }), { description: 'Backend HTTP statuses answered with an error or a disconnect instead of error 100' }),
  }),
})
const PROXY_NAME = Type.String({ minLength: 1, description: "'default' (the kind's default proxy) or a name of proxy.named" })

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
  pgliteMaintenanceIntervalMs: ms('PGLITE_MAINTENANCE_INTERVAL: how often PGlite\'s tables past autovacuum\'s thresholds are vacuumed and analysed; 0: never'),
  redisUrl: Type.String({ pattern: '^rediss?(\\+sentinel)?://', description: 'REDIS_URL (its password is a secret)' }),
  mapBroker: Type.Union([Type.Literal('memory'), Type.Literal('redis'), Type.Literal('postgres')], { description: 'MAP_BROKER: where map subscriptions keep their state' }),
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
  serverApiErrorMode: Type.Union([Type.Literal('default'), Type.Literal('transport')], { description: 'SERVER_API_ERROR_MODE' }),
  channelPatternMaxLength: Type.Integer({ minimum: 1, description: 'CHANNEL_PATTERN_MAX_LENGTH' }),
  widgetFrameAncestors: Type.Array(Type.String({ minLength: 1 }), { description: 'WIDGET_FRAME_ANCESTORS' }),
  metricsToken: Type.String({ minLength: 1, description: 'METRICS_TOKEN (secret)' }),
  metricsAddress: Type.String({ pattern: '^[^:]*:[0-9]+$', description: 'METRICS_ADDRESS (host:port)' }),
  drainDelayMs: ms('DRAIN_DELAY: on SIGTERM, how long /ready answers 503 before connections close'),
  attachments: closed(optional({
    maxBytes: Type.Integer({ minimum: 1, description: 'ATTACHMENT_MAX_BYTES' }),
    unsentTtlMs: Type.Integer({ minimum: 1, description: 'ATTACHMENT_UNSENT_TTL: an upload no message claimed within this is deleted (milliseconds)' }),
    types: Type.Array(Type.String({ pattern: '^[A-Za-z0-9*][A-Za-z0-9!#$&^_.+*-]*/[A-Za-z0-9*][A-Za-z0-9!#$&^_.+*-]*$' }), { description: 'ATTACHMENT_TYPES: accepted MIME types, `*` for any run of characters' }),
    storage: Type.Union([Type.Literal('database'), Type.Literal('disk'), Type.Literal('s3')], { description: 'ATTACHMENT_STORAGE: default database with DATABASE_URL, disk with PGlite' }),
    s3: closed(optional({
      endpoint: Type.String({ pattern: '^https?://', description: 'S3_ENDPOINT' }),
      bucket: Type.String({ minLength: 1, description: 'S3_BUCKET' }),
      region: Type.String({ minLength: 1, description: 'S3_REGION' }),
      accessKeyId: Type.String({ minLength: 1, description: 'S3_ACCESS_KEY_ID' }),
      secretAccessKey: Type.String({ minLength: 1, description: 'S3_SECRET_ACCESS_KEY (secret)' }),
    })),
  })),
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
    revocationGraceMs: ms('REVOCATION_GRACE'),
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
    webhookTimeoutMs: Type.Integer({ minimum: 1, description: 'WEBHOOK_TIMEOUT (milliseconds)' }),
    webhookRetryBaseMs: ms('WEBHOOK_RETRY_BASE'),
    webhookRetryMaxDelayMs: ms('WEBHOOK_RETRY_MAX_DELAY'),
    webhookMaxAttempts: Type.Integer({ minimum: 1, description: 'WEBHOOK_MAX_ATTEMPTS' }),
    webhookDisableAfter: Type.Integer({ minimum: 1, description: 'WEBHOOK_DISABLE_AFTER (failed deliveries in a row)' }),
    webhookConcurrency: Type.Integer({ minimum: 1, description: 'WEBHOOK_CONCURRENCY (endpoints at once per node)' }),
    webhookPollIntervalMs: Type.Integer({ minimum: 1, description: 'WEBHOOK_POLL_INTERVAL (milliseconds)' }),
    webhookLogRetentionMs: ms('WEBHOOK_LOG_RETENTION'),
  })),
  proxy: closed(optional({
    connect: ProxyEndpointSchema,
    refresh: ProxyEndpointSchema,
    defaults: closed(optional({ subscribe: ProxyEndpointSchema, publish: ProxyEndpointSchema, subRefresh: ProxyEndpointSchema, rpc: ProxyEndpointSchema })),
    named: Type.Record(Type.String({ minLength: 1 }), ProxyEndpointSchema, { description: "Proxies namespaces may name (Centrifugo's proxies[])" }),
    channelNamespaces: Type.Record(Type.String(), closed(optional({ subscribe: PROXY_NAME, publish: PROXY_NAME, subRefresh: PROXY_NAME })), { description: "Channel namespaces that use proxies ('' for channels without one)" }),
    rpcNamespaces: Type.Record(Type.String(), Type.Union([PROXY_NAME, Type.Null()]), { description: "RPC namespaces and their proxy ('' for methods without one; null: no proxy, 108)" }),
    refreshRetryMs: Type.Integer({ minimum: 1, description: 'PROXY_REFRESH_RETRY: after a refresh proxy failure, the next try (milliseconds)' }),
  }), 'Proxies to your backend as Centrifugo\'s (PROXY_CONNECT_ENDPOINT, PROXY_REFRESH_ENDPOINT, PROXY_RPC_ENDPOINT, ...)'),
  realtime: closed(optional({
    nodeId: Type.String({ minLength: 1, description: 'NODE_ID' }),
    hmacSecret: Type.String({ minLength: 1, description: 'GATEWAY_HMAC_SECRET (secret)' }),
    sharedPollHmacSecret: Type.String({ minLength: 1, description: 'GATEWAY_SHARED_POLL_HMAC_SECRET (secret): shared poll track signatures (Centrifugo\'s shared_poll.hmac_secret_key)' }),
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
    mapExpireIntervalMs: Type.Integer({ minimum: 1, description: 'MAP_EXPIRE_INTERVAL (milliseconds): how often expired map keys are removed' }),
    nodeInfoIntervalMs: Type.Integer({ minimum: 100, description: 'NODE_INFO_INTERVAL (milliseconds): how often each node tells the others its info (server API info)' }),
    surveyTimeoutMs: Type.Integer({ minimum: 1, description: 'SURVEY_TIMEOUT (milliseconds): how long the server API channels method waits for the other nodes' }),
    maxConnections: count('MAX_CONNECTIONS'),
    connectionsPerIp: count('CONNECTIONS_PER_IP'),
    connectsPerIp: RateLimitSchema,
    emulationPerIp: RateLimitSchema,
    connectionsPerUser: count('CONNECTIONS_PER_USER'),
    maxSubscriptions: count('MAX_SUBSCRIPTIONS'),
    commandRate: RateLimitSchema,
    historyMetaTtlMs: ms("How long a stream's epoch and offset live without publications"),
    tokenPublicKey: closed({
      pem: Type.String({ minLength: 1 }),
      algorithm: Type.Union([Type.Literal('RS256'), Type.Literal('ES256')]),
    }, 'JWTs are verified with this PEM public key instead of hmacSecret (Centrifugo\'s rsa_public_key / ecdsa_public_key)'),
    allowAnonymousConnectWithoutToken: Type.Boolean({ description: "A connect without a token is anonymous (Centrifugo's client.allow_anonymous_connect_without_token)" }),
    clientHistoryMaxPublications: Type.Integer({ minimum: 1, description: "Most publications a client's history call returns (Centrifugo's client.history_max_publication_limit)" }),
    channelRules: closed({
      namespaceBoundary: Type.String({ minLength: 1 }),
      userBoundary: Type.String({ minLength: 1 }),
      userSeparator: Type.String({ minLength: 1 }),
      privatePrefix: Type.String({ minLength: 1 }),
      maxLength: Type.Integer({ minimum: 1 }),
      refuseUnknownNamespaces: Type.Boolean(),
    }, "Centrifugo's channel name rules (src/realtime/channel-rules.ts); set by a Centrifugo configuration file"),
    defaultNamespace: NamespaceSchema,
    namespaces: Type.Record(Type.String({ pattern: NAMESPACE_NAME }), NamespaceSchema, { description: 'Channel namespaces by name', additionalProperties: false }),
  })),
}), {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'livedesk configuration',
  description: 'livedesk --config <file>: every key optional; environment variables override the file. Times are milliseconds.',
  additionalProperties: false,
})

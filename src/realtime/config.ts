/** Gateway options. Intervals are in milliseconds so tests can make them short. */
import { defaultMaxConnections, type RateLimit } from './limits.js'
import type { MapNamespaceOptions, SubscriptionTypeName } from './map-config.js'
import type { DeltaType } from './delta.js'
import { namespaceNameOf, type ChannelRules, type StandaloneNamespaceOptions } from './channel-rules.js'

/** Per channel namespace (the part of a channel name before the first ':'), as Centrifugo's namespaces. */
export interface NamespaceOptions extends StandaloneNamespaceOptions {
  /** Publications kept for history and recovery; 0 turns both off. @default 0 */
  historySize: number
  /** @default 300_000 */
  historyTtlMs: number
  /** Recovery for server-side and client-side subscriptions whenever history is on. @default true */
  forceRecovery: boolean
  /** Presence of subscribers is tracked. @default false */
  presence: boolean
  /** Join/leave pushes to subscribers. @default false */
  joinLeave: boolean
  /** Without an `authorizeChannel` hook, these allow client-side operations. @default false */
  allowSubscribe: boolean
  allowPublish: boolean
  allowHistory: boolean
  allowPresence: boolean
  /** The `allow*` options above also hold for anonymous connections (user ''), as Centrifugo's `allow_*_for_anonymous`. @default false */
  allowAnonymous: boolean
  /** Centrifugo's `subscription_type`: `map`, `map_clients` and `map_users` namespaces serve map subscriptions only. @default 'stream' */
  subscriptionType?: SubscriptionTypeName
  /** Centrifugo's `map` block, for map namespaces (src/realtime/map-config.ts). */
  map?: MapNamespaceOptions
  /** Centrifugo's `map_clients_presence_channel_prefix`: each map subscriber is an entry (key: client id) of `<prefix><channel>`. */
  mapClientsPresenceChannelPrefix?: string
  /** Centrifugo's `map_users_presence_channel_prefix`: each distinct subscribed user is an entry (key: user id) of `<prefix><channel>`, kept until its key TTL passes after the user's last subscription. */
  mapUsersPresenceChannelPrefix?: string
  /** Centrifugo's `allow_tags_filter`: map subscribers may send a tags filter. @default false */
  allowTagsFilter?: boolean
  /** Centrifugo's `client_publish_debounce_interval`, told to map subscribers (`publish_debounce`). @default 0 */
  clientPublishDebounceIntervalMs?: number
  /** Centrifugo's `allowed_delta_types`: the delta encodings a subscriber may ask for (`delta: 'fossil'`); empty: none. @default [] */
  allowedDeltaTypes: DeltaType[]
  /** Centrifugo's `delta_publish`: every publication of the namespace is published with delta (the server API's `delta` flag). @default false */
  deltaPublish: boolean
}

export interface RealtimeConfig {
  /** Node name, unique among nodes; sent as `node` in connect replies. */
  nodeId: string
  /** Server ping interval; the connect reply advertises it in seconds. @default 25_000 */
  pingIntervalMs: number
  /** A pong must arrive within this after a ping, or the connection closes 3012. @default 8_000 */
  pongTimeoutMs: number
  /** A socket that sends no valid connect within this closes 3502 stale. @default 10_000 */
  staleCloseDelayMs: number
  /** After a connection's token expires, how long it has to refresh before 3005. @default 25_000 */
  expiredCloseDelayMs: number
  /** Largest accepted client frame in bytes; larger closes 1009 as Centrifugo does. @default 65_536 */
  maxFrameBytes: number
  /** Messages joined into one WebSocket frame. @default 16 */
  maxMessagesInFrame: number
  /** Bytes a connection may have queued unsent before it is cut with 3008 slow. @default 1_048_576 */
  maxQueueBytes: number
  /** Recovery fails (recovered:false) past this many missed publications. @default 300 */
  recoveryMaxPublications: number
  /** How long a stream's epoch and top offset live without publications. @default 2_592_000_000 (720h) */
  historyMetaTtlMs: number
  /** Presence entries live this long unless re-added; each node re-adds its clients at a third of it. @default 60_000 */
  presenceTtlMs: number
  /** How often expired map keys are removed (each removal published to subscribers). @default 1_000 (Centrifugo's) */
  mapExpireIntervalMs: number
  /** How often each node tells the others its info (the server API's `info` lists the nodes heard of within twice that plus 1 s). @default 3_000 (Centrifugo's) */
  nodeInfoIntervalMs: number
  /** The server API's `channels` waits this long for the other nodes' answers; a node that has not answered is left out. @default 5_000 */
  surveyTimeoutMs: number
  /** HS256 secret for Centrifugo-style connection JWTs in `connect.token`; unset: JWTs are refused. */
  hmacSecret?: string
  /** Centrifugo's `shared_poll.hmac_secret_key`: shared poll track signatures are checked with it; unset: every track is refused (103). */
  sharedPollHmacSecret?: string
  /** A connection JWT without `sub` is refused (3507) instead of connecting as anonymous (Centrifugo's `client.disallow_anonymous_connection_tokens`). @default false */
  disallowAnonymousConnectionTokens: boolean
  /**
   * Centrifugo's `client.insecure`, for SDK test suites and demos only: a connect without token or `authenticate`
   * hook is anonymous, connection JWTs never expire, and without an `authorizeChannel` hook every channel
   * operation is allowed. @default false
   */
  insecure: boolean
  /** Allowed `Origin` headers; empty or ['*'] allows all. */
  allowedOrigins: string[]
  /**
   * WebSocket connections this process holds at most; past it the upgrade is answered 503 (Centrifugo's
   * client.connection_limit). @default the open-files limit less room for HTTP and the process's own files (limits.ts)
   */
  maxConnections: number
  /** Open WebSocket connections per IP address, across nodes; past it the upgrade is answered 429. 0: no limit. @default 200 */
  connectionsPerIp: number
  /**
   * Upgrades per IP address per window, across nodes; past it 429 with Retry-After. Above `connectionsPerIp`, so
   * that everything behind one address (an office, a proxy) reconnects within a second after a node restart.
   * @default 300 per second
   */
  connectsPerIp: RateLimit
  /**
   * Emulation requests (the commands of HTTP-streaming and SSE sessions) per IP address per window, across nodes;
   * past it the request is answered 429 with Retry-After and its commands are dropped. @default 1000 per second
   */
  emulationPerIp: RateLimit
  /** Connections per user, across nodes; past it the connect is closed 3504 connection limit. 0: no limit. @default 32 */
  connectionsPerUser: number
  /**
   * Subscriptions per connection (Centrifugo's client_channel_limit): a client-side subscribe past it gets error
   * 106 limit exceeded; server-side channels past it close the connection 3505 channel limit. @default 128
   */
  maxSubscriptions: number
  /** Commands per connection per window: past it error 111 too many requests, past twice it 3013. @default 100 per second */
  commandRate: RateLimit
  /** Options of channels without a namespace, and of namespaces not listed. */
  defaultNamespace: NamespaceOptions
  namespaces: Record<string, Partial<NamespaceOptions>>
  /** Centrifugo's channel name rules (src/realtime/channel-rules.ts); absent: ':' namespaces, unlisted namespaces use the default. */
  channelRules?: ChannelRules
  /** Connection and subscription JWTs are signed with the private key of this PEM public key (Centrifugo's `client.token.rsa_public_key` (RS256) or `ecdsa_public_key` (ES256)) instead of `hmacSecret`. */
  tokenPublicKey?: { pem: string; algorithm: 'RS256' | 'ES256' }
  /** Centrifugo's `client.allow_anonymous_connect_without_token`: a connect without a token (and not the domain's) is anonymous. @default false */
  allowAnonymousConnectWithoutToken?: boolean
  /** Most publications a client's `history` returns (Centrifugo's `client.history_max_publication_limit`); absent: the server API's cap. */
  clientHistoryMaxPublications?: number
}

export const DEFAULT_NAMESPACE: NamespaceOptions = {
  historySize: 0,
  historyTtlMs: 300_000,
  forceRecovery: true,
  presence: false,
  joinLeave: false,
  allowSubscribe: false,
  allowPublish: false,
  allowHistory: false,
  allowPresence: false,
  allowAnonymous: false,
  allowedDeltaTypes: [],
  deltaPublish: false,
}

export const DEFAULT_REALTIME_CONFIG: RealtimeConfig = {
  nodeId: 'livedesk',
  pingIntervalMs: 25_000,
  pongTimeoutMs: 8_000,
  staleCloseDelayMs: 10_000,
  expiredCloseDelayMs: 25_000,
  maxFrameBytes: 65_536,
  maxMessagesInFrame: 16,
  maxQueueBytes: 1_048_576,
  recoveryMaxPublications: 300,
  historyMetaTtlMs: 2_592_000_000,
  presenceTtlMs: 60_000,
  mapExpireIntervalMs: 1_000,
  nodeInfoIntervalMs: 3_000,
  surveyTimeoutMs: 5_000,
  allowedOrigins: [],
  disallowAnonymousConnectionTokens: false,
  insecure: false,
  maxConnections: defaultMaxConnections(),
  connectionsPerIp: 200,
  connectsPerIp: { points: 300, windowMs: 1_000 },
  emulationPerIp: { points: 1_000, windowMs: 1_000 },
  connectionsPerUser: 32,
  maxSubscriptions: 128,
  commandRate: { points: 100, windowMs: 1_000 },
  defaultNamespace: DEFAULT_NAMESPACE,
  namespaces: {},
}

/** Options for a channel: its namespace's, over the defaults. */
export function namespaceOf(config: RealtimeConfig, channel: string): NamespaceOptions {
  const found = namespaceNameOf(config, channel).name
  const name = found === '' ? undefined : found
  const ns = name === undefined || !Object.hasOwn(config.namespaces, name) ? undefined : config.namespaces[name]
  if (!ns) return config.defaultNamespace
  // Merged once per config and namespace: this runs on every publish and subscribe.
  let merged = mergedNamespaces.get(config)
  if (!merged) mergedNamespaces.set(config, (merged = new Map()))
  let options = merged.get(name!)
  if (!options) merged.set(name!, (options = { ...config.defaultNamespace, ...ns }))
  return options
}

const mergedNamespaces = new WeakMap<RealtimeConfig, Map<string, NamespaceOptions>>()

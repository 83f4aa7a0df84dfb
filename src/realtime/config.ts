/** Gateway options. Intervals are in milliseconds so tests can make them short. */

/** Per channel namespace (the part of a channel name before the first ':'), as Centrifugo's namespaces. */
export interface NamespaceOptions {
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
  /** HS256 secret for Centrifugo-style connection JWTs in `connect.token`; unset: JWTs are refused. */
  hmacSecret?: string
  /** Allowed `Origin` headers; empty or ['*'] allows all. */
  allowedOrigins: string[]
  /** Options of channels without a namespace, and of namespaces not listed. */
  defaultNamespace: NamespaceOptions
  namespaces: Record<string, Partial<NamespaceOptions>>
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
  allowedOrigins: [],
  defaultNamespace: DEFAULT_NAMESPACE,
  namespaces: {},
}

/** Options for a channel: its namespace's, over the defaults. */
export function namespaceOf(config: RealtimeConfig, channel: string): NamespaceOptions {
  const i = channel.indexOf(':')
  const name = i > 0 ? channel.slice(0, i) : undefined
  const ns = name === undefined ? undefined : config.namespaces[name]
  if (!ns) return config.defaultNamespace
  // Merged once per config and namespace: this runs on every publish and subscribe.
  let merged = mergedNamespaces.get(config)
  if (!merged) mergedNamespaces.set(config, (merged = new Map()))
  let options = merged.get(name!)
  if (!options) merged.set(name!, (options = { ...config.defaultNamespace, ...ns }))
  return options
}

const mergedNamespaces = new WeakMap<RealtimeConfig, Map<string, NamespaceOptions>>()

/** Wire types of the Centrifugo client protocol v2, JSON flavour. `data`/`info` fields are raw JSON values. */

export interface ClientInfo {
  user: string
  client: string
  conn_info?: unknown
  chan_info?: unknown
}

export interface Publication {
  data: unknown
  info?: ClientInfo
  offset?: number
  tags?: Record<string, string>
  /** Map subscriptions: the entry's key, and whether this change removes it. */
  key?: string
  removed?: boolean
  /** Fossil delta subscriptions: `data` is a delta against the channel's previous publication. */
  delta?: boolean
  /** Shared poll subscriptions: the key's version (src/realtime/shared-poll.ts). */
  version?: number
}

export interface StreamPosition {
  offset: number
  epoch: string
}

export interface SubscribeRecoveryRequest {
  recover?: boolean
  offset?: number
  epoch?: string
}

export interface ConnectRequest {
  token?: string
  data?: unknown
  subs?: Record<string, SubscribeRecoveryRequest>
  name?: string
  version?: string
  headers?: Record<string, string>
}

export interface SubscribeRequest extends SubscribeRecoveryRequest {
  channel: string
  token?: string
  data?: unknown
  positioned?: boolean
  recoverable?: boolean
  join_leave?: boolean
  flag?: number
  /** `SubscriptionType`; absent is a stream. */
  type?: number
  /** Map subscriptions: the phase asked for (2 state, 1 stream, 0 live), the state page cursor and size, the tags filter. */
  phase?: number
  cursor?: string
  limit?: number
  tf?: unknown
  delta?: string
}

export interface HistoryRequest {
  channel: string
  since?: Partial<StreamPosition>
  limit?: number
  reverse?: boolean
}

/** A client command: exactly one request field plus `id` (none for `send`, none at all for a pong). */
export interface Command {
  id?: number
  connect?: ConnectRequest
  subscribe?: SubscribeRequest
  unsubscribe?: { channel: string }
  publish?: { channel: string; data: unknown; type?: number; key?: string; removed?: boolean }
  presence?: { channel: string }
  presence_stats?: { channel: string }
  history?: HistoryRequest
  ping?: Record<string, never>
  send?: { data: unknown }
  rpc?: { method?: string; data?: unknown }
  refresh?: { token: string }
  sub_refresh?: SubRefreshRequest
}

/** `sub_refresh`: a subscription token refresh (type 0), or a shared poll track (1) or untrack (2). */
export interface SubRefreshRequest {
  channel: string
  token?: string
  type?: number
  track?: Array<{ signature?: string; items?: Array<{ key: string; version?: number }> }>
  untrack?: string[]
}

export interface SubRefreshResult {
  expires?: boolean
  ttl?: number
  items?: Publication[]
}

export type CommandMethod = Exclude<keyof Command, 'id'>

export interface SubscribeResult {
  expires?: boolean
  ttl?: number
  recoverable?: boolean
  epoch?: string
  offset?: number
  positioned?: boolean
  publications?: Publication[]
  recovered?: boolean
  was_recovering?: boolean
  data?: unknown
  /** Map subscriptions: the type echoed, the phase answered (0, live, left out), the next state page, the state entries. */
  type?: number
  phase?: number
  cursor?: string
  state?: Publication[]
  publish_debounce?: number
  /** The `delta` asked for in the subscribe is used: publications may carry deltas. */
  delta?: boolean
}

export interface ConnectResult {
  client: string
  version?: string
  expires?: boolean
  ttl?: number
  data?: unknown
  subs?: Record<string, SubscribeResult>
  ping?: number
  pong?: boolean
  session?: string
  node?: string
}

export interface ErrorBody {
  code: number
  message: string
  temporary?: boolean
}

export interface Push {
  channel?: string
  pub?: Publication
  join?: { info: ClientInfo }
  leave?: { info: ClientInfo }
  unsubscribe?: { code: number; reason: string }
  message?: { data: unknown }
  subscribe?: SubscribeResult
  disconnect?: { code: number; reason: string }
}

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
  publish?: { channel: string; data: unknown; type?: number }
  presence?: { channel: string }
  presence_stats?: { channel: string }
  history?: HistoryRequest
  ping?: Record<string, never>
  send?: { data: unknown }
  rpc?: { method?: string; data?: unknown }
  refresh?: { token: string }
  sub_refresh?: { channel: string; token?: string }
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

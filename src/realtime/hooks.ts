/**
 * The plug-in points of the gateway. The gateway knows nothing of operators or chats: whoever wires it
 * (src/main.ts) answers these. A hook refuses by throwing a `ReplyError` (an error reply) or a
 * `Disconnect` (the connection closes with that code); anything else thrown becomes error 100.
 */
import type { ClientInfo } from '../protocol/types.js'
import type { TransportName } from './transport.js'

/** Who a connection is, kept for its whole life; `meta` never leaves the server. */
export interface ConnectionContext {
  client: string
  user: string
  info?: unknown
  meta?: unknown
}

export interface ConnectingEvent {
  client: string
  transport: TransportName
  token?: string
  data?: unknown
  name?: string
  version?: string
  headers?: Record<string, string>
  /** The connection request's own HTTP headers (the WebSocket upgrade's), where the transport has them. */
  transportHeaders?: Record<string, string | string[] | undefined>
  /** The wire format: 'protobuf' for binary connections. */
  protocol?: 'json' | 'protobuf'
  remoteAddress?: string
  userAgent?: string
}

export interface ConnectingReply {
  /** Required; '' is anonymous. */
  user: string
  /** Unix seconds after which the connection must refresh; 0 or absent: never. */
  expireAt?: number
  info?: unknown
  /** Returned to the client in the connect reply. */
  data?: unknown
  /** Server-side subscriptions: the client receives their publications on its client-level `publication` event. */
  channels?: string[]
  meta?: unknown
  /** The gateway, not the client, refreshes at `expireAt` through `refresh` (no token): Centrifugo's refresh proxy. */
  refreshByServer?: boolean
  /** Data sent with each server-side subscription of `channels`, by channel (Centrifugo's connect proxy `subs`). */
  subsData?: Record<string, unknown>
  /** Options of each server-side subscription of `channels`, by channel (the rest of Centrifugo's `subs` entries). */
  subsOptions?: Record<string, ServerSubscriptionOptions>
}

/** Centrifugo's `SubscribeOptionOverride`: this subscription's values of namespace options, the others unchanged. */
export interface SubscribeOverride {
  presence?: boolean
  joinLeave?: boolean
  forceRecovery?: boolean
  forcePositioning?: boolean
  forcePushJoinLeave?: boolean
}

/** How a subscription the server makes (connect `subs`, server API `subscribe`) differs from its namespace's defaults. */
export interface ServerSubscriptionOptions {
  /** Unix seconds at which the subscription ends; 0 or absent: never. */
  expireAt?: number
  /** The subscriber's `chan_info` in presence, join/leave and its publications. */
  channelInfo?: unknown
  override?: SubscribeOverride
  /** Recover from this position (the server API's `recover_since`): missed publications follow the subscribe push. */
  recoverSince?: { offset: number; epoch: string }
}

/** A subscribe decided by `subscribing` (Centrifugo's subscribe proxy). */
export interface SubscribingReply {
  /** Unix seconds at which the subscription ends unless refreshed; 0 or absent: never. */
  expireAt?: number
  /** The gateway refreshes at `expireAt` through `subRefresh` rather than the client (Centrifugo's sub_refresh proxy). */
  refreshByServer?: boolean
  /** Returned to the client in the subscribe reply. */
  data?: unknown
  /** The subscriber's `chan_info` in presence, join/leave and its publications. */
  channelInfo?: unknown
  override?: SubscribeOverride
}

/** What `publishing` may change of a client publication (Centrifugo's publish proxy result). */
export interface PublishingReply {
  /** Published instead of the client's data. */
  data?: unknown
  skipHistory?: boolean
  tags?: Record<string, string>
  /** A repeat with the same key within the broker's window publishes nothing. */
  idempotencyKey?: string
  /** Publish with delta for delta subscribers. */
  delta?: boolean
  /** Dropped when not above the channel's last version of the same `versionEpoch` (history on). */
  version?: number
  versionEpoch?: string
}

export type ChannelOperation = 'subscribe' | 'publish' | 'history' | 'presence'

export interface RealtimeHooks {
  /** Runs for each connect that the built-in JWT check does not answer (no `token`). Must return or throw. */
  authenticate?(event: ConnectingEvent): Promise<ConnectingReply>
  /** Runs on `refresh`; returns the new expiry. Without it, only connection JWTs can be refreshed. */
  refresh?(ctx: ConnectionContext, token: string): Promise<{ expireAt?: number; info?: unknown; expired?: boolean }>
  /** Decides a client-side channel operation; `true` allows. Without it, namespace options decide. */
  authorizeChannel?(ctx: ConnectionContext, channel: string, op: ChannelOperation, token?: string): Promise<boolean>
  /** Decides a client-side subscribe without token before `authorizeChannel`; `undefined` leaves it to that. */
  subscribing?(ctx: ConnectionContext, event: { channel: string; data?: unknown }): Promise<SubscribingReply | undefined>
  /** Decides a client publication before `authorizeChannel`, and may change it; `undefined` leaves it to that. */
  publishing?(ctx: ConnectionContext, event: { channel: string; data: unknown }): Promise<PublishingReply | undefined>
  /** Refreshes a subscription whose `subscribing` reply asked for `refreshByServer`: its new expiry, or `expired` to end it. */
  subRefresh?(ctx: ConnectionContext, channel: string): Promise<{ expireAt?: number; expired?: boolean }>
  /** Answers `rpc`; the result becomes the reply's `data`. Without it, every rpc is 108 not available (as Centrifugo without an RPC proxy). */
  rpc?(ctx: ConnectionContext, method: string, data: unknown): Promise<unknown>
  /** Receives `send`; no reply goes back. */
  message?(ctx: ConnectionContext, data: unknown): void
  /** After the connect reply has been written. */
  connected?(ctx: ConnectionContext, channels: string[]): void
  /** After an authenticated connection closed, for any reason. */
  disconnected?(ctx: ConnectionContext, code: number, reason: string): void
}

export type { ClientInfo }

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
}

export type ChannelOperation = 'subscribe' | 'publish' | 'history' | 'presence'

export interface RealtimeHooks {
  /** Runs for each connect that the built-in JWT check does not answer (no `token`). Must return or throw. */
  authenticate?(event: ConnectingEvent): Promise<ConnectingReply>
  /** Runs on `refresh`; returns the new expiry. Without it, only connection JWTs can be refreshed. */
  refresh?(ctx: ConnectionContext, token: string): Promise<{ expireAt?: number; info?: unknown }>
  /** Decides a client-side channel operation; `true` allows. Without it, namespace options decide. */
  authorizeChannel?(ctx: ConnectionContext, channel: string, op: ChannelOperation, token?: string): Promise<boolean>
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

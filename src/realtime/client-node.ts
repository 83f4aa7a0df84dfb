/** The part of the node a connection's state machine sees; `Node` implements it, tests may fake it. */
import type { Logger } from 'pino'
import type { HistoryRequest, StreamPosition } from '../protocol/types.js'
import type { Broker } from './broker.js'
import type { Client } from './client.js'
import type { RealtimeConfig } from './config.js'
import type { RealtimeHooks } from './hooks.js'
import type { GatewayLimits } from './limits.js'
import type { MapNode } from './map-node.js'
import type { PresenceManager } from './presence.js'
import type { SharedPollNode } from './shared-poll.js'

/** Counters a connection increments. */
export interface ClientStats {
  connects: number
  frames: number
  slowDisconnects: number
  errors: number
}

export interface ClientNode {
  readonly config: RealtimeConfig
  readonly limits: GatewayLimits
  readonly log: Logger
  readonly stats: ClientStats
  readonly hooks: RealtimeHooks
  readonly version: string
  /** The imported HS256 key for connection and subscription JWTs; absent: JWTs are refused. */
  readonly hmacKey?: Promise<CryptoKey>
  readonly presenceManager: PresenceManager
  /** Map subscriptions; absent: map subscribes answer 108 not available. */
  readonly maps?: MapNode
  /** Shared poll subscriptions; absent: shared poll subscribes answer 108 not available. */
  readonly sharedPoll?: SharedPollNode
  /** Join/leave and history reads; publishing goes through `publish`. */
  readonly broker: Pick<Broker, 'publishJoin' | 'publishLeave' | 'history'>
  /** Registers an authenticated connection in the hub (by id, user and, for emulated transports, session). */
  addClient(client: Client, user: string): void
  /** Unregisters a connection from the hub; safe for one never added. */
  removeClient(client: Client): void
  /** Adds a local subscriber; subscribes the broker on the channel's first one (rolled back if that fails). */
  addSubscriber(channel: string, client: Client): Promise<void>
  removeSubscriber(channel: string, client: Client): Promise<void>
  publish(channel: string, data: unknown, opts: { info?: import('../protocol/types.js').ClientInfo; skipHistory?: boolean; tags?: Record<string, string>; idempotencyKey?: string; delta?: boolean; version?: number; versionEpoch?: string }): Promise<Partial<StreamPosition>>
  historyResult(channel: string, req: Omit<HistoryRequest, 'channel'>): Promise<unknown>
  /** Told when a command's reply (or error) is queued; `startedAt` is its `performance.now()` (metrics). */
  observeCommand?(transport: string, method: string, startedAt: number): void
  /** Asks for `client.flush()` once this event-loop turn's I/O is done. */
  scheduleFlush(client: Client): void
}

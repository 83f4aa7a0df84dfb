/**
 * The map broker contract (centrifuge `map_broker.go`): keyed state per channel, a stream of its changes, and
 * their fan-out. `publish` and `remove` change the state, append to the stream and publish atomically per channel,
 * so every node sees a channel's changes in offset order and a reader never sees state without its stream entry.
 */
import type { ClientInfo, StreamPosition } from '../protocol/types.js'

/** One key's value (in the state) or one change (in the stream and live). `data` is JSON text, '' for none. */
export interface MapPublication {
  key: string
  data: string
  offset?: number
  removed?: boolean
  info?: ClientInfo
  tags?: Record<string, string>
  /** Live changes published with `useDelta`: the key's previous data, the base of fossil deltas to subscribers. */
  prevData?: string
}

/**
 * Centrifugo's `map.mode`: `ephemeral` keeps state only (keys expire after `keyTtlMs`, no stream, no recovery);
 * `recoverable` adds the stream (recovery) to expiring keys; `persistent` keeps keys until removed, with the stream.
 */
export type MapMode = 'ephemeral' | 'recoverable' | 'persistent'

/** A channel's storage options, resolved from its namespace (`resolveMapChannelOptions`). */
export interface MapChannelOptions {
  mode: MapMode
  /** 0: keys never expire. */
  keyTtlMs: number
  /** Changes kept for recovery; 0 for ephemeral channels. */
  streamSize: number
  streamTtlMs: number
  /** How long the epoch and top offset live without changes; 0: forever. */
  metaTtlMs: number
}

export const hasStream = (o: MapChannelOptions) => o.mode !== 'ephemeral'

/** Conditional writes (Centrifugo's `key_mode`). */
export type KeyMode = 'if_new' | 'if_exists'

export interface MapPublishOptions {
  /** JSON text; '' for an entry without data (presence entries carry `info` only). */
  data: string
  info?: ClientInfo
  tags?: Record<string, string>
  keyMode?: KeyMode
  /** With `keyMode`: a suppressed write still extends the key's TTL (presence keep-alive). */
  refreshTtlOnSuppress?: boolean
  /** A repeat within `idempotentResultTtlMs` changes nothing and answers the first position. */
  idempotencyKey?: string
  idempotentResultTtlMs?: number
  /** Per-key versions: a write whose version is not above the key's current one is suppressed. Stream modes only. */
  version?: number
  versionEpoch?: string
  /** The live change carries the key's previous data (`prevData`), so delta subscribers get a fossil delta. */
  useDelta?: boolean
}

export interface MapRemoveOptions {
  idempotencyKey?: string
  idempotentResultTtlMs?: number
}

export type SuppressReason = 'idempotency' | 'version' | 'key_exists' | 'key_not_found'

export interface MapUpdateResult {
  position: StreamPosition
  suppressed: boolean
  suppressReason?: SuppressReason
}

export interface MapStateResult {
  publications: MapPublication[]
  /** The stream position the state is consistent with. */
  position: StreamPosition
  /** '' on the last page. */
  cursor: string
}

export interface MapStreamResult {
  publications: MapPublication[]
  position: StreamPosition
}

/** Thrown by reads when a position's epoch is gone or its changes are no longer in the stream (error 112). */
export class UnrecoverablePositionError extends Error {
  constructor() {
    super('unrecoverable position')
  }
}

/** Called by the broker for every change of a subscribed channel, this node's included, in offset order. */
export interface MapBrokerEventHandler {
  handleMapPublication(channel: string, pub: MapPublication, position: StreamPosition): void
  /** The broker's delivery of these channels was interrupted (a Redis subscriber reconnect) and resumed: changes may have been missed. */
  handleMapSubscriptionsLost?(channels: string[]): void
}

export interface MapBroker {
  /** Also starts expiring keys: an expired key is removed as by `remove`, so subscribers see the removal. */
  run(handler: MapBrokerEventHandler): Promise<void>
  /** Starts delivering the channel's changes to this node; called on its first local map subscriber. */
  subscribe(channel: string): Promise<void>
  unsubscribe(channel: string): Promise<void>
  publish(channel: string, key: string, opts: MapPublishOptions, chOpts: MapChannelOptions): Promise<MapUpdateResult>
  /** Suppressed (`key_not_found`) when the key is not in the state. */
  remove(channel: string, key: string, opts: MapRemoveOptions, chOpts: MapChannelOptions): Promise<MapUpdateResult>
  /**
   * A page of the state, ordered by key. `limit` 0 answers the position only. With `revision`, a different epoch
   * throws UnrecoverablePositionError.
   */
  readState(channel: string, opts: { cursor?: string; limit: number; revision?: StreamPosition }, chOpts: MapChannelOptions): Promise<MapStateResult>
  /**
   * Changes after `since` (all when absent), at most `limit` (-1: all; 0: the position only). A `since` of another
   * epoch, or one whose next change is no longer kept, throws UnrecoverablePositionError.
   */
  readStream(channel: string, opts: { since?: StreamPosition; limit: number }, chOpts: MapChannelOptions): Promise<MapStreamResult>
  close(): Promise<void>
}

export const DEFAULT_MAP_IDEMPOTENT_RESULT_TTL_MS = 300_000

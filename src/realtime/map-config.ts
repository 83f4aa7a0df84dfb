/** Map subscription options of a namespace (Centrifugo v6's `map` block) and the storage options derived from them. */
import type { MapChannelOptions, MapMode } from './map-broker.js'

/** Centrifugo's namespace `map` options, in milliseconds. */
export interface MapNamespaceOptions {
  /** @default 'ephemeral' */
  mode: MapMode
  /** Required for `ephemeral` and `recoverable`; must be 0 for `persistent`. */
  keyTtlMs?: number
  /** Changes kept for recovery (stream modes). @default 100 */
  streamSize?: number
  /** @default 60_000 */
  streamTtlMs?: number
  /** @default 10 × streamTtlMs for expiring keys (at least keyTtlMs), 0 (forever) for persistent */
  metaTtlMs?: number
  /** The key a client writes is its client id or user id, whatever key it sends. */
  clientKey?: 'client_id' | 'user_id'
  allowPublishForClient?: boolean
  allowPublishForSubscriber?: boolean
  allowPublishForAnonymous?: boolean
  allowRemoveForClient?: boolean
  allowRemoveForSubscriber?: boolean
  allowRemoveForAnonymous?: boolean
  /** A client's own key (its client id) is removed when it unsubscribes. */
  removeClientOnUnsubscribe?: boolean
  /** State and stream page sizes a client gets (`limit` absent) and may ask for. @default 100, 100, 1000 */
  defaultPageSize?: number
  minPageSize?: number
  maxPageSize?: number
  /** Changes a subscriber may still be behind when it goes live; past it the subscribe answers 112. @default maxPageSize */
  liveTransitionMaxPublicationLimit?: number
  /** A state/stream catch-up that takes longer is cut (3008 slow). @default 5_000 */
  subscribeCatchUpTimeoutMs?: number
}

export type SubscriptionTypeName = 'stream' | 'map' | 'map_clients' | 'map_users' | 'shared_poll'

/** The centrifuge library's defaults (client_map.go). */
export const MAP_PAGE_DEFAULTS = { defaultPageSize: 100, minPageSize: 100, maxPageSize: 1000 }

/** Storage options as centrifuge's ResolveAndValidateMapChannelOptions derives them; throws on a contradiction. */
export function resolveMapChannelOptions(o: MapNamespaceOptions): MapChannelOptions {
  const mode = o.mode ?? 'ephemeral'
  const keyTtlMs = o.keyTtlMs ?? 0
  if (mode !== 'persistent' && keyTtlMs <= 0) throw new Error(`map mode ${mode} needs keyTtlMs > 0`)
  if (mode === 'persistent' && keyTtlMs !== 0) throw new Error('map mode persistent keeps keys: keyTtlMs must be 0')
  if (mode === 'ephemeral') return { mode, keyTtlMs, streamSize: 0, streamTtlMs: 0, metaTtlMs: 0 }
  const streamSize = o.streamSize || 100
  const streamTtlMs = o.streamTtlMs || 60_000
  let metaTtlMs = o.metaTtlMs ?? 0
  if (!metaTtlMs && keyTtlMs > 0) metaTtlMs = Math.max(streamTtlMs * 10, keyTtlMs)
  return { mode, keyTtlMs, streamSize, streamTtlMs, metaTtlMs }
}

/** A client's page size, clamped as centrifuge's getMapPageSize. */
export function mapPageSize(requested: number | undefined, o: MapNamespaceOptions): number {
  const def = o.defaultPageSize || MAP_PAGE_DEFAULTS.defaultPageSize
  const min = o.minPageSize || MAP_PAGE_DEFAULTS.minPageSize
  const max = o.maxPageSize || MAP_PAGE_DEFAULTS.maxPageSize
  let limit = requested && requested > 0 ? requested : def
  if (limit < min) limit = min
  if (limit > max) limit = max
  return limit
}

/**
 * What a stream subscription gets from its namespace's Centrifugo options: positioning and recovery (asked for or
 * forced), join/leave pushes, the tags filter, and the cache recovery mode (centrifuge `client.go` subscribe path).
 */
import { Errors } from '../protocol/codes.js'
import type { Broker, BrokerPublication } from './broker.js'
import type { NamespaceOptions } from './config.js'
import { filterError, matchesFilter, type FilterNode } from './tags-filter.js'
import type { StreamPosition } from '../protocol/types.js'

/** The subscriber's own choices of a subscribe request, already checked against its permissions. */
export interface StreamRequest {
  positioned?: boolean
  recoverable?: boolean
  /** The subscriber may read history of the channel (Centrifugo lets it position and recover then). */
  historyAccess: boolean
  /** `join_leave` asked for, and the subscriber may read presence. */
  joinLeave: boolean
}

/**
 * Positioning and recovery of a subscription, and whether join/leave is pushed to it. Options livedesk's own
 * namespaces leave unset keep its behaviour: positioned whenever history is on, recovery when forced or asked for,
 * join/leave to every subscriber.
 */
export function streamFlags(ns: NamespaceOptions, req: StreamRequest): { positioned: boolean; recoverable: boolean; pushJoinLeave: boolean } {
  const pushJoinLeave = ns.forcePushJoinLeave === undefined ? true : ns.forcePushJoinLeave || (ns.joinLeave && req.joinLeave)
  if (ns.historySize <= 0) return { positioned: false, recoverable: false, pushJoinLeave }
  const recoverable = ns.forceRecovery || (!!req.recoverable && (ns.allowRecovery === undefined || ns.allowRecovery || req.historyAccess))
  const positioned = ns.forcePositioning === undefined || ns.forcePositioning || recoverable
    || (!!req.positioned && (!!ns.allowPositioning || req.historyAccess))
  return { positioned, recoverable, pushJoinLeave }
}

/** A subscribe request's tags filter (`tf`): refused with 107 where the namespace does not allow it or it is malformed. */
export function tagsFilterOf(ns: NamespaceOptions, tf: unknown): FilterNode | undefined {
  if (tf === undefined || tf === null) return undefined
  if (!ns.allowTagsFilter || filterError(tf)) throw Errors.badRequest()
  return tf as FilterNode
}

/** Publications a filtered subscriber sees. */
export function visiblePublications(pubs: BrokerPublication[], filter: FilterNode | undefined): BrokerPublication[] {
  return filter ? pubs.filter((p) => matchesFilter(filter, p.tags)) : pubs
}

/**
 * Cache recovery (`force_recovery_mode: cache`, centrifuge `recoverCache` and `isCacheRecovered`): only the latest
 * publication (the latest matching the filter) matters. The subscriber is recovered when it holds the top already,
 * or when the latest publication is the top, which it then gets.
 */
export async function recoverCache(
  broker: Pick<Broker, 'history'>, channel: string, since: StreamPosition, opts: { historyMetaTtlMs: number; maxPublications: number; filter?: FilterNode },
): Promise<{ top: StreamPosition; recovered: boolean; publications: BrokerPublication[] }> {
  const h = await broker.history(channel, { limit: opts.filter ? opts.maxPublications : 1, reverse: true, historyMetaTtlMs: opts.historyMetaTtlMs })
  const top = h.position
  const latest = h.publications[0]
  const matching = visiblePublications(h.publications, opts.filter)[0]
  const sameState = since.offset > 0 && since.offset === top.offset && since.epoch === top.epoch
  if (!latest) return { top, recovered: sameState, publications: [] }
  const recovered = latest.offset === top.offset
  return { top, recovered, publications: recovered && !sameState && matching ? [matching] : [] }
}

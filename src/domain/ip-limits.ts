/**
 * What one visitor address may open: a few sessions at a time and a few per window, so throwaway sign-ups from
 * one address cannot fill every operator's maxChats. The counts are the sessions in the store, read under the
 * queue lock when a session opens: exact on any number of nodes. Clients without an address (made by a backend
 * that gave none) are not counted.
 */
import type { Db } from '../store/db.js'
import { sessionsOfIp } from '../store/ip-limits.js'
import type { DomainConfig } from './config.js'
import { DomainError } from './errors.js'

/** Throws rate_limited when a client from `ip` may not open one more session now. Caller holds the queue lock. */
export async function checkNewSessionOfIp(tx: Db, ip: string | null, config: Pick<DomainConfig, 'openSessionsPerIp' | 'sessionsPerIp'>): Promise<void> {
  const { openSessionsPerIp: maxOpen, sessionsPerIp: rate } = config
  if (!ip || (maxOpen <= 0 && rate.points <= 0)) return
  const { open, recent } = await sessionsOfIp(tx, ip, rate.windowMs)
  if (maxOpen > 0 && open >= maxOpen) {
    throw new DomainError('rate_limited', `at most ${maxOpen} open sessions per address: close one first`, undefined, 60)
  }
  if (rate.points > 0 && recent >= rate.points) {
    throw new DomainError('rate_limited', `at most ${rate.points} new sessions per address per ${Math.round(rate.windowMs / 60_000)} min`, undefined, Math.ceil(rate.windowMs / 1000))
  }
}

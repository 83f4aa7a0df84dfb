/**
 * Who gets a session. Available: status `online` (availability.ts), not blocked, at least one live connection (the domain's own record,
 * operator-presence.ts), fewer open sessions than maxChats. Among them the fewest open sessions wins; ties go
 * to the one who waited longest since the last assignment (never assigned first), then to the oldest
 * operator. A session in a group goes only to its members, and waits while its group is closed (groups.ts).
 * The queue drains in arrival order. Callers hold the queue lock (Mutator.run with `routes`).
 */
import type { Db } from '../store/db.js'
import { queuedSessions, type SessionRow } from '../store/chat.js'
import { markAssigned, routingCandidates } from '../store/operators.js'
import { transition } from './lifecycle.js'

interface Candidate {
  id: string
  open: number
  maxChats: number
  /** Order of the last assignment: smaller waited longer; -Infinity = never assigned. */
  lastAssigned: number
  rank: number
  groups: string[]
}

export interface Assignment {
  session: SessionRow
  operatorId: string
}

export class Router {
  /** `nodeTtlMs`: a connection counts while its node heartbeated this recently. */
  constructor(private readonly nodeTtlMs: number) {}

  /**
   * Assigns queued sessions in arrival order while someone is available; returns who got what. `avoid`: session id →
   * an operator it must not go to now (reassignment.ts); such a session stays queued rather than go there.
   */
  async drain(tx: Db, avoid?: ReadonlyMap<string, string>): Promise<Assignment[]> {
    const rows = await routingCandidates(tx, this.nodeTtlMs)
    if (rows.length === 0) return []
    const candidates: Candidate[] = rows.map((r, rank) => ({
      id: r.id,
      open: r.open,
      maxChats: r.max_chats,
      lastAssigned: r.last_assigned_at ? new Date(r.last_assigned_at).getTime() : -Infinity,
      rank,
      groups: r.group_ids ?? [],
    }))
    const assignments: Assignment[] = []
    for (const queued of await queuedSessions(tx)) {
      if (queued.group_closed) continue
      const avoided = avoid?.get(queued.id)
      const best = pick(avoided ? candidates.filter((c) => c.id !== avoided) : candidates, queued.group_id)
      if (!best) {
        if (avoided || queued.group_id) continue
        break
      }
      const session = await assign(tx, queued, best.id)
      best.open += 1
      best.lastAssigned = Date.now() + assignments.length / 1000
      assignments.push({ session, operatorId: best.id })
    }
    return assignments
  }
}

function pick(candidates: Candidate[], groupId: string | null = null): Candidate | undefined {
  let best: Candidate | undefined
  for (const c of candidates) {
    if (c.open >= c.maxChats || (groupId && !c.groups.includes(groupId))) continue
    if (
      !best ||
      c.open < best.open ||
      (c.open === best.open && (c.lastAssigned < best.lastAssigned || (c.lastAssigned === best.lastAssigned && c.rank < best.rank)))
    ) {
      best = c
    }
  }
  return best
}

/** Gives a queued session to an operator; the caller checked availability under the queue lock. */
export async function assign(tx: Db, session: SessionRow, operatorId: string): Promise<SessionRow> {
  const assigned = await transition(tx, session, 'assigned', operatorId)
  await markAssigned(tx, operatorId)
  return assigned
}

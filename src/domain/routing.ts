/**
 * Who gets a session. Available: not blocked, at least one live connection (the domain's own record,
 * operator-presence.ts), fewer open sessions than maxChats. Among them the fewest open sessions wins; ties go
 * to the one who waited longest since the last assignment (never assigned first), then to the oldest
 * operator. The queue drains in arrival order. Callers hold the queue lock (Mutator.run with `routes`).
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
}

export interface Assignment {
  session: SessionRow
  operatorId: string
}

export class Router {
  /** `nodeTtlMs`: a connection counts while its node heartbeated this recently. */
  constructor(private readonly nodeTtlMs: number) {}

  /** Assigns queued sessions in arrival order while someone is available; returns who got what. */
  async drain(tx: Db): Promise<Assignment[]> {
    const rows = await routingCandidates(tx, this.nodeTtlMs)
    if (rows.length === 0) return []
    const candidates: Candidate[] = rows.map((r, rank) => ({
      id: r.id,
      open: r.open,
      maxChats: r.max_chats,
      lastAssigned: r.last_assigned_at ? new Date(r.last_assigned_at).getTime() : -Infinity,
      rank,
    }))
    const assignments: Assignment[] = []
    for (const queued of await queuedSessions(tx)) {
      const best = pick(candidates)
      if (!best) break
      const session = await assign(tx, queued, best.id)
      best.open += 1
      best.lastAssigned = Date.now() + assignments.length / 1000
      assignments.push({ session, operatorId: best.id })
    }
    return assignments
  }
}

function pick(candidates: Candidate[]): Candidate | undefined {
  let best: Candidate | undefined
  for (const c of candidates) {
    if (c.open >= c.maxChats) continue
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

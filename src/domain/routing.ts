/**
 * Who gets a session. Available: not blocked, at least one live connection, fewer open sessions than
 * maxChats. Among them the fewest open sessions wins; ties go to the one who waited longest since the
 * last assignment (never assigned first), then to the oldest operator. The queue drains in arrival order.
 * Callers hold the domain lock (Mutator), so no two routings interleave on any node.
 */
import type { Db } from '../store/db.js'
import { operatorChannel } from './channels.js'
import type { LiveGateway } from './ports.js'

interface Candidate {
  id: string
  open: number
  maxChats: number
  /** Order of the last assignment: smaller waited longer; -Infinity = never assigned. */
  lastAssigned: number
  rank: number
}

export interface Assignment {
  sessionId: string
  operatorId: string
}

export class Router {
  constructor(private readonly live: LiveGateway) {}

  /** Operators that can take a session now, best first. `online` are known to be connected (just opened). */
  async available(tx: Db, online: ReadonlySet<string> = new Set()): Promise<Candidate[]> {
    const rows = await tx.query<any>(
      `SELECT o.id, o.max_chats, o.last_assigned_at,
              (SELECT count(*)::int FROM sessions s WHERE s.operator_id = o.id AND s.status = 'assigned') AS open
         FROM operators o
        WHERE NOT o.blocked
        ORDER BY o.created_at, o.id`,
    )
    const result: Candidate[] = []
    for (const [rank, r] of rows.entries()) {
      if (r.open >= r.max_chats) continue
      if (!online.has(r.id) && (await this.live.connectionCount(operatorChannel(r.id))) === 0) continue
      const at = r.last_assigned_at ? new Date(r.last_assigned_at).getTime() : -Infinity
      result.push({ id: r.id, open: r.open, maxChats: r.max_chats, lastAssigned: at, rank })
    }
    return result
  }

  /** Assigns queued sessions in arrival order while someone is available; returns who got what. */
  async drain(tx: Db, online?: ReadonlySet<string>): Promise<Assignment[]> {
    const queued = await tx.query<{ id: string }>(`SELECT id FROM sessions WHERE status = 'queued' ORDER BY queue_seq, seq`)
    if (queued.length === 0) return []
    const candidates = await this.available(tx, online)
    const assignments: Assignment[] = []
    for (const { id } of queued) {
      const best = pick(candidates)
      if (!best) break
      await assign(tx, id, best.id)
      best.open += 1
      best.lastAssigned = Date.now() + assignments.length / 1000
      assignments.push({ sessionId: id, operatorId: best.id })
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

/** Gives a session to an operator; the caller checked availability. */
export async function assign(tx: Db, sessionId: string, operatorId: string): Promise<void> {
  await tx.query(
    `UPDATE sessions SET status = 'assigned', bot_status = 'OPERATOR', operator_id = $2, operator_assigned_at = clock_timestamp()
      WHERE id = $1`,
    [sessionId, operatorId],
  )
  await tx.query(`UPDATE operators SET last_assigned_at = clock_timestamp() WHERE id = $1`, [operatorId])
}

/** The SQL of the admin page's figures: how many sessions are in each state, across every node. */
import type { Db } from './db.js'

export interface SessionFigures {
  /** Sessions waiting for an operator (the queue's length). */
  queued: number
  /** Sessions an operator holds. */
  assigned: number
  /** Sessions the bot answers. */
  bot: number
  /** Operators not blocked with at least one open session. */
  busyOperators: number
}

/** One statement; counts open sessions only, so its cost follows the open sessions, not the history. */
export async function sessionFigures(db: Db): Promise<SessionFigures> {
  const [row] = await db.query<{ queued: number; assigned: number; bot: number; busy: number }>(
    `SELECT count(*) FILTER (WHERE status = 'queued')::int AS queued,
            count(*) FILTER (WHERE status = 'assigned')::int AS assigned,
            count(*) FILTER (WHERE status = 'bot')::int AS bot,
            count(DISTINCT operator_id) FILTER (WHERE status = 'assigned')::int AS busy
       FROM sessions WHERE status <> 'closed'`,
  )
  return { queued: row?.queued ?? 0, assigned: row?.assigned ?? 0, bot: row?.bot ?? 0, busyOperators: row?.busy ?? 0 }
}

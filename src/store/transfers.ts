/** The SQL of sessions that move (migration 008): transfers, the answer timers and the offline grace of holders. */
import type { Db } from './db.js'

export interface TransferRow {
  id: number
  session_id: string
  by_type: 'operator' | 'supervisor' | 'api'
  by_id: string | null
  from_operator_id: string | null
  to_operator_id: string | null
  to_group_id: string | null
  to_queue: boolean
  note: string | null
  at: Date
}

export async function insertTransfer(db: Db, t: Omit<TransferRow, 'id' | 'at'>): Promise<TransferRow> {
  const [row] = await db.query<TransferRow>(
    `INSERT INTO session_transfers (session_id, by_type, by_id, from_operator_id, to_operator_id, to_group_id, to_queue, note)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
    [t.session_id, t.by_type, t.by_id, t.from_operator_id, t.to_operator_id, t.to_group_id, t.to_queue, t.note],
  )
  return row
}

/** A session's transfers, oldest first, with the name of the operator who made each. */
export async function transfersOf(db: Db, sessionId: string): Promise<Array<TransferRow & { by_name: string | null }>> {
  return db.query(
    `SELECT t.*, o.name AS by_name FROM session_transfers t LEFT JOIN operators o ON o.id = t.by_id WHERE t.session_id = $1 ORDER BY t.id`,
    [sessionId],
  )
}

export interface OperatorAvailabilityRow {
  id: string
  name: string
  role: string
  status: string
  blocked: boolean
  max_chats: number
  open: number
}

/** The operator row locked (so its open count holds until the commit: the caller holds the queue lock) with its load. */
export async function lockedOperator(db: Db, id: string): Promise<OperatorAvailabilityRow | undefined> {
  const [row] = await db.query<OperatorAvailabilityRow>(
    `SELECT o.id, o.name, o.role, o.status, o.blocked, o.max_chats,
            (SELECT count(*)::int FROM sessions s WHERE s.operator_id = o.id AND s.status = 'assigned') AS open
       FROM operators o WHERE o.id = $1 FOR NO KEY UPDATE`,
    [id],
  )
  return row
}

export async function groupExists(db: Db, id: string): Promise<boolean> {
  const rows = await db.query(`SELECT 1 FROM groups WHERE id = $1`, [id])
  return rows.length > 0
}

export async function setSessionGroup(db: Db, sessionId: string, groupId: string): Promise<void> {
  await db.query(`UPDATE sessions SET group_id = $2 WHERE id = $1`, [sessionId, groupId])
}

export interface DueSession {
  id: string
  operator_id: string
  /** What ran out: the first answer, a next answer, or the holder's offline grace. */
  timer: 'firstAnswer' | 'nextAnswer' | 'offline'
}

/**
 * Assigned sessions whose holder has been `offline` for `graceMs` or more (counted from its status change),
 * oldest assignment first; only `sessionId` when given (the re-check under the lock).
 */
export async function dueOffline(db: Db, graceMs: number, limit: number, sessionId: string | null = null): Promise<DueSession[]> {
  return db.query<DueSession>(
    `SELECT s.id, s.operator_id, 'offline' AS timer
       FROM operators o JOIN sessions s ON s.operator_id = o.id AND s.status = 'assigned'
      WHERE o.status = 'offline' AND o.status_changed_at <= clock_timestamp() - make_interval(secs => $1::float8 / 1000)
        AND ($3::text IS NULL OR s.id = $3)
      ORDER BY s.operator_assigned_at LIMIT $2`,
    [graceMs, limit, sessionId],
  )
}

/**
 * Assigned sessions whose holder missed an answer timer: no message of the holder `firstSec` after its assignment
 * (`firstSec` > 0), or, once it answered, a client message waiting `nextSec` for the next answer (`nextSec` > 0).
 * `skip`: sessions the caller will not try now (so they do not fill the `limit`).
 */
export async function dueAnswers(
  db: Db,
  t: { firstSec: number; nextSec: number; limit: number; sessionId?: string | null; skip?: string[] },
): Promise<DueSession[]> {
  return db.query<DueSession>(
    `SELECT s.id, s.operator_id, CASE WHEN answered.seq IS NULL THEN 'firstAnswer' ELSE 'nextAnswer' END AS timer
       FROM sessions s
       CROSS JOIN LATERAL (
         SELECT max(m.seq) AS seq FROM messages m
          WHERE m.session_id = s.id AND m.author_type = 'operator' AND m.author_id = s.operator_id AND NOT m.internal
            AND m.created_at >= s.operator_assigned_at) answered
      WHERE s.status = 'assigned' AND ($4::text IS NULL OR s.id = $4) AND NOT (s.id = ANY($5::text[]))
        AND (($1::float8 > 0 AND answered.seq IS NULL
              AND s.operator_assigned_at <= clock_timestamp() - make_interval(secs => $1::float8))
          OR ($2::float8 > 0 AND answered.seq IS NOT NULL
              AND EXISTS (SELECT 1 FROM messages c WHERE c.session_id = s.id AND c.author_type = 'client' AND c.seq > answered.seq
                             AND c.created_at <= clock_timestamp() - make_interval(secs => $2::float8))))
      ORDER BY s.operator_assigned_at LIMIT $3`,
    [t.firstSec, t.nextSec, t.limit, t.sessionId ?? null, t.skip ?? []],
  )
}

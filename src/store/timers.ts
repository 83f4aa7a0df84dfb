/** The SQL of shared timers (migration 004): typing indicators and clients' offline grace. */
import type { Db } from './db.js'

export interface TypingRow {
  channels: string[]
  data: any
}

/**
 * Shows or renews a typist's indicator until now + `ttlMs`, unless its last accepted notice is younger than
 * `minIntervalMs`: then nothing changes and undefined comes back (rate-limited).
 */
export async function startTyping(
  db: Db,
  t: { chatId: string; typist: string; channels: string[]; data: unknown; ttlMs: number; minIntervalMs: number },
): Promise<{ until: Date } | undefined> {
  const [row] = await db.query<{ until: Date }>(
    `WITH t AS (
       INSERT INTO typing (chat_id, typist, channels, data, notice_at, until)
       VALUES ($1, $2, $3, $4, clock_timestamp(), clock_timestamp() + make_interval(secs => $5::float8 / 1000))
       ON CONFLICT (chat_id, typist) DO UPDATE
          SET channels = EXCLUDED.channels, data = EXCLUDED.data, notice_at = EXCLUDED.notice_at, until = EXCLUDED.until
        WHERE typing.notice_at <= clock_timestamp() - make_interval(secs => $6::float8 / 1000)
       RETURNING until),
     -- the client's open session learns until when a message of the client must end the indicator
     hint AS (
       UPDATE sessions SET client_typing_until = (SELECT until FROM t)
        WHERE starts_with($2, 'client:') AND chat_id = $1 AND status <> 'closed' AND EXISTS (SELECT 1 FROM t))
     SELECT until FROM t`,
    [t.chatId, t.typist, t.channels, JSON.stringify(t.data), t.ttlMs, t.minIntervalMs],
  )
  return row
}

/** Stops the typist's indicator in the chat (or in every chat); returns those that were showing, each once across nodes. */
export async function stopTyping(db: Db, typist: string, chatId?: string): Promise<TypingRow[]> {
  return db.query<TypingRow>(
    `UPDATE typing SET until = NULL WHERE typist = $1 AND ($2::text IS NULL OR chat_id = $2) AND until IS NOT NULL RETURNING channels, data`,
    [typist, chatId ?? null],
  )
}

/** Indicators whose time is up, stopped and returned: each to exactly one node's sweeper. */
export async function expireTyping(db: Db): Promise<TypingRow[]> {
  return db.query<TypingRow>(`UPDATE typing SET until = NULL WHERE until <= clock_timestamp() RETURNING channels, data`)
}

/** Forgets stopped indicators whose notices are too old to matter for the rate limit. */
export async function pruneTyping(db: Db, olderThanMs: number): Promise<void> {
  await db.query(`DELETE FROM typing WHERE until IS NULL AND notice_at < clock_timestamp() - make_interval(secs => $1::float8 / 1000)`, [olderThanMs])
}

/** The client's last widget connection (on this node) closed: offline at now + `graceMs` unless one opens. */
export async function scheduleOffline(db: Db, clientId: string, graceMs: number): Promise<void> {
  await db.query(`UPDATE clients SET offline_due_at = clock_timestamp() + make_interval(secs => $2::float8 / 1000) WHERE id = $1`, [
    clientId,
    graceMs,
  ])
}

/** Clients whose grace is over, taken (each by one node): the caller checks they really have no connection left. */
export async function takeDueOffline(db: Db): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `UPDATE clients SET offline_due_at = NULL WHERE offline_due_at <= clock_timestamp() RETURNING id`,
  )
  return rows.map((r) => r.id)
}

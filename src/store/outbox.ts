/** The SQL of the transactional outbox (migration 003): write events with their cause, take, mark, prune. */
import type { Db } from './db.js'

export interface NewOutboxEvent {
  eventId: string
  event: string
  chatId: string | null
  data: unknown
  subject: unknown
}

export interface OutboxRow {
  id: number
  event_id: string
  event: string
  chat_id: string | null
  form: 'payload' | 'message_row'
  data: any
  subject: any
  created_at: Date
}

/** All of a transaction's events in one statement, in order; returns their ids and times. */
export async function insertEvents(db: Db, events: NewOutboxEvent[]): Promise<Array<{ id: number; created_at: Date }>> {
  if (events.length === 0) return []
  return db.query<{ id: number; created_at: Date }>(
    `INSERT INTO outbox (event_id, event, chat_id, data, subject)
     SELECT e->>'eventId', e->>'event', e->>'chatId', e->'data', e->'subject'
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n
     RETURNING id, created_at`,
    [JSON.stringify(events)],
  )
}

/**
 * Leases unpublished events older than `olderThanMs` (of one chat when `chatId`), oldest first, for
 * `leaseMs`: rows another relay leased are skipped until their lease ends. One statement, no transaction.
 */
export async function leaseUnpublished(
  db: Db,
  opts: { olderThanMs: number; leaseMs: number; limit: number; chatId?: string },
): Promise<OutboxRow[]> {
  const rows = await db.query<OutboxRow>(
    `UPDATE outbox SET lease_until = clock_timestamp() + make_interval(secs => $2::float8 / 1000)
      WHERE id IN (
        SELECT id FROM outbox
         WHERE published_at IS NULL AND ($4::text IS NULL OR chat_id = $4)
           AND created_at <= clock_timestamp() - make_interval(secs => $1::float8 / 1000)
           AND (lease_until IS NULL OR lease_until < clock_timestamp())
         ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
      RETURNING id, event_id, event, chat_id, form, data, subject, created_at`,
    [opts.olderThanMs, opts.leaseMs, opts.limit, opts.chatId ?? null],
  )
  return rows.sort((a, b) => a.id - b.id)
}

export async function markPublished(db: Db, ids: number[]): Promise<void> {
  if (ids.length === 0) return
  await db.query(`UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[]) AND published_at IS NULL`, [ids])
}

/** Deletes published events older than `retentionMs`, at most `limit` at a time; returns how many. */
export async function prunePublished(db: Db, retentionMs: number, limit = 5_000): Promise<number> {
  const rows = await db.query<{ id: number }>(
    `DELETE FROM outbox WHERE id IN (
       SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1::float8 / 1000) LIMIT $2)
     RETURNING id`,
    [retentionMs, limit],
  )
  return rows.length
}

/** Unpublished events right now (readiness, metrics, tests). */
export async function unpublishedCount(db: Db): Promise<number> {
  const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`)
  return row.n
}

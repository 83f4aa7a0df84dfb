/** The SQL of the transactional outbox (migrations 003, 016): write events with their cause, find the unpublished, prune. */
import { readAtOf, type MessageRow } from './chat.js'
import type { Db } from './db.js'
import { oweDeliveries } from './webhooks.js'

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
  form: 'payload' | 'message_ref'
  data: any
  subject: any
  created_at: Date
}

/** Writes the events of `$1` (a JSON array, in order) as node `$2`. */
const INSERT_EVENTS = `INSERT INTO outbox (event_id, event, chat_id, data, subject, node_id)
       SELECT e->>'eventId', e->>'event', e->>'chatId', e->'data', e->'subject', $2
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n`

/**
 * All of a transaction's events in one statement, in order, as written by `nodeId`; returns their ids and times.
 * `oweWebhooks`: the same statement owes them to the webhooks subscribed (store/webhooks.ts); false only while
 * there is no webhook at all (it costs the statement a second insert's start even when nothing matches).
 */
export async function insertEvents(db: Db, events: NewOutboxEvent[], nodeId: string, oweWebhooks = true): Promise<Array<{ id: number; created_at: Date }>> {
  if (events.length === 0) return []
  const sql = oweWebhooks
    ? `WITH o AS (${INSERT_EVENTS} RETURNING id, event_id, event, created_at),
       owed AS (${oweDeliveries('o')})
       SELECT id, created_at FROM o ORDER BY id`
    : `${INSERT_EVENTS} RETURNING id, created_at`
  return db.query<{ id: number; created_at: Date }>(sql, [JSON.stringify(events), nodeId])
}

/** Makes `nodeId` the relay of gone nodes' events for `leaseMs`, unless another live node holds it; true if it is. */
export async function claimRelay(db: Db, nodeId: string, leaseMs: number): Promise<boolean> {
  const rows = await db.query(
    `UPDATE outbox_relay SET node_id = $1, lease_until = clock_timestamp() + make_interval(secs => $2::float8 / 1000)
      WHERE id = 1 AND (node_id = $1 OR lease_until < clock_timestamp()) RETURNING 1`,
    [nodeId, leaseMs],
  )
  return rows.length > 0
}

/** A node leaving hands the relay on at once. */
export async function releaseRelay(db: Db, nodeId: string): Promise<void> {
  await db.query(`UPDATE outbox_relay SET lease_until = '-infinity' WHERE id = 1 AND node_id = $1`, [nodeId])
}

/**
 * Events not known to be published: created at or after `since` (a node's heartbeated watermark), not marked, with
 * an id above `after`, oldest first, of one node or of one chat. Some may be out already (the watermark trails by
 * seconds): publishing them again is dropped by the broker's idempotency key. One statement, no transaction.
 */
export async function unpublishedAfter(
  db: Db,
  opts: { since: Date; after: number; limit: number; nodeId?: string; chatId?: string },
): Promise<OutboxRow[]> {
  return db.query<OutboxRow>(
    `SELECT id, event_id, event, chat_id, form, data, subject, created_at FROM outbox
      WHERE created_at >= $1 AND id > $2 AND published_at IS NULL
        AND ($4::text IS NULL OR chat_id = $4) AND ($5::text IS NULL OR node_id = $5)
      ORDER BY id LIMIT $3`,
    [opts.since, opts.after, opts.limit, opts.chatId ?? null, opts.nodeId ?? null],
  )
}

/** Events not yet passed by their node's watermark nor marked (some of them are out already): the outbox's backlog. */
export async function unpublishedCount(db: Db): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM outbox o JOIN domain_nodes d ON d.node_id = o.node_id
      WHERE o.created_at >= (SELECT min(unpublished_since) FROM domain_nodes) AND o.created_at >= d.unpublished_since AND o.published_at IS NULL`,
  )
  return row?.n ?? 0
}

/** Where unpublished events may start, over every node (alive or gone): everything older is published. */
export async function oldestUnpublishedSince(db: Db): Promise<Date> {
  const [row] = await db.query<{ since: Date | null }>(`SELECT min(unpublished_since) AS since FROM domain_nodes`)
  return row?.since ? new Date(row.since) : new Date(0)
}

/** The messages a `message_ref` event points at. */
export async function messagesByIds(db: Db, ids: string[]): Promise<Map<string, MessageRow>> {
  if (ids.length === 0) return new Map()
  const rows = await db.query<MessageRow>(`SELECT m.*, ${readAtOf('m')} FROM messages m WHERE id = ANY($1)`, [ids])
  return new Map(rows.map((r) => [r.id, r]))
}

/** Events published that their node's watermark did not pass in time (see migration 016). */
export async function markPublished(db: Db, ids: number[]): Promise<void> {
  if (ids.length === 0) return
  await db.query(`UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[]) AND published_at IS NULL`, [ids])
}

/**
 * Deletes events older than `retentionMs` that every node's watermark has passed (published) and no webhook is
 * still owed, oldest first, at most `limit` at a time.
 */
export async function prunePublished(db: Db, retentionMs: number, limit = 5_000): Promise<number> {
  const rows = await db.query<{ id: number }>(
    `DELETE FROM outbox WHERE id IN (
       SELECT id FROM outbox WHERE created_at < now() - make_interval(secs => $1::float8 / 1000)
          AND created_at < (SELECT coalesce(min(unpublished_since), 'infinity') FROM domain_nodes)
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.outbox_id = outbox.id AND d.state = 'pending')
        ORDER BY created_at LIMIT $2)
     RETURNING id`,
    [retentionMs, limit],
  )
  return rows.length
}

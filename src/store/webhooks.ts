/** The SQL of outbound webhooks (migration 013): endpoints, the deliveries each event owes them, and the attempt log. */
import type { Db } from './db.js'

export interface WebhookRow {
  id: string
  url: string
  events: string[]
  secret: string
  enabled: boolean
  disabled_reason: string | null
  disabled_at: Date | null
  failures: number
  created_at: Date
  updated_at: Date
}

/** A pending delivery with its event as the outbox keeps it (`form` 'message_ref': `data` is `{ id }` of a message). */
export interface PendingDelivery {
  id: number
  outbox_id: number
  event_id: string
  event: string
  attempts: number
  form: 'payload' | 'message_ref' | null
  data: any
  event_at: Date | null
}

export interface AttemptRow {
  delivery_id: number
  event_id: string
  event: string
  state: string
  attempt: number
  status_code: number | null
  error: string | null
  duration_ms: number
  at: Date
}

/**
 * A statement part (a CTE body) owing the events of the CTE `events` (columns id, event_id, event) to every enabled
 * endpoint subscribed to them: it runs in the statement that writes the events, so they are owed from their commit.
 */
export function oweDeliveries(events: string): string {
  return `INSERT INTO webhook_deliveries (webhook_id, outbox_id, event_id, event)
       SELECT w.id, e.id, e.event_id, e.event FROM ${events} e JOIN webhooks w ON w.enabled AND w.events && ARRAY[e.event, '*']`
}

const COLUMNS = 'id, url, events, secret, enabled, disabled_reason, disabled_at, failures, created_at, updated_at'

/** A new endpoint; the first one (no other exists) is owed, by a sweep, the events of the next `backfillMs` too. */
export async function insertWebhook(
  db: Db,
  w: { id: string; url: string; events: string[]; secret: string; enabled: boolean; backfillMs: number },
): Promise<WebhookRow> {
  const [row] = await db.query<WebhookRow>(
    `INSERT INTO webhooks (id, url, events, secret, enabled, disabled_reason, disabled_at, backfill_until)
     VALUES ($1, $2, $3, $4, $5, CASE WHEN $5 THEN NULL ELSE 'disabled by the API' END, CASE WHEN $5 THEN NULL ELSE now() END,
             CASE WHEN NOT EXISTS (SELECT 1 FROM webhooks) THEN now() + make_interval(secs => $6::float8 / 1000) END)
     RETURNING ${COLUMNS}`,
    [w.id, w.url, w.events, w.secret, w.enabled, w.backfillMs],
  )
  return row!
}

/** Whether any endpoint exists (enabled or not): while none does, events' statements need not owe deliveries. */
export async function anyWebhook(db: Db): Promise<boolean> {
  const [row] = await db.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM webhooks) AS any`)
  return row!.any
}

/**
 * Owes a first endpoint (see `insertWebhook`) the events created since its creation that a node still unaware of
 * any endpoint wrote without owing them; one node at a time (a transaction lock), so none is owed twice: an event
 * and the deliveries its statement owed commit together, so one seen here without a delivery has none.
 */
export async function backfillFirstWebhooks(db: Db): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [BACKFILL_LOCK])
    const rows = await tx.query(
      `INSERT INTO webhook_deliveries (webhook_id, outbox_id, event_id, event)
       SELECT w.id, o.id, o.event_id, o.event
         FROM webhooks w JOIN outbox o ON o.created_at >= w.created_at AND o.created_at <= w.backfill_until
        WHERE w.backfill_until > now() - interval '1 minute' AND w.enabled AND w.events && ARRAY[o.event, '*']
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.outbox_id = o.id)
        ORDER BY o.id
       RETURNING 1`,
    )
    return rows.length
  })
}

/** The advisory lock key of `backfillFirstWebhooks`. */
const BACKFILL_LOCK = 7_362_013

export async function listWebhooks(db: Db): Promise<WebhookRow[]> {
  return db.query<WebhookRow>(`SELECT ${COLUMNS} FROM webhooks ORDER BY created_at, id`)
}

export async function webhookById(db: Db, id: string): Promise<WebhookRow | undefined> {
  const [row] = await db.query<WebhookRow>(`SELECT ${COLUMNS} FROM webhooks WHERE id = $1`, [id])
  return row
}

/**
 * Changes the fields given. `enabled` true clears the disabled status and the failure count (its pending deliveries
 * resume at once); false disables it with `reason`.
 */
export async function updateWebhook(
  db: Db,
  id: string,
  p: { url?: string; events?: string[]; secret?: string; enabled?: boolean; reason?: string },
): Promise<WebhookRow | undefined> {
  const [row] = await db.query<WebhookRow>(
    `UPDATE webhooks SET url = COALESCE($2, url), events = COALESCE($3, events), secret = COALESCE($4, secret),
            enabled = COALESCE($5, enabled),
            disabled_reason = CASE WHEN $5 IS NULL OR $5 = enabled THEN disabled_reason WHEN $5 THEN NULL ELSE $6 END,
            disabled_at = CASE WHEN $5 IS NULL OR $5 = enabled THEN disabled_at WHEN $5 THEN NULL ELSE now() END,
            failures = CASE WHEN $5 AND NOT enabled THEN 0 ELSE failures END,
            next_attempt_at = CASE WHEN $5 AND NOT enabled THEN '-infinity' ELSE next_attempt_at END,
            -- events of the time it was disabled are not owed to it, by the sweep either
            backfill_until = CASE WHEN NOT $5 THEN NULL ELSE backfill_until END,
            updated_at = now()
      WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, p.url ?? null, p.events ?? null, p.secret ?? null, p.enabled ?? null, p.reason ?? null],
  )
  return row
}

/** The endpoint, its deliveries and its log; false when there was none. */
export async function deleteWebhook(db: Db, id: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx.query(`DELETE FROM webhooks WHERE id = $1 RETURNING id`, [id])
    await tx.query(`DELETE FROM webhook_deliveries WHERE webhook_id = $1`, [id])
    await tx.query(`DELETE FROM webhook_attempts WHERE webhook_id = $1`, [id])
    return rows.length > 0
  })
}

/**
 * Leases up to `limit` enabled endpoints with a delivery owed and due, that no live lease holds, to `nodeId` for
 * `leaseMs`: one node at a time sends an endpoint's deliveries. One statement, no transaction.
 */
export async function claimWebhooks(
  db: Db, nodeId: string, leaseMs: number, limit: number,
): Promise<{ claimed: Array<{ id: string; url: string; secret: string }>; anyWebhook: boolean; backfilling: boolean }> {
  // The same statement says whether any endpoint exists, and whether a first one is owed a sweep (no extra statement).
  const rows = await db.query<{ id: string | null; url: string; secret: string; any: boolean; backfilling: boolean }>(
    `WITH c AS (
       UPDATE webhooks SET lease_node = $1, lease_until = clock_timestamp() + make_interval(secs => $2::float8 / 1000)
        WHERE id IN (
          SELECT w.id FROM webhooks w
           WHERE w.enabled AND w.next_attempt_at <= clock_timestamp()
             AND (w.lease_until IS NULL OR w.lease_until < clock_timestamp())
             AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending')
           ORDER BY w.next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
        RETURNING id, url, secret)
     SELECT c.id, c.url, c.secret, EXISTS (SELECT 1 FROM webhooks) AS any,
            EXISTS (SELECT 1 FROM webhooks WHERE backfill_until > now() - interval '1 minute') AS backfilling
       FROM (SELECT 1) AS one LEFT JOIN c ON true`,
    [nodeId, leaseMs, limit],
  )
  return {
    claimed: rows.filter((r) => r.id !== null).map((r) => ({ id: r.id!, url: r.url, secret: r.secret })),
    anyWebhook: rows[0]?.any ?? true,
    backfilling: rows[0]?.backfilling ?? false,
  }
}

/** Hands an endpoint back (no lease) if `nodeId` still holds it. */
export async function releaseWebhook(db: Db, id: string, nodeId: string): Promise<void> {
  await db.query(`UPDATE webhooks SET lease_until = NULL, lease_node = NULL WHERE id = $1 AND lease_node = $2`, [id, nodeId])
}

/** An endpoint's owed deliveries, oldest event first, with their events. */
export async function pendingDeliveries(db: Db, webhookId: string, limit: number): Promise<PendingDelivery[]> {
  return db.query<PendingDelivery>(
    `SELECT d.id, d.outbox_id, d.event_id, d.event, d.attempts, o.form, o.data, o.created_at AS event_at
       FROM webhook_deliveries d LEFT JOIN outbox o ON o.id = d.outbox_id
      WHERE d.webhook_id = $1 AND d.state = 'pending' ORDER BY d.outbox_id LIMIT $2`,
    [webhookId, limit],
  )
}

/** What one attempt did to the delivery and its endpoint, decided by the sender (domain/webhooks.ts). */
export interface AttemptOutcome {
  webhookId: string
  nodeId: string
  deliveryId: number
  attempt: number
  statusCode: number | null
  error: string | null
  durationMs: number
  /** The delivery's state after it: 'pending' (to retry), 'delivered' or 'failed' (no attempt left). */
  state: 'pending' | 'delivered' | 'failed'
  /** When 'pending': the next attempt, this long from now. */
  retryInMs: number
  /** When 'failed': the endpoint is disabled once this many deliveries in a row have failed. */
  disableAfter: number
  leaseMs: number
}

/**
 * Logs an attempt and applies it, in one statement, only while `nodeId` holds the endpoint's lease (renewed):
 * otherwise nothing is written and the result is undefined (another node took over and sends it again).
 * Returns whether the endpoint is still enabled.
 */
export async function recordAttempt(db: Db, o: AttemptOutcome): Promise<{ enabled: boolean } | undefined> {
  const [row] = await db.query<{ enabled: boolean }>(
    `WITH w AS (
       UPDATE webhooks SET
         failures = CASE $7 WHEN 'delivered' THEN 0 WHEN 'failed' THEN failures + 1 ELSE failures END,
         next_attempt_at = CASE WHEN $7 = 'pending' THEN clock_timestamp() + make_interval(secs => $8::float8 / 1000) ELSE '-infinity' END,
         enabled = enabled AND NOT ($7 = 'failed' AND failures + 1 >= $9),
         disabled_reason = CASE WHEN enabled AND $7 = 'failed' AND failures + 1 >= $9
           THEN (failures + 1) || ' deliveries in a row failed; last: ' || COALESCE('HTTP ' || $5::int, $6) ELSE disabled_reason END,
         disabled_at = CASE WHEN enabled AND $7 = 'failed' AND failures + 1 >= $9 THEN now() ELSE disabled_at END,
         backfill_until = CASE WHEN $7 = 'failed' AND failures + 1 >= $9 THEN NULL ELSE backfill_until END,
         lease_until = clock_timestamp() + make_interval(secs => $10::float8 / 1000)
        WHERE id = $1 AND lease_node = $2 AND lease_until >= clock_timestamp()
        RETURNING enabled),
     d AS (
       UPDATE webhook_deliveries SET attempts = $4, state = $7, done_at = CASE WHEN $7 = 'pending' THEN NULL ELSE clock_timestamp() END
        WHERE id = $3 AND EXISTS (SELECT 1 FROM w) RETURNING id),
     a AS (
       INSERT INTO webhook_attempts (webhook_id, delivery_id, attempt, status_code, error, duration_ms)
       SELECT $1, d.id, $4, $5, $6, $11 FROM d)
     SELECT enabled FROM w`,
    [o.webhookId, o.nodeId, o.deliveryId, o.attempt, o.statusCode, o.error, o.state, o.retryInMs, o.disableAfter, o.leaseMs, Math.round(o.durationMs)],
  )
  return row
}

/** A delivery whose event the outbox no longer has (it cannot be sent): failed, in the log with the reason. */
export async function dropDelivery(db: Db, webhookId: string, deliveryId: number, reason: string): Promise<void> {
  await db.query(
    `WITH d AS (UPDATE webhook_deliveries SET state = 'failed', done_at = clock_timestamp() WHERE id = $2 RETURNING id, attempts)
     INSERT INTO webhook_attempts (webhook_id, delivery_id, attempt, error, duration_ms) SELECT $1, d.id, d.attempts, $3, 0 FROM d`,
    [webhookId, deliveryId, reason],
  )
}

/** The attempt log of an endpoint, newest first. */
export async function attemptLog(db: Db, webhookId: string, limit: number): Promise<AttemptRow[]> {
  return db.query<AttemptRow>(
    `SELECT a.delivery_id, d.event_id, d.event, d.state, a.attempt, a.status_code, a.error, a.duration_ms, a.at
       FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
      WHERE a.webhook_id = $1 ORDER BY a.id DESC LIMIT $2`,
    [webhookId, limit],
  )
}

/**
 * Deletes deliveries (whatever their state: an endpoint disabled that long owes them no more) and attempts older than
 * `retentionMs`, at most `limit` of each, and deliveries an event's statement owed an endpoint being deleted at that
 * moment; their outbox rows may then be pruned too.
 */
export async function pruneDeliveries(db: Db, retentionMs: number, limit = 5_000): Promise<number> {
  const orphans = await db.query(
    `DELETE FROM webhook_deliveries d WHERE d.state = 'pending' AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id) RETURNING 1`,
  )
  const attempts = await db.query(
    `DELETE FROM webhook_attempts WHERE id IN (
       SELECT id FROM webhook_attempts WHERE at < now() - make_interval(secs => $1::float8 / 1000) ORDER BY id LIMIT $2) RETURNING 1`,
    [retentionMs, limit],
  )
  const deliveries = await db.query(
    `DELETE FROM webhook_deliveries WHERE id IN (
       SELECT id FROM webhook_deliveries WHERE created_at < now() - make_interval(secs => $1::float8 / 1000) ORDER BY id LIMIT $2) RETURNING 1`,
    [retentionMs, limit],
  )
  return orphans.length + attempts.length + deliveries.length
}

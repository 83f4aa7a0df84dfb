/** The SQL of idempotent requests (migration 003, `idempotency_keys`): claim a key, keep the answer, replay it. */
import type { Db } from './db.js'

export type KeyState = { state: 'claimed' } | { state: 'done'; status: number; response: unknown } | { state: 'in_progress' }

/**
 * Claims (scope, key) for this request. A key older than `windowMs` is claimed again; one claimed but not
 * answered for `abandonAfterMs` (its request died) is taken over.
 */
export async function claimKey(db: Db, scope: string, key: string, windowMs: number, abandonAfterMs: number): Promise<KeyState> {
  const claimed = await db.query(
    `INSERT INTO idempotency_keys (scope, key, status, response) VALUES ($1, $2, 0, 'null')
     ON CONFLICT (scope, key) DO UPDATE SET status = 0, response = 'null', created_at = now()
      WHERE idempotency_keys.created_at < now() - make_interval(secs => $3::float8 / 1000)
         OR (idempotency_keys.status = 0 AND idempotency_keys.created_at < now() - make_interval(secs => $4::float8 / 1000))
     RETURNING 1`,
    [scope, key, windowMs, abandonAfterMs],
  )
  if (claimed.length > 0) return { state: 'claimed' }
  const [row] = await db.query<{ status: number; response: unknown }>(`SELECT status, response FROM idempotency_keys WHERE scope = $1 AND key = $2`, [scope, key])
  if (!row) return claimKey(db, scope, key, windowMs, abandonAfterMs)
  return row.status === 0 ? { state: 'in_progress' } : { state: 'done', status: row.status, response: row.response }
}

export async function answerKey(db: Db, scope: string, key: string, status: number, response: unknown): Promise<void> {
  await db.query(`UPDATE idempotency_keys SET status = $3, response = $4 WHERE scope = $1 AND key = $2`, [scope, key, status, JSON.stringify(response)])
}

/** The request failed without creating anything: a corrected retry may use the key. */
export async function releaseKey(db: Db, scope: string, key: string): Promise<void> {
  await db.query(`DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 0`, [scope, key])
}

export async function pruneKeys(db: Db, windowMs: number): Promise<void> {
  await db.query(`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1::float8 / 1000)`, [windowMs])
}

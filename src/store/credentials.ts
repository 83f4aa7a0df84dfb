/**
 * The SQL of credentials over time: operator tokens and their revocation, what each live operator connection was
 * authenticated with (so any node, and routing, can tell its credentials no longer hold), widget token use.
 */
import type { Db } from './db.js'

/** Why an operator's tokens were last revoked. */
export type Revocation = 'logout' | 'login' | 'block'

/**
 * The credentials of connection `oc` (of operator `o`) still hold: not expired, its minted token not revoked, its
 * JWT issued after the operator's last revocation. A condition for queries that join `operator_connections oc`
 * with `operators o`.
 */
export const CREDENTIALS_HOLD = `(oc.expires_at IS NULL OR oc.expires_at > now())
  AND (oc.token_hash IS NULL OR EXISTS (SELECT 1 FROM operator_tokens t WHERE t.token_hash = oc.token_hash AND t.revoked_at IS NULL))
  AND (oc.token_issued_at IS NULL OR o.tokens_valid_after IS NULL OR oc.token_issued_at > o.tokens_valid_after)`

/** What a connection was authenticated with; all absent for connections registered before this was recorded. */
export interface ConnectionCredentials {
  expiresAt?: Date
  tokenHash?: string
  tokenIssuedAt?: Date
}

/**
 * Revokes every token of the operator: minted ones now, JWTs issued up to now. Runs inside the revoking
 * transaction, so routing stops counting the operator's connections from its commit on.
 */
export async function revokeOperatorTokens(db: Db, operatorId: string, by: Revocation): Promise<void> {
  await db.query(`UPDATE operator_tokens SET revoked_at = now() WHERE operator_id = $1 AND revoked_at IS NULL`, [operatorId])
  await db.query(`UPDATE operators SET tokens_valid_after = now(), tokens_revoked_by = $2 WHERE id = $1`, [operatorId, by])
}

/**
 * A new login of the operator: its earlier minted tokens still live are revoked, the new one is recorded, and JWTs
 * issued up to now are revoked. Returns the hashes of the tokens revoked.
 */
export async function recordLogin(
  db: Db,
  t: { operatorId: string; tokenHash: string; expiresAt: Date; userAgent: string | null; ip: string | null },
): Promise<string[]> {
  const revoked = await db.query<{ token_hash: string }>(
    `UPDATE operator_tokens SET revoked_at = now() WHERE operator_id = $1 AND revoked_at IS NULL AND expires_at > now() RETURNING token_hash`,
    [t.operatorId],
  )
  await db.query(
    `INSERT INTO operator_tokens (token_hash, operator_id, expires_at, user_agent, ip) VALUES ($1, $2, $3, $4, $5)`,
    [t.tokenHash, t.operatorId, t.expiresAt, t.userAgent, t.ip],
  )
  await db.query(`UPDATE operators SET tokens_valid_after = now(), tokens_revoked_by = 'login' WHERE id = $1`, [t.operatorId])
  return revoked.map((r) => r.token_hash)
}

export interface MintedTokenRow {
  id: string
  name: string
  blocked: boolean
  expires_at: Date
  revoked: boolean
  expired: boolean
}

/** A minted operator token with its operator, or undefined; `expired` by the database's clock. */
export async function mintedToken(db: Db, tokenHash: string): Promise<MintedTokenRow | undefined> {
  const [row] = await db.query<MintedTokenRow>(
    `SELECT o.id, o.name, o.blocked, t.expires_at, t.revoked_at IS NOT NULL AS revoked, t.expires_at <= now() AS expired
       FROM operator_tokens t JOIN operators o ON o.id = t.operator_id WHERE t.token_hash = $1`,
    [tokenHash],
  )
  return row
}

export async function operatorForJwt(db: Db, id: string): Promise<{ id: string; name: string; blocked: boolean; tokens_valid_after: Date | null } | undefined> {
  const [row] = await db.query<{ id: string; name: string; blocked: boolean; tokens_valid_after: Date | null }>(
    `SELECT id, name, blocked, tokens_valid_after FROM operators WHERE id = $1`,
    [id],
  )
  return row
}

/** Whether these credentials of the operator still hold (expiry aside), and if not why. */
export async function operatorCredentialsHold(
  db: Db,
  operatorId: string,
  c: ConnectionCredentials,
): Promise<{ holds: boolean; blocked: boolean; revokedBy: Revocation | null }> {
  const [row] = await db.query<{ blocked: boolean; tokens_revoked_by: Revocation | null; tokens_hold: boolean }>(
    `SELECT o.blocked, o.tokens_revoked_by,
            ($2::text IS NULL OR EXISTS (SELECT 1 FROM operator_tokens t WHERE t.token_hash = $2 AND t.revoked_at IS NULL))
            AND ($3::timestamptz IS NULL OR o.tokens_valid_after IS NULL OR $3::timestamptz > o.tokens_valid_after) AS tokens_hold
       FROM operators o WHERE o.id = $1`,
    [operatorId, c.tokenHash ?? null, c.tokenIssuedAt ?? null],
  )
  if (!row) return { holds: false, blocked: false, revokedBy: null }
  return { holds: !row.blocked && row.tokens_hold, blocked: row.blocked, revokedBy: row.tokens_revoked_by }
}

/** Records a refresh: the connection's new expiry and the token it was refreshed with. */
export async function setConnectionCredentials(db: Db, connectionId: string, c: ConnectionCredentials): Promise<void> {
  await db.query(
    `UPDATE operator_connections SET expires_at = $2, token_hash = $3, token_issued_at = $4 WHERE connection_id = $1`,
    [connectionId, c.expiresAt ?? null, c.tokenHash ?? null, c.tokenIssuedAt ?? null],
  )
}

/**
 * This node's operator connections whose operator is blocked or whose token was revoked since they connected, at
 * least `graceMs` ago: within that time the revoking change's own events and disconnect reach them first.
 */
export async function revokedConnections(
  db: Db,
  nodeId: string,
  graceMs: number,
): Promise<Array<{ connection_id: string; operator_id: string; blocked: boolean; tokens_revoked_by: Revocation | null }>> {
  // A block and every revocation set tokens_valid_after (revokeOperatorTokens); a minted token has its own revoked_at.
  return db.query(
    `WITH t AS (SELECT now() - make_interval(secs => $2::float8 / 1000) AS before)
     SELECT oc.connection_id, oc.operator_id, o.blocked, o.tokens_revoked_by
       FROM t, operator_connections oc JOIN operators o ON o.id = oc.operator_id
      WHERE oc.node_id = $1 AND ((o.blocked AND (o.tokens_valid_after IS NULL OR o.tokens_valid_after < t.before))
         OR (oc.token_hash IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM operator_tokens k WHERE k.token_hash = oc.token_hash AND (k.revoked_at IS NULL OR k.revoked_at >= t.before)))
         OR (oc.token_issued_at IS NOT NULL AND o.tokens_valid_after IS NOT NULL AND oc.token_issued_at <= o.tokens_valid_after
             AND o.tokens_valid_after < t.before))`,
    [nodeId, graceMs],
  )
}

/**
 * Marks a widget token used now, unless it was marked within `withinMs` (so a busy widget costs a write at
 * most that often).
 */
export async function touchClientToken(db: Db, clientId: string, withinMs: number): Promise<void> {
  await db.query(
    `UPDATE clients SET token_used_at = now() WHERE id = $1 AND token_used_at < now() - make_interval(secs => $2::float8 / 1000)`,
    [clientId, withinMs],
  )
}

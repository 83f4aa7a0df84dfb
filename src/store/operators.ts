/**
 * The SQL of operators: the operators themselves, their availability (their live connections as the domain records
 * them, shared by all nodes, so routing never asks the gateway inside a transaction), the candidates routing picks
 * from and the queue lock routing runs under.
 */
import { CREDENTIALS_HOLD, type ConnectionCredentials } from './credentials.js'
import type { Db } from './db.js'

/** The advisory lock key of routing: taking from the queue and filling operators' capacity. */
const QUEUE_LOCK = 7_362_002

/** Takes the queue lock until the transaction ends: routing runs one at a time across all nodes. */
export async function lockQueue(db: Db): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock($1)', [QUEUE_LOCK])
}

export interface RoutingCandidateRow {
  id: string
  max_chats: number
  last_assigned_at: Date | null
  open: number
  /** The groups the operator is a member of (a grouped session goes only to members). */
  group_ids: string[]
}

/**
 * Operators who can take a session now: status `online`, not blocked, with a live connection on a node that is alive and whose
 * credentials still hold (credentials.ts), under maxChats; oldest operator first (the router breaks ties with this order).
 */
export async function routingCandidates(db: Db, nodeTtlMs: number): Promise<RoutingCandidateRow[]> {
  return db.query<RoutingCandidateRow>(
    `SELECT o.id, o.max_chats, o.last_assigned_at, open.n AS open,
            COALESCE((SELECT array_agg(og.group_id) FROM operator_groups og WHERE og.operator_id = o.id), '{}') AS group_ids
       FROM operators o
       CROSS JOIN LATERAL (SELECT count(*)::int AS n FROM sessions s WHERE s.operator_id = o.id AND s.status = 'assigned') open
      WHERE o.status = 'online' AND NOT o.blocked AND open.n < o.max_chats
        AND EXISTS (SELECT 1 FROM operator_connections oc JOIN domain_nodes dn ON dn.node_id = oc.node_id
                     WHERE oc.operator_id = o.id AND dn.seen_at > now() - make_interval(secs => $1::float8 / 1000)
                       AND ${CREDENTIALS_HOLD})
      ORDER BY o.created_at, o.id`,
    [nodeTtlMs],
  )
}

/** One operator's capacity, for taking a session by hand. */
export async function operatorCapacity(db: Db, id: string): Promise<{ max_chats: number; blocked: boolean; open: number } | undefined> {
  const [row] = await db.query<{ max_chats: number; blocked: boolean; open: number }>(
    `SELECT max_chats, blocked, (SELECT count(*)::int FROM sessions s WHERE s.operator_id = o.id AND s.status = 'assigned') AS open
       FROM operators o WHERE id = $1`,
    [id],
  )
  return row
}

export async function markAssigned(db: Db, operatorId: string): Promise<void> {
  await db.query(`UPDATE operators SET last_assigned_at = clock_timestamp() WHERE id = $1`, [operatorId])
}

// ---- presence ----------------------------------------------------------------------------------------

/**
 * Registers this node or renews it: its connections count for routing while it does, and every event it wrote
 * before `unpublishedSince` is published (a relay of this node, once it is gone, starts there).
 */
export async function heartbeat(db: Db, nodeId: string, unpublishedSince: Date): Promise<void> {
  await db.query(
    `INSERT INTO domain_nodes (node_id, unpublished_since) VALUES ($1, $2)
     ON CONFLICT (node_id) DO UPDATE SET seen_at = now(), unpublished_since = $2`,
    [nodeId, unpublishedSince],
  )
}

/** Nodes that have not heartbeated within `nodeTtlMs`, with where their unpublished events may start. */
export async function goneNodes(db: Db, nodeTtlMs: number): Promise<Array<{ node_id: string; unpublished_since: Date }>> {
  return db.query(
    `SELECT node_id, unpublished_since FROM domain_nodes WHERE seen_at < now() - make_interval(secs => $1::float8 / 1000) ORDER BY seen_at`,
    [nodeTtlMs],
  )
}

export async function addOperatorConnection(db: Db, c: { connectionId: string; operatorId: string; nodeId: string } & ConnectionCredentials): Promise<void> {
  await db.query(
    `INSERT INTO operator_connections (connection_id, operator_id, node_id, expires_at, token_hash, token_issued_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connection_id) DO NOTHING`,
    [c.connectionId, c.operatorId, c.nodeId, c.expiresAt ?? null, c.tokenHash ?? null, c.tokenIssuedAt ?? null],
  )
}

/** Auto-away counts from the last moment a console was seen: its close (availability.ts). */
const SEEN_NOW = `UPDATE operators SET last_seen_at = clock_timestamp() WHERE id IN (SELECT operator_id FROM gone)`

export async function removeOperatorConnection(db: Db, connectionId: string): Promise<void> {
  await db.query(`WITH gone AS (DELETE FROM operator_connections WHERE connection_id = $1 RETURNING operator_id) ${SEEN_NOW}`, [connectionId])
}

export async function removeConnectionsOf(db: Db, nodeId: string): Promise<void> {
  await db.query(`WITH gone AS (DELETE FROM operator_connections WHERE node_id = $1 RETURNING operator_id) ${SEEN_NOW}`, [nodeId])
}

export async function removeNode(db: Db, nodeId: string): Promise<void> {
  await db.query(`WITH gone AS (DELETE FROM operator_connections WHERE node_id = $1 RETURNING operator_id) ${SEEN_NOW}`, [nodeId])
  await db.query(`DELETE FROM domain_nodes WHERE node_id = $1`, [nodeId])
}

/** Which of `ids` have a live connection, with credentials that still hold, on a live node. */
export async function onlineOperators(db: Db, ids: string[], nodeTtlMs: number): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const rows = await db.query<{ operator_id: string }>(
    `SELECT DISTINCT oc.operator_id FROM operator_connections oc JOIN domain_nodes dn ON dn.node_id = oc.node_id
       JOIN operators o ON o.id = oc.operator_id
      WHERE oc.operator_id = ANY($1) AND dn.seen_at > now() - make_interval(secs => $2::float8 / 1000) AND ${CREDENTIALS_HOLD}`,
    [ids, nodeTtlMs],
  )
  return new Set(rows.map((r) => r.operator_id))
}

// ---- operators ---------------------------------------------------------------------------------------

export type OperatorRole = 'operator' | 'supervisor'

export async function insertOperator(db: Db, o: { id: string; name: string; maxChats: number; role: OperatorRole }): Promise<void> {
  await db.query(`INSERT INTO operators (id, name, max_chats, role) VALUES ($1, $2, $3, $4)`, [o.id, o.name, o.maxChats, o.role])
}

/** Changes the fields given (`undefined` keeps one); false for an unknown operator. */
export async function updateOperator(db: Db, id: string, o: { name?: string; maxChats?: number; role?: OperatorRole }): Promise<boolean> {
  const rows = await db.query<{ id: string }>(
    `UPDATE operators SET name = COALESCE($2, name), max_chats = COALESCE($3, max_chats), role = COALESCE($4, role) WHERE id = $1 RETURNING id`,
    [id, o.name ?? null, o.maxChats ?? null, o.role ?? null],
  )
  return rows.length > 0
}

/** When the operator was created (the position of a list cursor), undefined for an unknown operator. */
export async function operatorCreatedAt(db: Db, id: string): Promise<Date | undefined> {
  const [row] = await db.query<{ created_at: Date }>(`SELECT created_at FROM operators WHERE id = $1`, [id])
  return row?.created_at
}

/** Whether the operator is blocked, undefined for an unknown operator. */
export async function operatorBlocked(db: Db, id: string): Promise<boolean | undefined> {
  const [row] = await db.query<{ blocked: boolean }>(`SELECT blocked FROM operators WHERE id = $1`, [id])
  return row?.blocked
}

export async function operatorIdentity(db: Db, id: string): Promise<{ id: string; name: string; role: OperatorRole } | undefined> {
  const [row] = await db.query<{ id: string; name: string; role: OperatorRole }>(`SELECT id, name, role FROM operators WHERE id = $1`, [id])
  return row
}

/** Blocks the operator (its tokens are revoked apart: credentials.ts); false for an unknown operator. */
export async function blockOperator(db: Db, id: string, reason: string | null): Promise<boolean> {
  const rows = await db.query<{ id: string }>(`UPDATE operators SET blocked = true, blocked_reason = $2 WHERE id = $1 RETURNING id`, [id, reason])
  return rows.length > 0
}

/** False for an unknown operator. */
export async function unblockOperator(db: Db, id: string): Promise<boolean> {
  const rows = await db.query<{ id: string }>(`UPDATE operators SET blocked = false, blocked_reason = NULL WHERE id = $1 RETURNING id`, [id])
  return rows.length > 0
}

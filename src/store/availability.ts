/** The SQL of operators' status and role (migration 007): chosen by a person, or set by the auto-away timers. */
import { CREDENTIALS_HOLD } from './credentials.js'
import type { Db } from './db.js'

export type OperatorStatus = 'online' | 'away' | 'offline'

export interface StatusRow {
  id: string
  name: string
  status: OperatorStatus
  status_auto: boolean
  role: 'operator' | 'supervisor'
  max_chats: number
  open: number
}

/** The operator `o` has a live console connection: on a node that heartbeated within `ttlParam` ms, credentials holding. */
export const liveConnection = (ttlParam: string) => `EXISTS (SELECT 1 FROM operator_connections oc JOIN domain_nodes dn ON dn.node_id = oc.node_id
   WHERE oc.operator_id = o.id AND dn.seen_at > now() - make_interval(secs => ${ttlParam}::float8 / 1000) AND ${CREDENTIALS_HOLD})`

const OPEN = `(SELECT count(*)::int FROM sessions s WHERE s.operator_id = o.id AND s.status = 'assigned')`

/** The operator's status, locked for the rest of the transaction. */
export async function lockedStatus(db: Db, id: string): Promise<StatusRow | undefined> {
  const [row] = await db.query<StatusRow>(`SELECT o.id, o.name, o.status, o.status_auto, o.role, o.max_chats, ${OPEN} AS open FROM operators o WHERE id = $1 FOR NO KEY UPDATE`, [id])
  return row
}

export async function setStatus(db: Db, id: string, status: OperatorStatus, auto: boolean): Promise<void> {
  await db.query(`UPDATE operators SET status = $2, status_auto = $3, status_changed_at = clock_timestamp() WHERE id = $1`, [id, status, auto])
}

/** A console of the operator connected: it was seen now; a status the timers set (away/offline) turns online. */
export async function consoleConnected(db: Db, id: string): Promise<StatusRow & { previous: OperatorStatus } | undefined> {
  const [row] = await db.query<StatusRow & { previous: OperatorStatus }>(
    `WITH before AS (SELECT id, status FROM operators WHERE id = $1 FOR NO KEY UPDATE)
     UPDATE operators o SET last_seen_at = clock_timestamp(),
            status = CASE WHEN o.status_auto AND o.status <> 'online' THEN 'online' ELSE o.status END,
            status_changed_at = CASE WHEN o.status_auto AND o.status <> 'online' THEN clock_timestamp() ELSE o.status_changed_at END
       FROM before WHERE o.id = before.id
     RETURNING o.id, o.name, o.status, o.status_auto, o.role, o.max_chats, ${OPEN} AS open, before.status AS previous`,
    [id],
  )
  return row && row.previous !== row.status ? row : undefined
}

/**
 * Operators without a live console for `afterMs` whose status is one of `from`, set to `to` (auto) and returned with
 * their status before, each to exactly one node. Counted from the last moment a console was seen (opened, closed, or
 * its node's last heartbeat), and, for `countChosen`, from a status a person chose.
 */
export async function takeDisconnected(db: Db, q: DisconnectedQuery): Promise<Array<StatusRow & { previous: OperatorStatus }>> {
  return db.query<StatusRow & { previous: OperatorStatus }>(
    `WITH due AS (SELECT o.id, o.status FROM operators o WHERE ${DISCONNECTED} FOR NO KEY UPDATE OF o SKIP LOCKED)
     UPDATE operators o SET status = $5, status_auto = true, status_changed_at = clock_timestamp()
       FROM due WHERE o.id = due.id AND o.status = due.status
     RETURNING o.id, o.name, o.status, o.status_auto, o.role, o.max_chats, ${OPEN} AS open, due.status AS previous`,
    [q.from, q.afterMs, q.nodeTtlMs, q.sinceAnyChange, q.to],
  )
}

/** Whether `takeDisconnected` would take anyone: a read outside any transaction, so idle sweeps stay cheap. */
export async function anyDisconnected(db: Db, q: DisconnectedQuery): Promise<boolean> {
  const [row] = await db.query<{ due: boolean }>(`SELECT EXISTS (SELECT 1 FROM operators o WHERE ${DISCONNECTED}) AS due`, [
    q.from,
    q.afterMs,
    q.nodeTtlMs,
    q.sinceAnyChange,
  ])
  return row?.due === true
}

export interface DisconnectedQuery {
  from: OperatorStatus[]
  to: OperatorStatus
  afterMs: number
  nodeTtlMs: number
  sinceAnyChange: boolean
}

/**
 * Operator `o` is in one of $1 with no live console for $2 ms ($3: the node TTL), counted from the last moment a
 * console was seen and from a status a person chose ($4: or any status change).
 */
const DISCONNECTED = `o.status = ANY($1) AND NOT ${liveConnection('$3')}
  AND GREATEST(COALESCE(o.last_seen_at, o.created_at),
               CASE WHEN $4::boolean OR NOT o.status_auto THEN o.status_changed_at ELSE '-infinity' END,
               COALESCE((SELECT max(dn.seen_at) FROM operator_connections oc JOIN domain_nodes dn ON dn.node_id = oc.node_id
                          WHERE oc.operator_id = o.id), '-infinity'))
      <= now() - make_interval(secs => $2::float8 / 1000)`

export interface StatusListRow extends StatusRow {
  connected: boolean
  group_ids: string[]
}

/** Every operator's status, live connection and groups (supervisors' overview). */
export async function statusList(db: Db, nodeTtlMs: number): Promise<StatusListRow[]> {
  return db.query<StatusListRow>(
    `SELECT o.id, o.name, o.status, o.status_auto, o.role, o.max_chats, ${OPEN} AS open, ${liveConnection('$1')} AS connected,
            COALESCE((SELECT array_agg(og.group_id ORDER BY og.group_id) FROM operator_groups og WHERE og.operator_id = o.id), '{}') AS group_ids
       FROM operators o ORDER BY o.created_at, o.id`,
    [nodeTtlMs],
  )
}

export async function roleOf(db: Db, id: string): Promise<'operator' | 'supervisor' | undefined> {
  const [row] = await db.query<{ role: 'operator' | 'supervisor' }>(`SELECT role FROM operators WHERE id = $1`, [id])
  return row?.role
}

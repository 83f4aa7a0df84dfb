/** The SQL of groups (migration 007): groups, their members, and the group a session is routed in. */
import type { Db } from './db.js'

export interface GroupRow {
  id: string
  name: string
  fallback_group_id: string | null
  working_hours: Record<string, Array<[string, string]>> | null
  time_zone: string | null
  created_at: Date
  operator_ids: string[]
}

const SELECT_GROUP = `SELECT g.*, COALESCE((SELECT array_agg(og.operator_id ORDER BY og.operator_id) FROM operator_groups og WHERE og.group_id = g.id), '{}') AS operator_ids
  FROM groups g`

export async function insertGroup(
  db: Db,
  g: { id: string; name: string; fallbackGroupId: string | null; workingHours: unknown; timeZone: string | null },
): Promise<GroupRow | undefined> {
  const rows = await db.query<{ id: string }>(
    `INSERT INTO groups (id, name, fallback_group_id, working_hours, time_zone) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (name) DO NOTHING RETURNING id`,
    [g.id, g.name, g.fallbackGroupId, g.workingHours === null ? null : JSON.stringify(g.workingHours), g.timeZone],
  )
  return rows.length === 0 ? undefined : groupById(db, g.id)
}

export async function groupById(db: Db, id: string): Promise<GroupRow | undefined> {
  const [row] = await db.query<GroupRow>(`${SELECT_GROUP} WHERE g.id = $1`, [id])
  return row
}

/** A group named by its id or, failing that, its name. */
export async function groupByIdOrName(db: Db, ref: string): Promise<GroupRow | undefined> {
  const [row] = await db.query<GroupRow>(`${SELECT_GROUP} WHERE g.id = $1 OR g.name = $1 ORDER BY (g.id = $1) DESC LIMIT 1`, [ref])
  return row
}

export async function listGroups(db: Db): Promise<GroupRow[]> {
  return db.query<GroupRow>(`${SELECT_GROUP} ORDER BY g.created_at, g.id`)
}

/** Changes the fields given (`undefined` keeps one; `null` clears it); false when the new name is taken. */
export async function updateGroup(
  db: Db,
  id: string,
  g: { name?: string; fallbackGroupId?: string | null; workingHours?: unknown; timeZone?: string | null },
): Promise<boolean> {
  const sets: string[] = []
  const params: unknown[] = [id]
  const set = (column: string, value: unknown) => {
    params.push(value)
    sets.push(`${column} = $${params.length}`)
  }
  if (g.name !== undefined) set('name', g.name)
  if (g.fallbackGroupId !== undefined) set('fallback_group_id', g.fallbackGroupId)
  if (g.workingHours !== undefined) set('working_hours', g.workingHours === null ? null : JSON.stringify(g.workingHours))
  if (g.timeZone !== undefined) set('time_zone', g.timeZone)
  if (sets.length === 0) return true
  if (g.name !== undefined) {
    const [taken] = await db.query(`SELECT 1 FROM groups WHERE name = $2 AND id <> $1`, [id, g.name])
    if (taken) return false
  }
  await db.query(`UPDATE groups SET ${sets.join(', ')} WHERE id = $1`, params)
  return true
}

/** Replaces the group's members; returns who joined and who left. */
export async function setGroupMembers(db: Db, groupId: string, operatorIds: string[]): Promise<{ joined: string[]; left: string[] }> {
  const left = await db.query<{ operator_id: string }>(
    `DELETE FROM operator_groups WHERE group_id = $1 AND NOT (operator_id = ANY($2)) RETURNING operator_id`,
    [groupId, operatorIds],
  )
  const joined = await db.query<{ operator_id: string }>(
    `INSERT INTO operator_groups (operator_id, group_id) SELECT unnest($2::text[]), $1 ON CONFLICT DO NOTHING RETURNING operator_id`,
    [groupId, operatorIds],
  )
  return { joined: joined.map((r) => r.operator_id), left: left.map((r) => r.operator_id) }
}

/** Which of `ids` are no operator. */
export async function unknownOperators(db: Db, ids: string[]): Promise<string[]> {
  const rows = await db.query<{ id: string }>(`SELECT id FROM unnest($1::text[]) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM operators o WHERE o.id = x.id)`, [ids])
  return rows.map((r) => r.id)
}

/** Whether one of the group's members could take a chat now (online, not blocked, connected), full or not. */
export async function groupHasOnlineMember(db: Db, groupId: string, liveConnection: string): Promise<boolean> {
  const [row] = await db.query(
    `SELECT 1 FROM operator_groups og JOIN operators o ON o.id = og.operator_id
      WHERE og.group_id = $1 AND o.status = 'online' AND NOT o.blocked AND ${liveConnection} LIMIT 1`,
    [groupId],
  )
  return row !== undefined
}

/** The operator's role and the groups it is a member of (ordered), undefined for an unknown operator. */
export async function roleAndGroupsOf(db: Db, operatorId: string): Promise<{ role: 'operator' | 'supervisor'; group_ids: string[] } | undefined> {
  const [row] = await db.query<{ role: 'operator' | 'supervisor'; group_ids: string[] }>(
    `SELECT o.role, COALESCE((SELECT array_agg(og.group_id ORDER BY og.group_id) FROM operator_groups og WHERE og.operator_id = o.id), '{}') AS group_ids
       FROM operators o WHERE o.id = $1`,
    [operatorId],
  )
  return row
}

/** True when the operator may take a session of the group: a member of it, or a supervisor. */
export async function mayTakeFromGroup(db: Db, operatorId: string, groupId: string): Promise<boolean> {
  const [row] = await db.query(
    `SELECT 1 FROM operators o WHERE o.id = $1 AND (o.role = 'supervisor' OR EXISTS (SELECT 1 FROM operator_groups og WHERE og.operator_id = o.id AND og.group_id = $2))`,
    [operatorId, groupId],
  )
  return row !== undefined
}

/** The group the session is routed in; null when none (or no such session). */
export async function sessionGroup(db: Db, sessionId: string): Promise<string | null> {
  const [row] = await db.query<{ group_id: string | null }>(`SELECT group_id FROM sessions WHERE id = $1`, [sessionId])
  return row?.group_id ?? null
}

export async function setSessionGroup(db: Db, sessionId: string, groupId: string | null, closed: boolean): Promise<void> {
  await db.query(`UPDATE sessions SET group_id = $2, group_closed = $3 WHERE id = $1`, [sessionId, groupId, closed])
}

/** Groups with sessions queued while they were closed. */
export async function groupsWithClosedQueue(db: Db): Promise<string[]> {
  const rows = await db.query<{ group_id: string }>(`SELECT DISTINCT group_id FROM sessions WHERE status = 'queued' AND group_closed AND group_id IS NOT NULL`)
  return rows.map((r) => r.group_id)
}

/** The group's sessions queued while it was closed, locked (the caller holds the queue lock). */
export async function closedQueueOf(db: Db, groupId: string): Promise<Array<{ id: string }>> {
  return db.query(`SELECT id FROM sessions WHERE status = 'queued' AND group_closed AND group_id = $1 ORDER BY queue_seq FOR UPDATE`, [groupId])
}

/** The SQL of canned replies (migration 010): operator_id NULL is a shared reply, otherwise that operator's own. */
import type { Db } from './db.js'

export interface CannedRow {
  id: string
  operator_id: string | null
  shortcut: string
  title: string
  text: string
  created_at: Date
  updated_at: Date
}

/** Inserts one; undefined when its owner already has the shortcut. */
export async function insertCanned(
  db: Db,
  c: { id: string; operatorId: string | null; shortcut: string; title: string; text: string },
): Promise<CannedRow | undefined> {
  const [row] = await db.query<CannedRow>(
    `INSERT INTO canned_replies (id, operator_id, shortcut, title, text) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING RETURNING *`,
    [c.id, c.operatorId, c.shortcut, c.title, c.text],
  )
  return row
}

export async function cannedById(db: Db, id: string): Promise<CannedRow | undefined> {
  const [row] = await db.query<CannedRow>('SELECT * FROM canned_replies WHERE id = $1', [id])
  return row
}

/** Shared replies, plus the operator's own when given: its own first, then by shortcut. */
export async function listCanned(db: Db, operatorId: string | null): Promise<CannedRow[]> {
  return db.query<CannedRow>(
    `SELECT * FROM canned_replies WHERE operator_id IS NULL OR operator_id = $1
     ORDER BY shortcut, (operator_id IS NULL), id`,
    [operatorId],
  )
}

/** Changes the fields given; undefined when the new shortcut is taken by the same owner. */
export async function updateCanned(
  db: Db,
  id: string,
  c: { shortcut?: string; title?: string; text?: string },
): Promise<CannedRow | undefined> {
  const [row] = await db.query<CannedRow>(
    `UPDATE canned_replies SET shortcut = COALESCE($2, shortcut), title = COALESCE($3, title), text = COALESCE($4, text), updated_at = now()
     WHERE id = $1 AND NOT EXISTS (
       SELECT 1 FROM canned_replies o WHERE o.id <> $1 AND o.shortcut = $2
         AND COALESCE(o.operator_id, '') = (SELECT COALESCE(operator_id, '') FROM canned_replies WHERE id = $1))
     RETURNING *`,
    [id, c.shortcut ?? null, c.title ?? null, c.text ?? null],
  )
  return row
}

export async function deleteCanned(db: Db, id: string): Promise<void> {
  await db.query('DELETE FROM canned_replies WHERE id = $1', [id])
}

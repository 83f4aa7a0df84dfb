/**
 * Applies pending migrations in one transaction under an advisory lock, so nodes starting together apply each once.
 * Migrations are forward only: numbered, applied in order, recorded in schema_migrations (id, name, applied_at), never
 * edited once released (a change is a new migration).
 */
import type { Db } from './db.js'
import { MIGRATIONS, type Migration } from './migrations/index.js'

/** Arbitrary constant shared by every livedesk node: the advisory lock key of migrations. */
const MIGRATION_LOCK = 7_362_001

/** Returns the ids applied by this call. */
export async function migrate(db: Db, migrations: Migration[] = MIGRATIONS): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    const done = new Set((await tx.query<{ id: number }>('SELECT id FROM schema_migrations')).map((r) => Number(r.id)))
    // Forward only: a schema that a newer livedesk migrated is never served (nor "downgraded") by this one.
    const known = new Set(migrations.map((m) => m.id))
    const unknown = [...done].filter((id) => !known.has(id)).sort((a, b) => a - b)
    if (unknown.length > 0) throw new Error(`the database has migrations this livedesk does not know (${unknown.join(', ')}): it was upgraded by a newer version; run that version or restore a backup`)
    const applied: number[] = []
    for (const m of migrations) {
      if (done.has(m.id)) continue
      for (const statement of statements(m.sql)) await tx.query(statement)
      await tx.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [m.id, m.name])
      applied.push(m.id)
    }
    return applied
  })
}

/** Splits a migration on `;` at line ends: PGlite's extended protocol runs one statement per query. */
function statements(sql: string): string[] {
  return sql
    .split(/;\s*\n/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0)
}

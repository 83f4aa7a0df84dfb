/** Opens the database livedesk runs on and brings its schema up to date. */
import { join } from 'node:path'
import { lockDataDir } from './data-dir-lock.js'
import type { Db } from './db.js'
import { migrate } from './migrate.js'
import { openPglite } from './pglite.js'
import { DEFAULT_PGLITE_DURABILITY, type PgliteDurability } from './pglite-durability.js'
import { clusterFromTemplate } from './pglite-template.js'

export type { Db } from './db.js'

export interface OpenDbOptions {
  /** A PostgreSQL server (postgres://...); without it, PGlite in `<dataDir>/pglite`. */
  databaseUrl?: string
  /** PostgreSQL pool size. @default 10 */
  poolSize?: number
  dataDir: string
  /** How PGlite's commits reach the disk (src/store/pglite-durability.ts). @default 'fsync' */
  pgliteDurability?: PgliteDurability
  /** How often PGlite's tables are vacuumed and analysed as they need (src/store/pglite-maintenance.ts); 0: never. @default 60 000 */
  pgliteMaintenanceIntervalMs?: number
  /** The cluster a new PGlite data directory is copied from (src/store/pglite-template.ts). @default DEFAULT_PGLITE_TEMPLATE */
  pgliteTemplate?: string
}

export async function openDb(options: OpenDbOptions): Promise<Db> {
  // pg is loaded only for a PostgreSQL server: the embedded default does not pay for it.
  const db = options.databaseUrl
    ? await (await import('./postgres.js')).openPostgres(options.databaseUrl, options.poolSize)
    : await openPgliteExclusive(options)
  try {
    await migrate(db)
  } catch (err) {
    await db.close().catch(() => {})
    throw err
  }
  return db
}

/** PGlite in `<dataDir>/pglite`, for this process alone: a process that finds the directory held is refused. */
async function openPgliteExclusive(options: OpenDbOptions): Promise<Db> {
  const lock = await lockDataDir(options.dataDir)
  try {
    const dir = join(options.dataDir, 'pglite')
    const durability = options.pgliteDurability
    const fromTemplate = await clusterFromTemplate(dir, durability ?? DEFAULT_PGLITE_DURABILITY, options.pgliteTemplate)
    const db = await openPglite(dir, { durability, maintenanceIntervalMs: options.pgliteMaintenanceIntervalMs })
    // The template's migrations count as applied now, at this data directory's first start.
    if (fromTemplate) await db.query('UPDATE schema_migrations SET applied_at = now()')
    return { ...db, close: () => db.close().finally(() => lock.release()) }
  } catch (err) {
    await lock.release()
    throw err
  }
}

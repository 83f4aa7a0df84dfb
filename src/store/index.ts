/** Opens the database livedesk runs on and brings its schema up to date. */
import { join } from 'node:path'
import type { Db } from './db.js'
import { migrate } from './migrate.js'
import { openPglite } from './pglite.js'
import { openPostgres } from './postgres.js'

export type { Db } from './db.js'

export interface OpenDbOptions {
  /** A PostgreSQL server (postgres://...); without it, PGlite in `<dataDir>/pglite`. */
  databaseUrl?: string
  /** PostgreSQL pool size. @default 10 */
  poolSize?: number
  dataDir: string
}

export async function openDb(options: OpenDbOptions): Promise<Db> {
  const db = options.databaseUrl
    ? await openPostgres(options.databaseUrl, options.poolSize)
    : await openPglite(join(options.dataDir, 'pglite'))
  try {
    await migrate(db)
  } catch (err) {
    await db.close().catch(() => {})
    throw err
  }
  return db
}

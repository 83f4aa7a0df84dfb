/** A database of its own for a store bench, dropped after: livedesk's PGlite (relaxed, on disk) or a new PostgreSQL database. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

/**
 * Opens a scratch database of `kind` ('PGlite', or 'PostgreSQL' on the server at `databaseUrl`) through the store of
 * the build in `dist`; `name` tells its directory or database apart. Resolves to `{ db, drop }`.
 */
export async function openScratchDatabase(kind, { dist, databaseUrl, name }) {
  const load = (path) => import(pathToFileURL(join(dist, path)).href)
  if (kind === 'PGlite') {
    const { openPglite } = await load('store/pglite.js')
    const dir = mkdtempSync(join(tmpdir(), `livedesk-bench-${name}-`))
    const db = await openPglite(dir, { durability: 'relaxed', maintenanceIntervalMs: 0 })
    return { db, drop: async () => (await db.close(), rmSync(dir, { recursive: true, force: true })) }
  }
  const pg = (await import('pg')).default
  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  const database = `livedesk_bench_${name}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  await admin.query(`CREATE DATABASE ${database}`)
  const url = new URL(databaseUrl)
  url.pathname = `/${database}`
  const { openPostgres } = await load('store/postgres.js')
  const db = await openPostgres(url.toString())
  return { db, drop: async () => (await db.close(), await admin.query(`DROP DATABASE ${database} WITH (FORCE)`), await admin.end()) }
}

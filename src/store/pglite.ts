/** The embedded default: PGlite (PostgreSQL in WebAssembly) in one directory; one connection, transactions serialised. */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { PGlite, type Transaction } from '@electric-sql/pglite'
import type { Db, DbStats } from './db.js'
import { DEFAULT_PGLITE_DURABILITY, fsyncTree, pgliteOptions, type FsyncCounter, type PgliteDurability } from './pglite-durability.js'

/**
 * A freshly initialised cluster, dumped once per process: creating a new database from it takes a fraction
 * of PGlite's initdb (about 0.6 s against 2–4 s here), which matters to tests that start many servers.
 */
let freshCluster: Blob | undefined
/** A server opens one database; only a process that creates a second one keeps the dump (40 MB). */
let newDatabases = 0

async function createPglite(dir: string | undefined, durability: PgliteDurability, counter: FsyncCounter): Promise<PGlite> {
  const options = dir ? pgliteOptions(dir, durability, counter) : {}
  if (dir && existsSync(join(dir, 'PG_VERSION'))) return PGlite.create(options)
  const pg = await PGlite.create(freshCluster ? { ...options, loadDataDir: freshCluster } : options)
  if (!freshCluster && ++newDatabases >= 2) freshCluster = await pg.dumpDataDir('none')
  if (dir && durability === 'fsync') await fsyncTree(dir)
  return pg
}

export interface OpenPgliteOptions {
  /** How commits reach the disk (src/store/pglite-durability.ts). @default 'fsync' */
  durability?: PgliteDurability
}

/** Opens (creating if needed) the PGlite database in `dir`; `dir` undefined keeps it in memory. */
export async function openPglite(dir?: string, options: OpenPgliteOptions = {}): Promise<Db> {
  if (dir) await mkdir(dir, { recursive: true })
  const stats: DbStats & FsyncCounter = { statements: 0, transactions: 0, fsyncs: 0 }
  const pg = await createPglite(dir, options.durability ?? DEFAULT_PGLITE_DURABILITY, stats)
  const wrapTx = (tx: Transaction): Db => ({
    async query<T>(sql: string, params?: unknown[]) {
      stats.statements++
      return (await tx.query<T>(sql, params as any[])).rows
    },
    // Nested transactions join the open one.
    transaction: (fn) => fn(wrapTx(tx)),
    close: async () => {},
    stats,
  })
  return {
    async query<T>(sql: string, params?: unknown[]) {
      stats.statements++
      return (await pg.query<T>(sql, params as any[])).rows
    },
    transaction: (fn) => {
      stats.transactions++
      stats.statements += 2 // BEGIN and COMMIT (or ROLLBACK)
      return pg.transaction((tx) => fn(wrapTx(tx)))
    },
    close: () => pg.close(),
    stats,
  }
}

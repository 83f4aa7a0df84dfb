/** The embedded default: PGlite (PostgreSQL in WebAssembly) in one directory; one connection, transactions serialised. */
import { mkdir } from 'node:fs/promises'
import { PGlite, type Transaction } from '@electric-sql/pglite'
import type { Db } from './db.js'

/** Opens (creating if needed) the PGlite database in `dir`; `dir` undefined keeps it in memory. */
export async function openPglite(dir?: string): Promise<Db> {
  if (dir) await mkdir(dir, { recursive: true })
  const pg = await PGlite.create(dir)
  const wrapTx = (tx: Transaction): Db => ({
    async query<T>(sql: string, params?: unknown[]) {
      return (await tx.query<T>(sql, params as any[])).rows
    },
    // Nested transactions join the open one.
    transaction: (fn) => fn(wrapTx(tx)),
    close: async () => {},
  })
  return {
    async query<T>(sql: string, params?: unknown[]) {
      return (await pg.query<T>(sql, params as any[])).rows
    },
    transaction: (fn) => pg.transaction((tx) => fn(wrapTx(tx))),
    close: () => pg.close(),
  }
}

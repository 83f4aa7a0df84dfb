import type { MaintenanceRun } from './pglite-maintenance.js'

/** The one persistence interface: SQL in PostgreSQL's dialect, served by PGlite or by a PostgreSQL server. */

/** Running totals of one database handle, for /metrics and the domain benchmark's statements per message. */
export interface DbStats {
  /** Statements sent, BEGIN and COMMIT included. */
  statements: number
  transactions: number
  /** fsyncs that reached the disk (PGlite with PGLITE_DURABILITY=fsync; PostgreSQL does its own). */
  fsyncs?: number
  /** PGlite with PGLITE_DURABILITY=fsync: WAL flushes that ran on the event loop's thread (before a data-file write). */
  walFlushesOnThread?: number
  /**
   * PGlite with PGLITE_DURABILITY=fsync: called with how long each flush of the WAL took, in seconds (the commits in
   * flight waited for it); whoever records it (/metrics) sets it.
   */
  onWalFlush?: (seconds: number) => void
  /** PGlite: called after each vacuum or analyse of a table (store/pglite-maintenance.ts), and with a round's error. */
  onMaintenance?: (run: MaintenanceRun) => void
  onMaintenanceError?: (err: unknown) => void
}

export interface Db {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  /** Runs `fn` in one transaction; a throw rolls back. Concurrent callers may wait for each other. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>
  close(): Promise<void>
  /** Totals since open; shared by the handle and every transaction handle it gives out. */
  readonly stats: DbStats
  /** Statements it runs at once: 1 for PGlite (one connection, statements take turns); absent: several (a pool). */
  readonly connections?: number
  /** PGlite only: copies its data directory to `target` between two statements (crash-consistent; src/store/pglite-snapshot.ts). */
  copyDataDir?(target: string): Promise<void>
}

/** The one persistence interface: SQL in PostgreSQL's dialect, served by PGlite or by a PostgreSQL server. */

export interface Db {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  /** Runs `fn` in one transaction; a throw rolls back. Concurrent callers may wait for each other. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>
  close(): Promise<void>
}

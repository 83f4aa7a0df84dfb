/** A PostgreSQL server through a `pg` pool; each transaction holds one pooled connection. */
import pg from 'pg'
import type { Db, DbStats } from './db.js'

// int8 (counts, bigserial) as JS numbers: every value livedesk stores stays far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v))

/**
 * Each distinct SQL text becomes a named prepared statement, so a connection parses it once and PostgreSQL can
 * reuse its plan: measured with bench:domain, planning was 60% of the server time of a client message
 * (0.20 of 0.34 ms). Only statements with parameters (a script of several statements cannot be prepared);
 * bounded: texts past the first MAX_NAMED run unnamed.
 */
const MAX_NAMED = 2_000
const statementNames = new Map<string, string>()
function statement(text: string, values?: unknown[]): pg.QueryConfig {
  if (values === undefined) return { text }
  let name = statementNames.get(text)
  if (name === undefined && statementNames.size < MAX_NAMED) statementNames.set(text, (name = `ld${statementNames.size}`))
  return name === undefined ? { text, values } : { name, text, values }
}

export async function openPostgres(url: string, poolSize = 10): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize })
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  await pool.query('SELECT 1')
  const stats: DbStats = { statements: 0, transactions: 0 }
  const wrapClient = (client: pg.PoolClient): Db => ({
    async query<T>(sql: string, params?: unknown[]) {
      stats.statements++
      return (await client.query(statement(sql, params))).rows as T[]
    },
    transaction: (fn) => fn(wrapClient(client)),
    close: async () => {},
    stats,
  })
  return {
    async query<T>(sql: string, params?: unknown[]) {
      stats.statements++
      return (await pool.query(statement(sql, params))).rows as T[]
    },
    async transaction(fn) {
      const client = await pool.connect()
      // A held client is not the pool's to watch: its connection dropping (a server restart) would otherwise be an
      // uncaught 'error'. The query in flight fails on its own; the broken connection is destroyed, not reused.
      let broken: Error | undefined
      const onError = (err: Error) => void (broken = err)
      client.on('error', onError)
      stats.transactions++
      stats.statements += 2 // BEGIN and COMMIT (or ROLLBACK)
      try {
        await client.query('BEGIN')
        const result = await fn(wrapClient(client))
        await client.query('COMMIT')
        return result
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: Error) => void (broken ??= rollbackErr))
        throw err
      } finally {
        client.off('error', onError)
        client.release(broken)
      }
    },
    close: () => pool.end(),
    stats,
  }
}

/**
 * A PostgreSQL connection that drops while a transaction holds it (a server restart, a killed backend) fails that
 * transaction with an error; it is no uncaught 'error' that ends the process, and the pool goes on with new ones.
 */
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openPostgres } from '../../src/store/postgres.js'
import type { Db } from '../../src/store/db.js'
import { serviceUrl } from '../realtime/services.js'

const url = serviceUrl('TEST_DATABASE_URL', 'PostgreSQL connection loss')
if (url) {
  let db: Db
  let admin: pg.Client
  beforeAll(async () => {
    db = await openPostgres(url, 2)
    admin = new pg.Client({ connectionString: url })
    await admin.connect()
  })
  afterAll(async () => {
    await db?.close()
    await admin?.end()
  })

  it('fails the transaction whose connection was killed, and serves the next one', async () => {
    const uncaught: unknown[] = []
    const onUncaught = (err: unknown) => void uncaught.push(err)
    process.on('uncaughtException', onUncaught)
    try {
      const doomed = db.transaction(async (tx) => {
        const [{ pid }] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
        await admin.query('SELECT pg_terminate_backend($1)', [pid])
        // The server closed this connection: the next statement cannot succeed.
        await tx.query('SELECT pg_sleep(0.05)')
        return 'committed'
      })
      await expect(doomed).rejects.toThrow()
      const [{ n }] = await db.query<{ n: number }>('SELECT $1::int AS n', [7])
      expect(n).toBe(7)
      // Both pooled connections work again (the broken one was destroyed, not handed out).
      const pids = await Promise.all([0, 1].map(() => db.transaction((tx) => tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.02)'))))
      expect(pids.flat()).toHaveLength(2)
      expect(uncaught).toEqual([])
    } finally {
      process.off('uncaughtException', onUncaught)
    }
  })
}

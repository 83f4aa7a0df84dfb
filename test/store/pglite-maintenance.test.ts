/**
 * PGlite has no autovacuum; src/store/pglite-maintenance.ts does its job. Without it the outbox, written and pruned,
 * grows for ever, and the planner, with no statistics, reads whole tables where an index would do.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { openDb, type Db } from '../../src/store/index.js'
import { maintainTables, maintenanceDue, type MaintenanceRun } from '../../src/store/pglite-maintenance.js'
import { takeDueOffline } from '../../src/store/timers.js'
import { tempPglite, type TestDatabase } from './databases.js'
import { planNodes, statementOf } from './plans.js'

const opened: Array<{ db: Db; target: TestDatabase }> = []
async function pglite(maintenanceIntervalMs = 0): Promise<Db> {
  const target = await tempPglite()
  const db = await openDb({ ...target, pgliteMaintenanceIntervalMs: maintenanceIntervalMs })
  opened.push({ db, target })
  return db
}
afterEach(async () => {
  for (const { db, target } of opened.splice(0)) {
    await db.close()
    await target.drop()
  }
})

/** The outbox's life: events written, marked published, the oldest pruned; `rounds` × 2,000 events, 200 kept. */
async function churnOutbox(db: Db, events: number) {
  for (let i = 0; i < events; i += 100) {
    await db.transaction(async (tx) => {
      const ids = await tx.query<{ id: string }>(
        `INSERT INTO outbox (event_id, event, chat_id, node_id, data, subject)
         SELECT 'e' || g, 'chatMessageCreated', 'chat', 'n1', jsonb_build_object('text', repeat('x', 200)), '{}' FROM generate_series(1, 100) g RETURNING id`,
      )
      await tx.query(`UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])`, [ids.map((r) => r.id)])
      await tx.query(`DELETE FROM outbox WHERE id <= (SELECT max(id) - 200 FROM outbox)`)
    })
  }
}
const outboxBytes = async (db: Db) => Number((await db.query<{ n: string }>(`SELECT pg_relation_size('outbox') AS n`))[0]!.n)

/** The kinds of scan of `table` in the generic plan of `statement`. */
async function scansOf(db: Db, statement: { sql: string; params: unknown[] }, table: string): Promise<string[]> {
  return (await planNodes(db, statement, 'GENERIC_PLAN')).filter((n) => n['Relation Name'] === table && n['Node Type'].endsWith('Scan')).map((n) => n['Node Type'])
}

describe('PGlite maintenance (autovacuum\'s job)', () => {
  it('vacuums past 50 + 20% dead rows (autovacuum\'s rule), analyses past 50 + 100% changed (once a table doubles)', () => {
    expect(maintenanceDue({ table: 't', rows: 1000, dead: 250, modifiedSinceAnalyze: 0 })).toBeUndefined()
    expect(maintenanceDue({ table: 't', rows: 1000, dead: 251, modifiedSinceAnalyze: 0 })).toBe('vacuum')
    expect(maintenanceDue({ table: 't', rows: 1000, dead: 0, modifiedSinceAnalyze: 1050 })).toBeUndefined()
    expect(maintenanceDue({ table: 't', rows: 1000, dead: 0, modifiedSinceAnalyze: 1051 })).toBe('analyze')
    expect(maintenanceDue({ table: 't', rows: 0, dead: 51, modifiedSinceAnalyze: 51 })).toBe('vacuum')
    // Never analysed (no rows counted yet): 51 inserts are enough.
    expect(maintenanceDue({ table: 't', rows: 0, dead: 0, modifiedSinceAnalyze: 51 })).toBe('analyze')
  })

  it('keeps the outbox\'s file from growing as events are written and pruned; without it the file grows with every event', async () => {
    const kept = await pglite()
    const grown = await pglite()
    const runs: MaintenanceRun[] = []
    for (const db of [kept, grown]) await churnOutbox(db, 4_000)
    runs.push(...(await maintainTables(kept)))
    const [keptAfterFirst, grownAfterFirst] = [await outboxBytes(kept), await outboxBytes(grown)]
    for (let round = 0; round < 3; round++) {
      for (const db of [kept, grown]) await churnOutbox(db, 4_000)
      runs.push(...(await maintainTables(kept)))
    }
    expect(runs.filter((r) => r.table === 'outbox').map((r) => r.operation)).toEqual(['vacuum', 'vacuum', 'vacuum', 'vacuum'])
    expect(runs.every((r) => r.seconds >= 0)).toBe(true)
    // 16,000 events, 200 rows: vacuumed, the freed pages are written again; unvacuumed, every event takes new space.
    expect(await outboxBytes(kept)).toBeLessThanOrEqual(keptAfterFirst * 1.1)
    expect(await outboxBytes(grown)).toBeGreaterThan(grownAfterFirst * 3)
    const [{ dead }] = await kept.query<{ dead: string }>(`SELECT n_dead_tup AS dead FROM pg_stat_user_tables WHERE relname = 'outbox'`)
    expect(Number(dead)).toBe(0)
  }, 60_000)

  it('gives the planner statistics: the offline sweep finds due clients through its index, not by reading all 20,000 clients', async () => {
    const db = await pglite()
    await db.query(`INSERT INTO clients (id, chat_id, name, channel, token_hash) SELECT 'c' || g, 'chat' || g, 'client ' || g, 'widget', 't' || g FROM generate_series(1, 20000) g`)
    const sweep = await statementOf(db, takeDueOffline)
    expect(await scansOf(db, sweep, 'clients')).toEqual(['Seq Scan'])
    const runs = await maintainTables(db)
    expect(runs).toContainEqual(expect.objectContaining({ table: 'clients', operation: 'analyze' }))
    expect(await scansOf(db, sweep, 'clients')).not.toContain('Seq Scan')
    // Nothing changed since: the next round has nothing to do for it.
    expect((await maintainTables(db)).filter((r) => r.table === 'clients')).toEqual([])
  }, 30_000)

  it('analyses the outbox with a small sample and without the events\' JSON, which no plan reads (migration 019)', async () => {
    const db = await pglite()
    await churnOutbox(db, 400)
    expect(await maintainTables(db)).toContainEqual(expect.objectContaining({ table: 'outbox' }))
    const columns = await db.query<{ attname: string }>(`SELECT attname FROM pg_stats WHERE tablename = 'outbox' ORDER BY attname`)
    expect(columns.map((c) => c.attname)).toContain('created_at')
    expect(columns.map((c) => c.attname)).not.toContain('data')
    expect(columns.map((c) => c.attname)).not.toContain('subject')
    // Sampled with a statistics target of 10 (PostgreSQL's default: 100): a histogram of at most 11 bounds.
    const [{ bounds }] = await db.query<{ bounds: number }>(
      `SELECT array_length(histogram_bounds::text::text[], 1) AS bounds FROM pg_stats WHERE tablename = 'outbox' AND attname = 'id'`,
    )
    expect(bounds).toBeGreaterThan(1)
    expect(bounds).toBeLessThanOrEqual(11)
  }, 30_000)

  it('runs on its own every interval once a table needs it, and stops with the database', async () => {
    const db = await pglite(50)
    const run = new Promise<MaintenanceRun>((resolve) => (db.stats.onMaintenance = (r) => r.table === 'outbox' && resolve(r)))
    await churnOutbox(db, 1_000)
    expect(await run).toMatchObject({ table: 'outbox', operation: 'vacuum' })
    const [{ vacuumed }] = await db.query<{ vacuumed: Date | null }>(`SELECT last_vacuum AS vacuumed FROM pg_stat_user_tables WHERE relname = 'outbox'`)
    expect(vacuumed).not.toBeNull()
  }, 30_000)
})

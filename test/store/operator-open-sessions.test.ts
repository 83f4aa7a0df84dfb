/**
 * An operator's open sessions are counted from an index of each operator's open sessions (migration 018): routing,
 * capacity and the operator list read that operator's open session rows alone, however many closed sessions it has
 * had (the index by operator holds them all) and however many are open elsewhere (the index of open sessions). Checked by the rows the executor reads (EXPLAIN ANALYZE), on PGlite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDb, type Db } from '../../src/store/index.js'
import { operatorCapacity } from '../../src/store/operators.js'
import { operatorViewRows } from '../../src/store/views.js'
import { postgresAvailable, tempPglite, tempPostgres, type TestDatabase } from './databases.js'
import { planNodes, statementOf } from './plans.js'

const pgUp = await postgresAvailable()
const backends = [
  { name: 'PGlite', make: tempPglite, skip: false },
  { name: 'PostgreSQL', make: tempPostgres, skip: !pgUp },
]

const OPERATORS = 20
const CLOSED_EACH = 500
const OPEN_EACH = 2

/** Session rows the executor read to answer `run`'s statement: what the scans of `sessions` returned or filtered out. */
async function sessionRowsRead(db: Db, run: (recorder: Db) => Promise<unknown>): Promise<number> {
  const scans = (await planNodes(db, await statementOf(db, run), 'ANALYZE')).filter((n) => n['Relation Name'] === 'sessions' && n['Node Type'].endsWith('Scan'))
  return scans.reduce((read, n) => read + (n['Actual Rows']! + (n['Rows Removed by Filter'] ?? 0)) * n['Actual Loops']!, 0)
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`an operator's open sessions on ${backend.name}`, () => {
    let target: TestDatabase
    let db: Db
    beforeAll(async () => {
      target = await backend.make()
      db = await openDb({ ...target, pgliteMaintenanceIntervalMs: 0 })
      const closed = OPERATORS * CLOSED_EACH
      await db.query(`INSERT INTO operators (id, name, max_chats, status) SELECT 'op' || g, 'Operator ' || g, 20, 'online' FROM generate_series(1, ${OPERATORS}) g`)
      await db.query(`INSERT INTO clients (id, chat_id, name, channel, token_hash) SELECT 'c' || g, 'chat' || g, 'client ' || g, 'widget', 't' || g FROM generate_series(1, ${closed}) g`)
      await db.query(`INSERT INTO sessions (id, chat_id, client_id, status, operator_id, closed_at)
                      SELECT 'closed' || g, 'chat' || g, 'c' || g, 'closed', 'op' || (g % ${OPERATORS} + 1), now() FROM generate_series(1, ${closed}) g`)
      await db.query(`INSERT INTO sessions (id, chat_id, client_id, status, operator_id)
                      SELECT 'open' || g, 'chat' || g, 'c' || g, 'assigned', 'op' || (g % ${OPERATORS} + 1) FROM generate_series(1, ${OPERATORS * OPEN_EACH}) g`)
      // Statistics, as autovacuum (PostgreSQL) or livedesk's maintenance (PGlite) keeps them.
      await db.query('ANALYZE')
    }, 60_000)
    afterAll(async () => {
      await db?.close()
      await target?.drop()
    })

    it(`counts one operator's open sessions reading those ${OPEN_EACH} alone: not its ${CLOSED_EACH} closed ones, nor the others' open ones`, async () => {
      expect(await operatorCapacity(db, 'op7')).toMatchObject({ open: OPEN_EACH })
      expect(await sessionRowsRead(db, (r) => operatorCapacity(r, 'op7'))).toBeLessThanOrEqual(OPEN_EACH)
    })

    it(`lists ${OPERATORS} operators with their open sessions reading ${OPERATORS * OPEN_EACH} session rows, one per open session`, async () => {
      const rows = await operatorViewRows(db, { limit: 100 })
      expect(rows.map((r) => r.open_sessions)).toEqual(Array(OPERATORS).fill(OPEN_EACH))
      expect(await sessionRowsRead(db, (r) => operatorViewRows(r, { limit: 100 }))).toBeLessThanOrEqual(OPERATORS * OPEN_EACH)
    })
  })
}

/**
 * Read receipts are rows of their own (migration 020): marking messages read inserts one receipt per message and
 * leaves the message rows as they were (same physical row version: no index entries made again, no dead rows for a
 * vacuum), while every reader of messages still sees `read_at` and the unread counts. On PGlite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { latestMessages, markRead, messageById } from '../../src/store/chat.js'
import type { Db } from '../../src/store/db.js'
import { openDb } from '../../src/store/index.js'
import { unreadClientMessageCounts } from '../../src/store/views.js'
import { postgresAvailable, tempPglite, tempPostgres, type TestDatabase } from './databases.js'
import { planNodes, statementOf } from './plans.js'

const pgUp = await postgresAvailable()
const backends = [
  { name: 'PGlite', make: tempPglite, skip: false },
  { name: 'PostgreSQL', make: tempPostgres, skip: !pgUp },
]

/** Each message's physical row version: an UPDATE of any kind (HOT or not) gives the row a new one. */
const rowVersions = async (db: Db) =>
  Object.fromEntries((await db.query<{ id: string; ctid: string }>(`SELECT id, ctid::text FROM messages ORDER BY seq`)).map((r) => [r.id, r.ctid]))

for (const backend of backends) {
  describe.skipIf(backend.skip)(`read receipts on ${backend.name}`, () => {
    let target: TestDatabase
    let db: Db
    const seqOf = new Map<string, number>()
    beforeAll(async () => {
      target = await backend.make()
      db = await openDb({ ...target, pgliteMaintenanceIntervalMs: 0 })
      await db.query(`INSERT INTO operators (id, name, max_chats) VALUES ('op1', 'Ada', 5)`)
      await db.query(`INSERT INTO clients (id, chat_id, name, channel, token_hash) VALUES ('c1', 'chat1', 'Ann', 'widget', 't1')`)
      await db.query(`INSERT INTO sessions (id, chat_id, client_id, status, operator_id) VALUES ('s1', 'chat1', 'c1', 'assigned', 'op1')`)
      // c1..c6 from the client, o1..o3 from the operator, interleaved; one internal note that is never "read"
      for (const [id, type, author] of [['c1', 'client', 'c1'], ['c2', 'client', 'c1'], ['o1', 'operator', 'op1'], ['c3', 'client', 'c1'], ['o2', 'operator', 'op1'],
        ['c4', 'client', 'c1'], ['n1', 'operator', 'op1'], ['c5', 'client', 'c1'], ['o3', 'operator', 'op1'], ['c6', 'client', 'c1']]) {
        const [row] = await db.query<{ seq: string }>(
          `INSERT INTO messages (id, session_id, chat_id, author_type, author_id, text, internal) VALUES ($1, 's1', 'chat1', $2, $3, $4, $5) RETURNING seq`,
          [id, type, author, `text of ${id}`, id === 'n1'],
        )
        seqOf.set(id, Number(row.seq))
      }
    }, 60_000)
    afterAll(async () => {
      await db?.close()
      await target?.drop()
    })

    it('marks the client messages up to one read once, in order, without writing the message rows', async () => {
      const before = await rowVersions(db)
      expect(await unreadClientMessageCounts(db, ['s1'])).toEqual(new Map([['s1', 6]]))

      const read = await markRead(db, { column: 'session_id', value: 's1', uptoSeq: seqOf.get('c4')!, by: 'operator' })
      expect(read.map((r) => r.id)).toEqual(['c1', 'c2', 'c3', 'c4'])
      expect(read.every((r) => r.read_at instanceof Date)).toBe(true)
      // Read already: nothing again, the same receipts.
      expect(await markRead(db, { column: 'session_id', value: 's1', uptoSeq: seqOf.get('c4')!, by: 'operator' })).toEqual([])

      expect(await unreadClientMessageCounts(db, ['s1'])).toEqual(new Map([['s1', 2]]))
      expect((await messageById(db, 'c2'))!.read_at).toEqual(read[1]!.read_at)
      expect((await messageById(db, 'c5'))!.read_at).toBeNull()
      expect(await rowVersions(db)).toEqual(before)
    })

    it("marks the operator's messages read by the client, internal notes never", async () => {
      const read = await markRead(db, { column: 'chat_id', value: 'chat1', uptoSeq: seqOf.get('c6')!, by: 'client' })
      expect(read.map((r) => r.id)).toEqual(['o1', 'o2', 'o3'])
      const page = await latestMessages(db, { column: 'session_id', value: 's1' }, { limit: 20, notes: true })
      const readAt = Object.fromEntries(page.map((m) => [m.id, m.read_at !== null]))
      expect(readAt).toEqual({ c1: true, c2: true, c3: true, c4: true, c5: false, c6: false, o1: true, o2: true, o3: true, n1: false })
    })

    it('two reads of the same messages at once: each receipt written once, by one of them', async () => {
      await db.query(`DELETE FROM message_reads`)
      const upto = seqOf.get('c6')!
      const [a, b] = await Promise.all([0, 1].map(() => db.transaction((tx) => markRead(tx, { column: 'session_id', value: 's1', uptoSeq: upto, by: 'operator' }))))
      const ids = [...a!, ...b!].map((r) => r.id).sort()
      expect(ids).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6'])
      expect(await unreadClientMessageCounts(db, ['s1'])).toEqual(new Map())
    })

    it('reads a page of messages and the unread counts by the receipts key once there are many receipts', async () => {
      const MANY = 5_000
      await db.query(`INSERT INTO sessions (id, chat_id, client_id, status, operator_id, closed_at) VALUES ('s0', 'chat1', 'c1', 'closed', 'op1', now())`)
      await db.query(`INSERT INTO messages (id, session_id, chat_id, author_type, author_id, text) SELECT 'old' || g, 's0', 'chat1', 'client', 'c1', 'old ' || g FROM generate_series(1, ${MANY}) g`)
      const [{ seq }] = await db.query<{ seq: string }>(`SELECT max(seq) AS seq FROM messages WHERE session_id = 's0'`)
      expect(await markRead(db, { column: 'session_id', value: 's0', uptoSeq: Number(seq), by: 'operator' })).toHaveLength(MANY)
      // Statistics, as autovacuum (PostgreSQL) or livedesk's maintenance (PGlite) keeps them.
      await db.query('ANALYZE')
      for (const run of [(r: Db) => latestMessages(r, { column: 'session_id', value: 's1' }, { limit: 20, notes: true }), (r: Db) => unreadClientMessageCounts(r, ['s1'])]) {
        const scans = (await planNodes(db, await statementOf(db, run))).filter((n) => n['Relation Name'] === 'message_reads')
        expect(scans.length).toBeGreaterThan(0)
        expect(scans.map((n) => n['Node Type'])).not.toContain('Seq Scan')
      }
    })
  })
}

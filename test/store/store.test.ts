import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openDb, type Db } from '../../src/store/index.js'
import { migrate } from '../../src/store/migrate.js'
import { MIGRATIONS } from '../../src/store/migrations/index.js'
import { postgresAvailable, tempPglite, tempPostgres, type TestDatabase } from './databases.js'

const pgUp = await postgresAvailable()

const backends: Array<{ name: string; make: () => Promise<TestDatabase>; skip: boolean }> = [
  { name: 'PGlite', make: tempPglite, skip: false },
  { name: 'PostgreSQL', make: tempPostgres, skip: !pgUp },
]

for (const backend of backends) {
  describe.skipIf(backend.skip)(`store on ${backend.name}`, () => {
    const cleanup: Array<() => Promise<void>> = []
    afterEach(async () => {
      while (cleanup.length) await cleanup.pop()!()
    })
    // One database for the tests that only add rows with their own ids (opening PGlite costs a second or more).
    let shared: { db: Db; target: TestDatabase }
    beforeAll(async () => {
      const target = await backend.make()
      shared = { db: await openDb(target), target }
    })
    afterAll(async () => {
      await shared?.db.close()
      await shared?.target.drop()
    })
    const open = async () => shared

    it('applies every migration once and records it', async () => {
      const { db } = await open()
      const rows = await db.query<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id')
      expect(rows.map((r) => Number(r.id))).toEqual(MIGRATIONS.map((m) => m.id))
      expect(await migrate(db)).toEqual([])
    })

    it('returns typed values: timestamps as Date, counts and bigserials as numbers, jsonb as objects', async () => {
      const { db } = await open()
      await db.query(
        `INSERT INTO clients (id, chat_id, name, channel, token_hash, coordinates) VALUES ('t1', 'tchat1', 'Ann', 'widget', 'th1', $1)`,
        [JSON.stringify({ city: 'Riga' })],
      )
      const [row] = await db.query<any>(`SELECT created_at, coordinates, (SELECT count(*) FROM clients WHERE id = 't1') AS n FROM clients WHERE id = 't1'`)
      expect(row.created_at).toBeInstanceOf(Date)
      expect(row.coordinates).toEqual({ city: 'Riga' })
      expect(row.n).toBe(1)
    })

    it('rolls a failed transaction back and commits a good one', async () => {
      const { db } = await open()
      await db.query(`INSERT INTO operators (id, name, max_chats) VALUES ('r1', 'A', 5)`)
      await expect(
        db.transaction(async (tx) => {
          await tx.query(`UPDATE operators SET name = 'B' WHERE id = 'r1'`)
          throw new Error('boom')
        }),
      ).rejects.toThrow('boom')
      expect((await db.query<any>(`SELECT name FROM operators WHERE id = 'r1'`))[0].name).toBe('A')
      await db.transaction((tx) => tx.query(`UPDATE operators SET name = 'C' WHERE id = 'r1'`))
      expect((await db.query<any>(`SELECT name FROM operators WHERE id = 'r1'`))[0].name).toBe('C')
    })

    it('serialises concurrent transactions under an advisory lock (no lost update)', async () => {
      const { db } = await open()
      await db.query(`INSERT INTO operators (id, name, max_chats) VALUES ('l1', 'A', 0)`)
      await Promise.all(
        Array.from({ length: 20 }, () =>
          db.transaction(async (tx) => {
            await tx.query('SELECT pg_advisory_xact_lock(1)')
            const [r] = await tx.query<any>(`SELECT max_chats FROM operators WHERE id = 'l1'`)
            await tx.query(`UPDATE operators SET max_chats = $1 WHERE id = 'l1'`, [r.max_chats + 1])
          }),
        ),
      )
      expect((await db.query<any>(`SELECT max_chats FROM operators WHERE id = 'l1'`))[0].max_chats).toBe(20)
    })

    it('keeps one open session per chat', async () => {
      const { db } = await open()
      await db.query(`INSERT INTO clients (id, chat_id, name, channel, token_hash) VALUES ('u1', 'uchat1', 'Ann', 'widget', 'uh1')`)
      await db.query(`INSERT INTO sessions (id, chat_id, client_id, status) VALUES ('s1', 'uchat1', 'u1', 'queued')`)
      await expect(
        db.query(`INSERT INTO sessions (id, chat_id, client_id, status) VALUES ('s2', 'uchat1', 'u1', 'bot')`),
      ).rejects.toThrow()
      await db.query(`UPDATE sessions SET status = 'closed' WHERE id = 's1'`)
      await db.query(`INSERT INTO sessions (id, chat_id, client_id, status) VALUES ('s2', 'uchat1', 'u1', 'bot')`)
    })

    it('keeps data across a close and reopen', async () => {
      const target = await backend.make()
      cleanup.push(() => target.drop())
      const first = await openDb(target)
      await first.query(`INSERT INTO operators (id, name, max_chats) VALUES ('o1', 'Kept', 3)`)
      await first.close()
      const second = await openDb(target)
      cleanup.push(() => second.close())
      expect(await second.query<any>(`SELECT id, name, max_chats FROM operators`)).toEqual([{ id: 'o1', name: 'Kept', max_chats: 3 }])
    })

    it.skipIf(backend.name !== 'PostgreSQL')('lets two nodes migrate the same database at once', async () => {
      const target = await backend.make()
      cleanup.push(() => target.drop())
      const [a, b] = await Promise.all([openDb(target), openDb(target)])
      cleanup.push(() => a.close(), () => b.close())
      const rows = await a.query<{ id: number }>('SELECT id FROM schema_migrations')
      expect(rows.length).toBe(MIGRATIONS.length)
    })
  })
}

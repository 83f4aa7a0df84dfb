/**
 * Upgrades keep data: a database at the first release's schema (migration 001 only), filled through SQL as that
 * release wrote it, is migrated by a current livedesk at start and read back through the API.
 */
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import type { Db } from '../../src/store/db.js'
import { openDb } from '../../src/store/index.js'
import { migrate } from '../../src/store/migrate.js'
import { MIGRATIONS } from '../../src/store/migrations/index.js'
import { openPglite } from '../../src/store/pglite.js'
import { openPostgres } from '../../src/store/postgres.js'
import { api, ok } from '../http/e2e.js'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { postgresAvailable, tempPglite, tempPostgres, type TestDatabase } from './databases.js'

const pgUp = await postgresAvailable()
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const CLIENT_TOKEN = 'first-release-client-token'

/** What the first release wrote: two operators, a client with a token, an assigned and a closed session, messages. */
async function fillFirstRelease(db: Db): Promise<void> {
  await db.query(`INSERT INTO operators (id, name, max_chats, blocked, blocked_reason, created_at) VALUES
    ('op-ada', 'Ada', 3, false, NULL, '2026-01-02T10:00:00Z'), ('op-bob', 'Bob', 1, true, 'left the team', '2026-01-02T11:00:00Z')`)
  await db.query(`INSERT INTO clients (id, chat_id, name, external_id, channel, ip, coordinates, token_hash, created_at)
    VALUES ('cl-ann', 'chat-ann', 'Ann', 'crm-42', 'widget', '203.0.113.9', '{"city":"Riga"}', $1, '2026-01-03T09:00:00Z')`, [sha256(CLIENT_TOKEN)])
  await db.query(`INSERT INTO sessions (id, chat_id, client_id, status, operator_id, started_at, operator_assigned_at, closed_at, closed_by)
    VALUES ('se-old', 'chat-ann', 'cl-ann', 'closed', 'op-bob', '2026-01-03T09:00:00Z', '2026-01-03T09:01:00Z', '2026-01-03T09:30:00Z', 'operator')`)
  await db.query(`INSERT INTO sessions (id, chat_id, client_id, status, operator_id, started_at, operator_assigned_at)
    VALUES ('se-now', 'chat-ann', 'cl-ann', 'assigned', 'op-ada', '2026-01-04T09:00:00Z', '2026-01-04T09:00:05Z')`)
  const messages = [
    ['m1', 'se-old', 'client', 'cl-ann', 'Ann', 'Hello, my order is late', '2026-01-03T09:00:01Z'],
    ['m2', 'se-old', 'operator', 'op-bob', 'Bob', 'Looking into it', '2026-01-03T09:02:00Z'],
    ['m3', 'se-now', 'client', 'cl-ann', 'Ann', 'Me again: it arrived broken', '2026-01-04T09:00:01Z'],
    ['m4', 'se-now', 'operator', 'op-ada', 'Ada', 'Sorry! A new one ships today', '2026-01-04T09:01:00Z'],
  ]
  for (const [id, session, type, author, name, text, at] of messages) {
    await db.query(`INSERT INTO messages (id, session_id, chat_id, author_type, author_id, author_name, text, created_at)
      VALUES ($1, $2, 'chat-ann', $3, $4, $5, $6, $7)`, [id, session, type, author, name, text, at])
  }
  // Read receipts were a column of the message then (migration 020 moved them to message_reads).
  await db.query(`UPDATE messages SET read_at = '2026-01-03T09:05:00Z' WHERE id = 'm2'`)
  await db.query(`UPDATE messages SET read_at = '2026-01-04T09:00:30Z' WHERE id = 'm3'`)
}

const backends: Array<{ name: string; make: () => Promise<TestDatabase>; open: (t: TestDatabase) => Promise<Db>; skip: boolean }> = [
  { name: 'PGlite', make: tempPglite, open: (t) => openPglite(join(t.dataDir, 'pglite')), skip: false },
  { name: 'PostgreSQL', make: tempPostgres, open: (t) => openPostgres(t.databaseUrl!), skip: !pgUp },
]

for (const backend of backends) {
  describe.skipIf(backend.skip)(`upgrade from the first release on ${backend.name}`, () => {
    const targets: TestDatabase[] = []
    afterAll(async () => {
      for (const t of targets) await t.drop().catch(() => {})
    })

    it('migrates a filled 001 schema forward; operators, clients, sessions and messages read back through the API', async () => {
      const target = await backend.make()
      targets.push(target)
      const first = await backend.open(target)
      expect(await migrate(first, MIGRATIONS.slice(0, 1))).toEqual([1])
      await fillFirstRelease(first)
      await first.close()

      const livedesk = await startTestLivedesk({ dataDir: target.dataDir, databaseUrl: target.databaseUrl })
      expect(await ok(livedesk, 'GET', '/operators/op-ada')).toMatchObject({ id: 'op-ada', name: 'Ada', maxChats: 3, blocked: false })
      expect(await ok(livedesk, 'GET', '/operators/op-bob')).toMatchObject({ id: 'op-bob', name: 'Bob', maxChats: 1, blocked: true })
      expect(await ok(livedesk, 'GET', '/clients/cl-ann')).toMatchObject({ id: 'cl-ann', chatId: 'chat-ann', name: 'Ann' })

      // The first release's client token still signs the widget in.
      expect(await ok(livedesk, 'GET', '/widget/me', undefined, CLIENT_TOKEN)).toMatchObject({ id: 'cl-ann' })
      const history = await ok(livedesk, 'GET', '/widget/messages', undefined, CLIENT_TOKEN)
      expect(history.items.map((m: { text: string }) => m.text)).toEqual(expect.arrayContaining(['Hello, my order is late', 'Looking into it', 'Me again: it arrived broken', 'Sorry! A new one ships today']))

      // An operator signs in with a token issued after the upgrade and sees the old session and its messages.
      const { token } = await ok(livedesk, 'POST', '/operators/op-ada/tokens', {})
      const sessions = await ok(livedesk, 'GET', '/sessions', undefined, token)
      expect(sessions.items.map((s: { id: string }) => s.id)).toContain('se-now')
      const messages = await ok(livedesk, 'GET', '/sessions/se-now/messages', undefined, token)
      expect(messages.items.map((m: { text: string }) => m.text)).toEqual(['Me again: it arrived broken', 'Sorry! A new one ships today'])
      // Receipts kept: what was read keeps its time, the rest is unread, and the session counts no unread message.
      const readAt = Object.fromEntries(history.items.map((m: { id: string; readAt: string | null }) => [m.id, m.readAt]))
      expect(readAt).toEqual({ m1: null, m2: '2026-01-03T09:05:00.000Z', m3: '2026-01-04T09:00:30.000Z', m4: null })
      expect(sessions.items.find((s: { id: string }) => s.id === 'se-now')).toMatchObject({ unreadClientMessageCount: 0 })

      // The migrated schema takes new writes.
      const sent = await api(livedesk, 'POST', '/sessions/se-now/messages', { text: 'Tracking number: 123' }, token)
      expect(sent.status, JSON.stringify(sent.body)).toBeLessThan(300)
      const after = await ok(livedesk, 'GET', '/sessions/se-now/messages', undefined, token)
      expect(after.items.at(-1)).toMatchObject({ text: 'Tracking number: 123' })
      await livedesk.close()

      // Every migration recorded once, in order, with its name.
      const db = await backend.open(target)
      try {
        const rows = await db.query<{ id: number; name: string }>('SELECT id, name FROM schema_migrations ORDER BY id')
        expect(rows.map((r) => [Number(r.id), r.name])).toEqual(MIGRATIONS.map((m) => [m.id, m.name]))
      } finally {
        await db.close()
      }
    }, 90_000)

    it('refuses a database a newer livedesk migrated (forward only: no silent downgrade)', async () => {
      const target = await backend.make()
      targets.push(target)
      const db = await backend.open(target)
      await migrate(db)
      await db.query(`INSERT INTO schema_migrations (id, name) VALUES (999, 'from_the_future')`)
      await db.close()
      await expect(openDb({ dataDir: target.dataDir, databaseUrl: target.databaseUrl })).rejects.toThrow(
        'the database has migrations this livedesk does not know (999): it was upgraded by a newer version',
      )
    }, 60_000)
  })
}

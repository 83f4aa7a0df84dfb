/**
 * Client messages written together (issue 10): the batched statement (src/store/chat.ts) writes messages and their
 * events in input order, skips what it must leave to a lone write (a session held by another transaction, a client
 * with no open session, an Idempotency-Key already used), and the Batcher (src/store/batch.ts) lets at most its
 * number of statements run at once, sending what arrived meanwhile as one.
 */
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Batcher } from '../../src/store/batch.js'
import { insertClientMessagesInOpenSessions } from '../../src/store/chat.js'
import { openDb, type Db } from '../../src/store/index.js'
import { postgresAvailable, tempPglite, tempPostgres, type TestDatabase } from './databases.js'
import { planNodes, statementOf } from './plans.js'

const pgUp = await postgresAvailable()

const backends: Array<{ name: string; make: () => Promise<TestDatabase>; skip: boolean }> = [
  { name: 'PGlite', make: tempPglite, skip: false },
  { name: 'PostgreSQL', make: tempPostgres, skip: !pgUp },
]

/** A client with an open, assigned session (or none when `open` is false). */
async function chat(db: Db, open = true): Promise<{ clientId: string; chatId: string; sessionId: string }> {
  const c = { clientId: randomUUID(), chatId: randomUUID(), sessionId: randomUUID() }
  await db.query(`INSERT INTO clients (id, chat_id, name, channel, token_hash) VALUES ($1, $2, $3, 'widget', $4)`, [c.clientId, c.chatId, `client ${c.clientId.slice(0, 4)}`, randomUUID()])
  if (open) await db.query(`INSERT INTO sessions (id, chat_id, client_id, status) VALUES ($1, $2, $3, 'queued')`, [c.sessionId, c.chatId, c.clientId])
  return c
}

const item = (clientId: string, text: string, idempotencyKey?: string) => ({ id: randomUUID(), clientId, text, eventId: randomUUID(), idempotencyKey })

for (const backend of backends) {
  describe.skipIf(backend.skip)(`batched client messages on ${backend.name}`, () => {
    let target: TestDatabase
    let db: Db
    beforeAll(async () => {
      target = await backend.make()
      db = await openDb(target)
    })
    afterAll(async () => {
      await db?.close()
      await target?.drop()
    })

    it('writes every message and its event in input order, two of one chat included; skips the client with no open session and a used key', async () => {
      const [a, b, none] = [await chat(db), await chat(db), await chat(db, false)]
      const items = [item(a.clientId, 'a1', 'k1'), item(b.clientId, 'b1'), item(none.clientId, 'lost'), item(a.clientId, 'a2'), item(a.clientId, 'a1 again', 'k1')]
      const written = await insertClientMessagesInOpenSessions(db, items, { nodeId: 'test', oweWebhooks: false })
      expect(written.map((w) => w?.message.text)).toEqual(['a1', 'b1', undefined, 'a2', undefined])
      expect(written[0]!.session).toMatchObject({ id: a.sessionId, status: 'queued', client_id: a.clientId })
      expect(written[0]!.message).toMatchObject({ id: items[0]!.id, chat_id: a.chatId, author_type: 'client', author_id: a.clientId, idempotency_key: 'k1' })
      // Messages and events in input order: seq and outbox ids ascend as the input does.
      const ok = written.filter((w) => w !== undefined)
      expect(ok.map((w) => Number(w.message.seq))).toEqual([...ok.map((w) => Number(w.message.seq))].sort((x, y) => x - y))
      expect(ok.map((w) => w.event.id)).toEqual([...ok.map((w) => w.event.id)].sort((x, y) => x - y))
      const events = await db.query<{ event_id: string; data: { id: string } }>(`SELECT event_id, data FROM outbox WHERE chat_id = ANY($1) ORDER BY id`, [[a.chatId, b.chatId]])
      expect(events.map((e) => e.data.id)).toEqual([items[0]!.id, items[1]!.id, items[3]!.id])
      expect(events.map((e) => e.event_id)).toEqual([items[0]!.eventId, items[1]!.eventId, items[3]!.eventId])
      const stored = await db.query<{ text: string }>(`SELECT text FROM messages WHERE chat_id = $1 ORDER BY seq`, [a.chatId])
      expect(stored.map((m) => m.text)).toEqual(['a1', 'a2'])
    })

    it.skipIf(backend.name !== 'PostgreSQL')('skips a session another transaction holds, without waiting for it', async () => {
      const [locked, free] = [await chat(db), await chat(db)]
      const locker = new pg.Client({ connectionString: target.databaseUrl })
      await locker.connect()
      try {
        await locker.query('BEGIN')
        await locker.query('SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE', [locked.sessionId])
        const written = await insertClientMessagesInOpenSessions(db, [item(locked.clientId, 'waits'), item(free.clientId, 'goes')], { nodeId: 'test' })
        expect(written.map((w) => w?.message.text)).toEqual([undefined, 'goes'])
        expect(await db.query(`SELECT 1 FROM messages WHERE chat_id = $1`, [locked.chatId])).toEqual([])
      } finally {
        await locker.query('ROLLBACK').catch(() => {})
        await locker.end()
      }
    })

    it('finds each message\'s client and session by key, not by reading all of them, at 2,000 open sessions and at 20,000', async () => {
      // 2,000: where joins over the input (planned for 100 rows) read every open session for each batch
      for (const [from, to] of [[1, 2000], [2001, 20000]]) {
        await db.query(`INSERT INTO clients (id, chat_id, name, channel, token_hash)
                        SELECT 'scale-c' || g, 'scale-chat' || g, 'client ' || g, 'widget', 'scale-t' || g FROM generate_series(${from}, ${to}) g`)
        await db.query(`INSERT INTO sessions (id, chat_id, client_id, status) SELECT 'scale-s' || g, 'scale-chat' || g, 'scale-c' || g, 'queued' FROM generate_series(${from}, ${to}) g`)
        await db.query('ANALYZE clients')
        await db.query('ANALYZE sessions')
        const statement = await statementOf(db, (recorder) =>
          insertClientMessagesInOpenSessions(recorder, [item('scale-c7', 'x'), item(`scale-c${to - 1}`, 'y')], { nodeId: 'test', oweWebhooks: false }),
        )
        const scans = (await planNodes(db, statement)).filter((n) => n['Relation Name']).map((n) => `${n['Node Type']} on ${n['Relation Name']}`)
        expect(scans.filter((s) => /on (clients|sessions)$/.test(s)).length, `at ${to}`).toBeGreaterThanOrEqual(2)
        expect(scans.filter((s) => /^Seq Scan on (clients|sessions)$/.test(s)), `at ${to}`).toEqual([])
      }
    })
  })
}

describe('Batcher', () => {
  it('runs a lone item at once, at most maxInFlight statements at a time, and what arrived meanwhile as one batch', async () => {
    const calls: number[][] = []
    const gates: Array<() => void> = []
    let running = 0
    let most = 0
    const batcher = new Batcher<number, string>(async (items) => {
      calls.push(items)
      most = Math.max(most, ++running)
      await new Promise<void>((resolve) => gates.push(resolve))
      running--
      return items.map((n) => `done ${n}`)
    }, 2, 3)
    const results = [1, 2, 3, 4, 5, 6].map((n) => batcher.submit(n))
    expect(calls).toEqual([[1], [2]]) // two at once, each alone; the rest wait
    gates.shift()!()
    await results[0]
    await new Promise((r) => setImmediate(r))
    expect(calls).toEqual([[1], [2], [3, 4, 5]]) // at most 3 per batch
    while (calls.flat().length < 6 || gates.length > 0) {
      gates.shift()?.()
      await new Promise((r) => setImmediate(r))
    }
    expect(await Promise.all(results)).toEqual([1, 2, 3, 4, 5, 6].map((n) => `done ${n}`))
    expect(calls).toEqual([[1], [2], [3, 4, 5], [6]])
    expect(most).toBe(2)
  })

  it('with gatherTurn, what is submitted in one event-loop turn goes as one batch, even to a write that finishes at once', async () => {
    const calls: number[][] = []
    const batcher = new Batcher<number, number>(async (items) => (calls.push(items), items), 1, 64, true)
    const first = await Promise.all([1, 2, 3].map((n) => batcher.submit(n)))
    const second = await batcher.submit(4)
    expect([...first, second]).toEqual([1, 2, 3, 4])
    expect(calls).toEqual([[1, 2, 3], [4]])
    // Without it, the first item of a turn goes alone, before the others are submitted.
    const eager: number[][] = []
    const plain = new Batcher<number, number>(async (items) => (eager.push(items), items), 1, 64)
    await Promise.all([1, 2, 3].map((n) => plain.submit(n)))
    expect(eager).toEqual([[1], [2, 3]])
  })

  it("rejects a failed batch's items and goes on with the next", async () => {
    const batcher = new Batcher<number, number>(async (items) => {
      if (items.includes(0)) throw new Error('bad batch')
      return items
    }, 1, 10)
    const [bad, good] = [batcher.submit(0), batcher.submit(7)]
    await expect(bad).rejects.toThrow('bad batch')
    await expect(good).resolves.toBe(7)
  })
})

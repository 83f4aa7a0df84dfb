/**
 * Concurrency by chat, not by cluster (issue 10): while another connection holds chats' session rows
 * locked (`SELECT … FOR UPDATE` in an open transaction), messages in other chats commit and reach the
 * operator's console; each locked chat's message waits for the lock and completes once it is released.
 * More chats are locked than the client-message statements a node runs at once (src/domain/sessions.ts), so a
 * locked write that took one of those places would hold every other chat back.
 * PostgreSQL only: PGlite has one connection, so nothing else can hold a row lock.
 */
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { until } from '../helpers/sdk.js'
import { api, connect, newClient, newOperator, ok, type Console } from '../http/e2e.js'
import { postgresAvailable, tempPostgres } from '../store/databases.js'

const pgUp = await postgresAvailable()

const OTHER_CHATS = 4
/** More than MESSAGE_STATEMENTS_IN_FLIGHT (2). */
const LOCKED_CHATS = 3
/** How long the other chats' messages get to commit and reach the console while one chat is locked. */
const OTHERS_WITHIN_MS = 5_000

/** Settles with `what` after `ms`, so a race can tell "not yet" from "done". */
const after = <T>(ms: number, what: T) =>
  new Promise<T>((resolve) => {
    const t = setTimeout(() => resolve(what), ms)
    t.unref()
  })

/** Fails with `what` unless `p` settles within `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const timedOut = Symbol('timeout')
  const r = await Promise.race([p, after(ms, timedOut)])
  if (r === timedOut) throw new Error(`${what}: not done within ${ms} ms`)
  return r as T
}

describe.skipIf(!pgUp)('per-chat locking (PostgreSQL)', () => {
  it('chats whose session rows are locked wait; messages in other chats commit and reach the console meanwhile', async () => {
    const db = await tempPostgres()
    const l = await startTestLivedesk({ databaseUrl: db.databaseUrl })
    const locker = new pg.Client({ connectionString: db.databaseUrl })
    const monitor = new pg.Client({ connectionString: db.databaseUrl })
    let console_: Console | undefined
    let lockHeld = false
    /** Requests that may still be in flight when the test gives up: the server closes only after them. */
    const inFlight: Promise<unknown>[] = []
    try {
      await Promise.all([locker.connect(), monitor.connect()])
      /** Backends of this database waiting for a lock, with what blocks them: the evidence in a failure message. */
      const lockWaits = async () =>
        (
          await monitor.query(
            `SELECT pid, wait_event_type, wait_event, pg_blocking_pids(pid) AS blockers, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS query
               FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        ).rows as Array<{ pid: number; wait_event_type: string; wait_event: string; blockers: number[]; query: string }>

      // One operator with room for every chat, its console connected and known to be online.
      const op = await newOperator(l, 'Locks', 10)
      console_ = await connect(l, 'notifications', op.token)
      const cons = console_
      await until(async () => (await ok(l, 'GET', `/operators/${op.id}`)).online === true, 5_000, 'the operator online')

      // Every chat has a session assigned to the operator, opened by a first message.
      const chats: Array<{ client: { id: string }; sessionId: string }> = []
      for (let i = 0; i < LOCKED_CHATS + OTHER_CHATS; i++) {
        const client = await newClient(l, `client${i}`)
        const first = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: `hello from ${i}` })
        // Routing is not what this test is about: should the session have been queued, the operator takes it.
        if ((await ok(l, 'GET', `/sessions/${first.sessionId}`, undefined, op.token)).status === 'queued') {
          expect([200, 409]).toContain((await api(l, 'POST', `/sessions/${first.sessionId}/accept`, undefined, op.token)).status)
        }
        const added = await cons.next('chatSessionAdded', (e) => e.data.id === first.sessionId)
        expect(added.data).toMatchObject({ operatorId: op.id, status: 'assigned', clientId: client.id })
        await cons.next('chatMessageCreated', (e) => e.data.id === first.id)
        chats.push({ client, sessionId: first.sessionId })
      }
      const locked = chats.slice(0, LOCKED_CHATS)
      const others = chats.slice(LOCKED_CHATS)

      // A separate connection holds the locked chats' session rows.
      await locker.query('BEGIN')
      lockHeld = true
      const held = await locker.query('SELECT * FROM sessions WHERE id = ANY($1) FOR UPDATE', [locked.map((c) => c.sessionId)])
      expect(held.rowCount).toBe(LOCKED_CHATS)
      const lockerPid = (await locker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number

      // Each locked chat's message goes in and must wait for its row: all are seen blocked by the locker.
      let lockedSettled = 0
      const lockedWrites = locked.map((c, i) => {
        const write = api(l, 'POST', `/clients/${c.client.id}/messages`, { text: `in locked chat ${i}` })
        inFlight.push(write)
        write.then(
          () => lockedSettled++,
          () => lockedSettled++,
        )
        return write
      })
      await until(
        async () => (await lockWaits()).filter((w) => w.blockers.includes(lockerPid)).length === LOCKED_CHATS,
        5_000,
        "the locked chats' writes to wait for their session row locks",
      )

      // Meanwhile every other chat writes, commits and reaches the console.
      const othersDone = Promise.all(
        others.map(async (c, i) => {
          const write = api(l, 'POST', `/clients/${c.client.id}/messages`, { text: `meanwhile in chat ${i + 1}` })
          inFlight.push(write)
          const res = await write
          expect(res.status).toBe(201)
          expect(res.body.sessionId).toBe(c.sessionId)
          await cons.next('chatMessageCreated', (e) => e.data.id === res.body.id, OTHERS_WITHIN_MS)
          return res.body.id as string
        }),
      )
      othersDone.catch(() => {}) // awaited below; a late failure after the test gave up must not be unhandled
      const winner = await Promise.race([
        ...lockedWrites.map((w) => w.then(() => 'a locked chat' as const)),
        othersDone.then(() => 'the other chats' as const),
        after(OTHERS_WITHIN_MS, 'nobody' as const),
      ])
      if (winner === 'nobody') {
        const waits = await lockWaits()
        const described = waits.map((w) => `pid ${w.pid} ${w.wait_event_type}/${w.wait_event} blocked by ${w.blockers.join(',') || '-'}${w.blockers.includes(lockerPid) ? ' (the locker)' : ''}: ${w.query}`)
        throw new Error(
          `messages in ${OTHER_CHATS} other chats did not commit and reach the console within ${OTHERS_WITHIN_MS} ms while ${LOCKED_CHATS} chats' session rows ` +
            `were held FOR UPDATE by pid ${lockerPid}; backends waiting for locks:\n  ${described.join('\n  ') || '(none)'}`,
        )
      }
      expect(winner, "a locked chat's write finished while its session row was locked").toBe('the other chats')
      const otherIds = await othersDone
      expect(lockedSettled).toBe(0)
      expect(cons.events.some((e) => e.event === 'chatMessageCreated' && String(e.data.text).startsWith('in locked chat'))).toBe(false)
      // Still waiting for the locker, not merely slow.
      expect((await lockWaits()).filter((w) => w.blockers.includes(lockerPid)).length).toBe(LOCKED_CHATS)

      // Released: the locked chats' messages complete and arrive, after the others.
      await locker.query('COMMIT')
      lockHeld = false
      for (const [i, c] of locked.entries()) {
        const done = await within(lockedWrites[i]!, 5_000, `locked chat ${i}'s write after COMMIT`)
        expect(done.status).toBe(201)
        expect(done.body.sessionId).toBe(c.sessionId)
        const arrived = await cons.next('chatMessageCreated', (e) => e.data.id === done.body.id)
        expect(arrived.data).toMatchObject({ text: `in locked chat ${i}`, author: { type: 'client', id: c.client.id } })
        const order = cons.events.filter((e) => e.event === 'chatMessageCreated').map((e) => e.data.id)
        for (const id of otherIds) expect(order.indexOf(id)).toBeLessThan(order.indexOf(done.body.id))
        const stored = await ok(l, 'GET', `/sessions/${c.sessionId}/messages`, undefined, op.token)
        expect(stored.items.map((m: any) => m.text)).toEqual([`hello from ${i}`, `in locked chat ${i}`])
      }
    } finally {
      // Never leave the lock behind: the pending requests must finish before the server closes.
      if (lockHeld) await locker.query('ROLLBACK').catch(() => {})
      await Promise.race([Promise.allSettled(inFlight), after(10_000, undefined)])
      console_?.close()
      await Promise.all([locker.end().catch(() => {}), monitor.end().catch(() => {})])
      await l.close().catch(() => {})
      await db.drop()
    }
  }, 30_000)

  it('a transaction that updates a session row twice does not deadlock with the client coming online (client and operator rows FOR NO KEY UPDATE)', async () => {
    // A transfer moves a session through two updates; PostgreSQL checks the foreign keys of a row version of its own
    // again (FOR KEY SHARE on the client row). A widget connecting meanwhile locks the client row, then waits for the
    // session: with FOR UPDATE on the client row the two waited for each other (a 500 in CI); here the locker plays
    // the transfer's part, the widget's connect the other.
    await presenceAgainstLocker('Coming online', async ({ locker, sessionId, comeOnline }) => {
      await locker.query('UPDATE sessions SET status = status WHERE id = $1', [sessionId])
      await comeOnline()
      // The second update checks sessions.client_id again: FOR KEY SHARE on the client row, which FOR NO KEY UPDATE allows.
      await within(locker.query('UPDATE sessions SET status = status WHERE id = $1', [sessionId]), 3_000, 'the second update')
    })
  }, 30_000)

  it('a change PostgreSQL aborts to break a deadlock runs again: the client still comes online', async () => {
    // The locker holds the session, the widget's presence change takes the client row and waits for the session,
    // then the locker asks for the client row: a deadlock. The presence change waited first, so after
    // deadlock_timeout it is the one aborted (40P01); it runs again and completes once the locker commits.
    await presenceAgainstLocker('Deadlocked', async ({ locker, clientId, comeOnline }) => {
      await comeOnline()
      await within(locker.query('SELECT 1 FROM clients WHERE id = $1 FOR UPDATE', [clientId]), 5_000, "the locker's lock on the client")
    })
  }, 30_000)
})

/**
 * A client's widget comes online (its presence change locks the client row, then the session row) while a raw
 * connection, `locker`, holds the session row in an open transaction. `during` runs inside that transaction;
 * `comeOnline` connects the widget and returns once its presence change waits for the session. After `during`,
 * the locker commits, and the client must be online.
 */
async function presenceAgainstLocker(
  name: string,
  during: (t: { locker: pg.Client; clientId: string; sessionId: string; comeOnline: () => Promise<void> }) => Promise<void>,
): Promise<void> {
  const db = await tempPostgres()
  const l = await startTestLivedesk({ databaseUrl: db.databaseUrl })
  const locker = new pg.Client({ connectionString: db.databaseUrl })
  const monitor = new pg.Client({ connectionString: db.databaseUrl })
  let widget: Console | undefined
  let open = false
  try {
    await Promise.all([locker.connect(), monitor.connect()])
    const client = await newClient(l, name)
    const { sessionId } = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hello' })
    await locker.query('BEGIN')
    open = true
    await locker.query('SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE', [sessionId])
    const comeOnline = async () => {
      widget = await connect(l, 'widget', client.token)
      await until(async () => {
        const { rows } = await monitor.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'SELECT * FROM sessions WHERE chat_id%'`,
        )
        return rows.length === 1
      }, 5_000, 'the presence change to wait for the session row')
    }
    await during({ locker, clientId: client.id, sessionId, comeOnline })
    await locker.query('COMMIT')
    open = false
    await until(async () => (await ok(l, 'GET', `/clients/${client.id}`)).online === true, 5_000, 'the client to be online')
  } finally {
    if (open) await locker.query('ROLLBACK').catch(() => {})
    widget?.close()
    await Promise.all([locker.end().catch(() => {}), monitor.end().catch(() => {})])
    await l.close().catch(() => {})
    await db.drop()
  }
}

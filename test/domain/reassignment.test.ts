/**
 * Issue 15 item 2: sessions go back to routing when their holder is offline past REASSIGN_OFFLINE_AFTER or misses
 * the first-answer or next-answer timer, keep their place in the queue, and do not go back to the same operator
 * while another can take it. Real domain and store (PGlite and PostgreSQL), intervals of a few hundred ms.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { operatorChannel, QUEUE_CHANNEL } from '../../src/domain/channels.js'
import { postgresAvailable } from '../store/databases.js'
import type { Harness } from './harness.js'
import { newClient, newOperator, published, sessionOfChat, setStatus, startMovesHarness, until, write, type Backend, type MovesHarness } from './moves-harness.js'

const pgUp = await postgresAvailable()
const BACKENDS: Backend[] = pgUp ? ['PGlite', 'PostgreSQL'] : ['PGlite']

const reset = async (h: Harness) => {
  for (const t of ['outbox', 'session_transfers', 'operator_connections', 'messages', 'sessions', 'operator_tokens', 'clients', 'operator_groups', 'operators']) {
    await h.db.query(`DELETE FROM ${t}`)
  }
  h.live.clear()
}

describe.each(BACKENDS)('offline past the grace period (%s)', (backend) => {
  let h: Harness
  beforeAll(async () => {
    h = await startMovesHarness(backend, { timerSweepMs: 50, reassignOfflineAfterMs: 400 })
  }, 60_000)
  afterAll(() => h?.close(), 60_000)

  it('goes back to routing with previousOperator, keeping its place in the queue', async () => {
    await reset(h)
    const a = await newOperator(h, 'Ann', 1)
    const c1 = await newClient(h, 'first')
    const s1 = await write(h, c1.id)
    expect(s1.operator_id).toBe(a.id)
    const c2 = await newClient(h, 'second')
    const s2 = await write(h, c2.id) // Ann is full: queued behind s1's place
    expect(s2.status).toBe('queued')

    // Ann's console goes away and Ann goes offline: within the grace nothing moves.
    await h.domain.connectionClosed({ kind: 'operator', operatorId: a.id }, `conn-${a.id}`)
    const offlineAt = Date.now()
    await setStatus(h, a.id, 'offline')
    const deleted = await published(h, operatorChannel(a.id), 'chatSessionDeleted', (e) => e.data.id === s1.id)
    expect(Date.now() - offlineAt).toBeGreaterThanOrEqual(350)
    expect(deleted.data).toMatchObject({ id: s1.id, chatId: c1.chatId, reason: 'reassigned' })
    // Nobody can take it: the queue sees it again, with its previous operator.
    const again = await published(h, QUEUE_CHANNEL, 'chatSessionStarted', (e) => e.data.id === s1.id && e.data.status === 'queued')
    expect(again.data).toMatchObject({ status: 'queued', operatorId: null, previousOperator: { id: a.id, name: 'Ann' } })
    const requeued = await sessionOfChat(h, c1.chatId)
    expect(requeued).toMatchObject({ status: 'queued', operator_id: null, previous_operator_id: a.id })
    expect(Number(requeued.queue_seq)).toBeLessThan(Number((await sessionOfChat(h, c2.chatId)).queue_seq))

    // The next operator takes s1 first (its original queued time), not s2.
    const b = await newOperator(h, 'Bob', 1)
    const added = await published(h, operatorChannel(b.id), 'chatSessionAdded')
    expect(added.data).toMatchObject({ id: s1.id, operatorId: b.id, previousOperator: { id: a.id, name: 'Ann' } })
    expect((await sessionOfChat(h, c2.chatId)).status).toBe('queued')
  })

  it('goes straight to another operator who can take it, and an away holder keeps its sessions', async () => {
    await reset(h)
    const a = await newOperator(h, 'Ann', 2)
    const c1 = await newClient(h)
    const s1 = await write(h, c1.id)
    expect(s1.operator_id).toBe(a.id)
    await setStatus(h, a.id, 'away')
    const b = await newOperator(h, 'Bob', 2)
    await setStatus(h, a.id, 'offline')
    const added = await published(h, operatorChannel(b.id), 'chatSessionAdded', (e) => e.data.id === s1.id)
    expect(added.data.previousOperator).toEqual({ id: a.id, name: 'Ann' })
    expect(h.live.events(operatorChannel(a.id), 'chatSessionDeleted').map((e) => e.data)).toEqual([{ id: s1.id, chatId: c1.chatId, reason: 'reassigned' }])
    // Moved once: not to the queue on the way.
    expect(h.live.events(QUEUE_CHANNEL, 'chatSessionStarted').filter((e) => e.data.id === s1.id && e.data.status === 'queued')).toEqual([])
  })
})

describe.each(BACKENDS)('answer timers (%s)', (backend) => {
  let h: Harness
  beforeAll(async () => {
    h = await startMovesHarness(backend, { timerSweepMs: 50, firstAnswerTimeoutSec: 0.5, nextAnswerTimeoutSec: 0.5, reassignOfflineAfterMs: 0 })
  }, 60_000)
  afterAll(() => h?.close(), 60_000)

  it('first-answer timeout: to another operator, not the same one while another can take it', async () => {
    await reset(h)
    const a = await newOperator(h, 'Ann')
    const c = await newClient(h)
    const s = await write(h, c.id)
    expect(s.operator_id).toBe(a.id)
    const started = Date.now()
    // Ann is the only operator: past the timer the session stays with her (nobody else can take it).
    await until('the first answer to be overdue', async () => (await h.db.query(`SELECT 1 FROM sessions WHERE id = $1 AND operator_assigned_at < now() - interval '0.8 second'`, [s.id])).length > 0)
    expect(h.live.events(operatorChannel(a.id), 'chatSessionDeleted')).toEqual([])
    expect((await sessionOfChat(h, c.chatId)).operator_id).toBe(a.id)

    // Bob can take it: it goes to Bob, never back to Ann on the way.
    const b = await newOperator(h, 'Bob')
    const added = await published(h, operatorChannel(b.id), 'chatSessionAdded', (e) => e.data.id === s.id)
    expect(Date.now() - started).toBeGreaterThanOrEqual(450)
    expect(added.data).toMatchObject({ operatorId: b.id, previousOperator: { id: a.id, name: 'Ann' }, timerFirstAnswer: 1 })
    const deleted = h.live.events(operatorChannel(a.id), 'chatSessionDeleted')
    expect(deleted.map((e) => e.data)).toEqual([{ id: s.id, chatId: c.chatId, reason: 'reassigned' }])
    expect(h.live.events(operatorChannel(a.id), 'chatSessionAdded').filter((e) => e.data.id === s.id)).toHaveLength(1)
  })

  it('an answer in time keeps the session; a client waiting past the next-answer timer moves it', async () => {
    await reset(h)
    const a = await newOperator(h, 'Ann')
    const b = await newOperator(h, 'Bob')
    const c = await newClient(h)
    const s = await write(h, c.id)
    const holder = s.operator_id === a.id ? a : b
    const other = holder === a ? b : a
    const answer = await h.api('POST', `/sessions/${s.id}/messages`, { text: 'hi, how can I help?' }, holder.token)
    expect(answer.status).toBe(201)
    // Past the first-answer timer with the answer given: it stays.
    await until('the first-answer timer to pass', async () => (await h.db.query(`SELECT 1 FROM sessions WHERE id = $1 AND operator_assigned_at < now() - interval '0.8 second'`, [s.id])).length > 0)
    expect(h.live.events(operatorChannel(holder.id), 'chatSessionDeleted')).toEqual([])

    const asked = Date.now()
    await write(h, c.id, 'are you there?')
    const added = await published(h, operatorChannel(other.id), 'chatSessionAdded', (e) => e.data.id === s.id)
    expect(Date.now() - asked).toBeGreaterThanOrEqual(450)
    expect(added.data.previousOperator).toEqual({ id: holder.id, name: holder.name })
    expect(added.data.firstClientMessageAfterLastOperatorMessage.text).toBe('are you there?')
    const deleted = await published(h, operatorChannel(holder.id), 'chatSessionDeleted', (e) => e.data.id === s.id)
    expect(deleted.data.reason).toBe('reassigned')
  })
})

describe.skipIf(!pgUp)('two nodes on one PostgreSQL', () => {
  let one: MovesHarness
  let two: Harness
  beforeAll(async () => {
    const config = { timerSweepMs: 30, reassignOfflineAfterMs: 300 }
    one = await startMovesHarness('PostgreSQL', config, 'node-one')
    two = await startMovesHarness('PostgreSQL', config, 'node-two', one.databaseUrl)
  }, 60_000)
  afterAll(async () => {
    await two?.close()
    await one?.close()
  }, 60_000)

  it('both sweep; each session of an offline holder moves once', async () => {
    const a = await newOperator(one, 'Ann', 6)
    const sessions = []
    for (let i = 0; i < 6; i++) sessions.push(await write(one, (await newClient(one, `c${i}`)).id))
    expect(sessions.every((s) => s.operator_id === a.id)).toBe(true)
    const b = await newOperator(two, 'Bob', 6) // connected on the other node
    await setStatus(two, a.id, 'offline')
    await until('every session with Bob', async () => (await one.db.query(`SELECT 1 FROM sessions WHERE operator_id = $1 AND status = 'assigned'`, [b.id])).length === 6)
    const deleted = [...one.live.events(operatorChannel(a.id), 'chatSessionDeleted'), ...two.live.events(operatorChannel(a.id), 'chatSessionDeleted')]
    expect(deleted.map((e) => e.data.id).sort()).toEqual(sessions.map((s) => s.id).sort())
    const added = [...one.live.events(operatorChannel(b.id), 'chatSessionAdded'), ...two.live.events(operatorChannel(b.id), 'chatSessionAdded')]
    expect(added.map((e) => e.data.id).sort()).toEqual(sessions.map((s) => s.id).sort())
    expect(added.every((e) => e.data.previousOperator?.id === a.id)).toBe(true)
  })
})

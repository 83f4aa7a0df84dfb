/**
 * Issue 15's race test: clients opening sessions, transfers (to operators and to the queue), accepts, client closes,
 * operators going offline and back (reassignment past a short grace) and a short first-answer timer, all at once, on
 * PGlite and on PostgreSQL (real concurrent transactions). Afterwards: no session was ever held by two operators and
 * no operator ever went over maxChats (replaying the outbox in commit order), the store agrees with itself, and what
 * each operator's channel received adds up to what it holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { operatorChannel } from '../../src/domain/channels.js'
import { postgresAvailable } from '../store/databases.js'
import { newClient, newOperator, setStatus, startMovesHarness, type Backend, type MovesHarness } from './moves-harness.js'

const pgUp = await postgresAvailable()
const BACKENDS: Backend[] = pgUp ? ['PGlite', 'PostgreSQL'] : ['PGlite']

const OPERATORS = 6
const MAX_CHATS = 2
const CLIENTS = 24
const TRANSFERS = 40
const ACCEPTS = 20
const FLAPS = 8
const CLOSES = 6
/** Each loop's bound, counting rounds that found nothing to do. */
const ATTEMPTS = 400

const pick = <T>(xs: T[]): T | undefined => xs[Math.floor(Math.random() * xs.length)]

describe.each(BACKENDS)('routing races (%s)', (backend) => {
  let h: MovesHarness
  beforeAll(async () => {
    h = await startMovesHarness(backend, { timerSweepMs: 30, firstAnswerTimeoutSec: 0.3, reassignOfflineAfterMs: 150, publishWaitMs: 5_000 })
  }, 60_000)
  afterAll(() => h?.close(), 60_000)

  it('transfers, reassignment and routing at once never assign a session twice nor exceed maxChats', async () => {
    const ops = await Promise.all(Array.from({ length: OPERATORS }, (_, i) => newOperator(h, `op${i}`, MAX_CHATS)))
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => newClient(h, `client${i}`)))
    const open = async (status: string) =>
      (await h.db.query<{ id: string }>(`SELECT id FROM sessions WHERE status = $1`, [status])).map((r) => r.id)
    const statuses: Record<string, number> = {}
    const count = (what: string, status: number) => (statuses[`${what} ${status}`] = (statuses[`${what} ${status}`] ?? 0) + 1)

    const writeFirst = async (c: { id: string }, i: number) => {
      const res = await h.api('POST', `/clients/${c.id}/messages`, { text: `help ${i}` })
      count('write', res.status)
    }
    // Half the sessions exist before the rest race with everything else.
    await Promise.all(clients.slice(0, CLIENTS / 2).map(writeFirst))
    const writers = clients.slice(CLIENTS / 2).map((c, i) => writeFirst(c, i + CLIENTS / 2))
    const transfers = (async () => {
      // Bounded: at most ATTEMPTS rounds, whether or not there was a session to move.
      for (let i = 0, done = 0; done < TRANSFERS && i < ATTEMPTS; i++) {
        const sessionId = pick([...(await open('assigned')), ...(await open('queued'))])
        if (!sessionId) continue
        done++
        const body = i % 4 === 3 ? { queue: true } : { operatorId: pick(ops)!.id, note: `t${i}` }
        const res = await h.api('POST', `/sessions/${sessionId}/transfer`, body)
        count('transfer', res.status)
      }
    })()
    const accepts = (async () => {
      for (let i = 0, done = 0; done < ACCEPTS && i < ATTEMPTS; i++) {
        const sessionId = pick(await open('queued'))
        if (!sessionId) continue
        done++
        const res = await h.api('POST', `/sessions/${sessionId}/accept`, undefined, pick(ops)!.token)
        count('accept', res.status)
      }
    })()
    const flaps = (async () => {
      for (let i = 0; i < FLAPS; i++) {
        const o = ops[i % OPERATORS]
        await setStatus(h, o.id, 'offline')
        // Past the grace on some rounds (its sessions are reassigned), back within it on others.
        if (i % 2 === 0) {
          const since = Date.now()
          for (let j = 0; j < 100 && Date.now() - since < 250; j++) await open('assigned')
        }
        await setStatus(h, o.id, 'online')
      }
    })()
    const closes = (async () => {
      for (let i = 0; i < CLOSES; i++) {
        const res = await h.api('POST', `/clients/${clients[i * 3].id}/close`, {})
        count('close', res.status)
      }
    })()
    await Promise.all([...writers, transfers, accepts, flaps, closes])

    // Only outcomes the API promises: done, or refused as a conflict (409: state changed, target full or away).
    for (const key of Object.keys(statuses)) expect(key, JSON.stringify(statuses)).toMatch(/ (200|201|409)$/)
    expect(statuses['transfer 200'] ?? 0, JSON.stringify(statuses)).toBeGreaterThan(0)

    // The store agrees with itself: holders under maxChats, assigned ⇔ holder, one open session per chat.
    expect(await h.db.query(`SELECT o.id FROM operators o WHERE (SELECT count(*) FROM sessions s WHERE s.operator_id = o.id AND s.status = 'assigned') > o.max_chats`)).toEqual([])
    expect(await h.db.query(`SELECT id FROM sessions WHERE (status = 'assigned' AND operator_id IS NULL) OR (status = 'queued' AND operator_id IS NOT NULL)`)).toEqual([])
    expect(await h.db.query(`SELECT chat_id FROM sessions WHERE status <> 'closed' GROUP BY chat_id HAVING count(*) > 1`)).toEqual([])

    // Stop the sweepers and wait for every event to be out, then replay.
    await h.stopDomain()
    const maxChats = new Map(ops.map((o) => [o.id, MAX_CHATS]))
    const holder = new Map<string, string>()
    const load = new Map<string, number>()
    let moves = 0
    // Changes that add or take a holding hold the queue lock, so outbox ids are their commit order.
    for (const e of await h.db.query<any>(`SELECT event, data, subject FROM outbox WHERE event IN ('chatSessionAdded', 'chatSessionDeleted', 'sessionClosedByClient') ORDER BY id`)) {
      const sessionId = e.data.id as string
      if (e.event === 'chatSessionAdded') {
        const to = e.subject.operatorId as string
        expect(holder.get(sessionId), `session ${sessionId} added to ${to} while held`).toBeUndefined()
        holder.set(sessionId, to)
        load.set(to, (load.get(to) ?? 0) + 1)
        expect(load.get(to)!, `operator ${to} over maxChats`).toBeLessThanOrEqual(maxChats.get(to)!)
      } else if (e.subject.session?.status === 'assigned') {
        const from = e.subject.session.operator_id as string
        expect(holder.get(sessionId), `session ${sessionId} left ${from}`).toBe(from)
        holder.delete(sessionId)
        load.set(from, load.get(from)! - 1)
        if (e.event === 'chatSessionDeleted') moves++
      }
    }
    expect(moves).toBeGreaterThan(0)
    const assigned = await h.db.query<{ id: string; operator_id: string }>(`SELECT id, operator_id FROM sessions WHERE status = 'assigned' ORDER BY id`)
    expect([...holder.entries()].map(([id, operator_id]) => ({ id, operator_id })).sort((a, b) => a.id.localeCompare(b.id))).toEqual(assigned)

    // Each operator's channel received exactly what adds up to what it holds.
    for (const o of ops) {
      const held = new Set<string>()
      for (const e of h.live.events(operatorChannel(o.id))) {
        if (e.event === 'chatSessionAdded') held.add(e.data.id)
        if (e.event === 'chatSessionDeleted' || e.event === 'sessionClosedByClient') held.delete(e.data.id)
      }
      expect([...held].sort(), o.name).toEqual(assigned.filter((s) => s.operator_id === o.id).map((s) => s.id).sort())
    }
  }, 90_000)
})

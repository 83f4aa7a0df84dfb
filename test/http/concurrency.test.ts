/**
 * 50 clients write at once while 10 operators connect and accept from the queue: no session is assigned
 * twice, no operator goes over maxChats, no message is lost or duplicated. On PGlite, and on PostgreSQL
 * (real concurrent transactions under the advisory lock) when TEST_DATABASE_URL is reachable.
 */
import { describe, expect, it } from 'vitest'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { postgresAvailable, tempPostgres } from '../store/databases.js'
import { api, connect, newClient, newOperator, ok, settle, type Console } from './e2e.js'

const CLIENTS = 50
const OPERATORS = 10
const MAX_CHATS = 3
const MESSAGES_EACH = 2

const pgUp = await postgresAvailable()

async function run(databaseUrl?: string) {
  const l = await startTestLivedesk({ databaseUrl })
  // Operators are connected (they see the queue) but take nothing until their maxChats opens at the start.
  const ops = await Promise.all(Array.from({ length: OPERATORS }, (_, i) => newOperator(l, `op${i}`, 0)))
  const consoles: Console[] = await Promise.all(ops.map((o) => connect(l, 'notifications', o.token)))
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => newClient(l, `client${i}`)))

  const writes = clients.flatMap((c, i) =>
    Array.from({ length: MESSAGES_EACH }, (_, k) => api(l, 'POST', `/clients/${c.id}/messages`, { text: `c${i} m${k}` })),
  )
  const operatorsWork = ops.map(async (o) => {
    await ok(l, 'PATCH', `/operators/${o.id}`, { maxChats: MAX_CHATS })
    // Take from the queue until full or nothing is left; bounded.
    for (let round = 0; round < 40; round++) {
      const { items } = await ok(l, 'GET', '/sessions?status=queued&limit=200', undefined, o.token)
      if (items.length === 0) break
      const pick = items[Math.floor(Math.random() * items.length)]
      const res = await api(l, 'POST', `/sessions/${pick.id}/accept`, undefined, o.token)
      expect([200, 409]).toContain(res.status)
      if (res.status === 409 && (await ok(l, 'GET', '/me', undefined, o.token)).openSessions >= MAX_CHATS) break
    }
  })
  const results = await Promise.all(writes)
  await Promise.all(operatorsWork)

  // Every write succeeded; one session per client, every message once.
  expect(results.map((r) => r.status)).toEqual(results.map(() => 201))
  const messageIds = results.map((r) => r.body.id)
  expect(new Set(messageIds).size).toBe(CLIENTS * MESSAGES_EACH)
  for (const [i, c] of clients.entries()) {
    const mine = results.slice(i * MESSAGES_EACH, (i + 1) * MESSAGES_EACH)
    expect(new Set(mine.map((r) => r.body.sessionId)).size).toBe(1)
    const stored = await ok(l, 'GET', '/widget/messages', undefined, c.token)
    expect(stored.items.map((m: any) => m.text).sort()).toEqual(Array.from({ length: MESSAGES_EACH }, (_, k) => `c${i} m${k}`))
  }

  // Assignments: nobody over maxChats, no session twice, the rest still queued.
  const assigned = new Map<string, string>()
  for (const o of ops) {
    const { items } = await ok(l, 'GET', '/sessions?status=assigned&limit=200', undefined, o.token)
    expect(items.length).toBeLessThanOrEqual(MAX_CHATS)
    for (const s of items) {
      expect(assigned.has(s.id)).toBe(false)
      assigned.set(s.id, o.id)
    }
  }
  expect(assigned.size).toBe(Math.min(CLIENTS, OPERATORS * MAX_CHATS))
  const { items: queued } = await ok(l, 'GET', '/sessions?status=queued&limit=200', undefined, ops[0].token)
  expect(queued.length).toBe(CLIENTS - assigned.size)

  // Live: each console got chatSessionAdded exactly for its sessions, and no event twice.
  for (const [i, o] of ops.entries()) await settle(l, consoles[i], [`operator:${o.id}`, 'operators:queue'])
  const addedTo = new Map<string, string[]>()
  const seenMessages = new Set<string>()
  for (const [i, c] of consoles.entries()) {
    const eventIds = c.events.filter((e) => e.event !== 'marker').map((e) => e.id)
    expect(new Set(eventIds).size).toBe(eventIds.length)
    const created = c.events.filter((e) => e.event === 'chatMessageCreated').map((e) => e.data.id)
    expect(new Set(created).size).toBe(created.length)
    created.forEach((id) => seenMessages.add(id))
    for (const e of c.events.filter((e) => e.event === 'chatSessionAdded')) {
      expect(e.data.operatorId).toBe(ops[i].id)
      addedTo.set(e.data.id, [...(addedTo.get(e.data.id) ?? []), ops[i].id])
    }
  }
  for (const [sessionId, who] of addedTo) expect(who).toEqual([assigned.get(sessionId)])
  expect(new Set(addedTo.keys())).toEqual(new Set(assigned.keys()))
  // Every message reached some operator: the queue audience while queued, the holder once assigned.
  for (const id of messageIds) expect(seenMessages.has(id)).toBe(true)

  for (const c of consoles) c.close()
  await l.close()
}

describe('concurrency', () => {
  it(`${CLIENTS} clients write while ${OPERATORS} operators accept (PGlite)`, async () => {
    await run()
  }, 60_000)

  it.skipIf(!pgUp)(`${CLIENTS} clients write while ${OPERATORS} operators accept (PostgreSQL)`, async () => {
    const db = await tempPostgres()
    try {
      await run(db.databaseUrl)
    } finally {
      await db.drop()
    }
  }, 60_000)
})

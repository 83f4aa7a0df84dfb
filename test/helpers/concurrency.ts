/**
 * The concurrency scenario of issue 10, on one node or spread over several: 50 clients write at once while 10
 * operators connect and accept from the queue. No session is assigned twice, no operator goes over maxChats, no
 * message is lost or duplicated, and each console gets chatSessionAdded exactly for its own sessions.
 * Operator i is created through node i, its console on node i+1, its API calls through nodes i+2, i+3, …
 */
import { expect } from 'vitest'
import type { Livedesk } from '../../src/main.js'
import { api, connect, newClient, newOperator, ok, settle, type Console } from '../http/e2e.js'
import { until } from './sdk.js'

export const CLIENTS = 50
export const OPERATORS = 10
const MAX_CHATS = 3
const MESSAGES_EACH = 2

/** Waits until GET /operators/:id says the operator is online: routing may count it from then on. */
export async function online(l: Livedesk, operatorId: string) {
  await until(async () => (await ok(l, 'GET', `/operators/${operatorId}`)).online === true, 5_000, `operator ${operatorId} online`)
}

/** Runs the scenario over `nodes`; the consoles it opens are pushed to `consoles` (the caller closes them). */
export async function writeWhileAccepting(nodes: Livedesk[], consoles: Console[]): Promise<void> {
  const node = (i: number) => nodes[i % nodes.length]!
  // Operator i is created through node i, its console on node i+1, its API calls through nodes i+2, i+3, …
  const ops = await Promise.all(Array.from({ length: OPERATORS }, (_, i) => newOperator(node(i), `op${i}`, 0)))
  const consoleNode = ops.map((_, i) => node(i + 1))
  consoles.push(...(await Promise.all(ops.map((o, i) => connect(consoleNode[i]!, 'notifications', o.token)))))
  await Promise.all(ops.map((o, i) => online(node(i + 2), o.id)))
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => newClient(node(i), `client${i}`)))

  // One client's messages go through different nodes at once: its session may be opened on any of them.
  const writes = clients.flatMap((c, i) =>
    Array.from({ length: MESSAGES_EACH }, (_, k) => api(node(i + k), 'POST', `/clients/${c.id}/messages`, { text: `c${i} m${k}` })),
  )
  const operatorsWork = ops.map(async (o, i) => {
    await ok(node(i + 2), 'PATCH', `/operators/${o.id}`, { maxChats: MAX_CHATS })
    for (let round = 0; round < 40; round++) {
      const via = node(i + round)
      const { items } = await ok(via, 'GET', '/sessions?status=queued&limit=200', undefined, o.token)
      if (items.length === 0) break
      const pick = items[Math.floor(Math.random() * items.length)]
      const res = await api(node(i + round + 1), 'POST', `/sessions/${pick.id}/accept`, undefined, o.token)
      expect([200, 409]).toContain(res.status)
      if (res.status === 409 && (await ok(via, 'GET', '/me', undefined, o.token)).openSessions >= MAX_CHATS) break
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
    const stored = await ok(node(i + 1), 'GET', '/widget/messages', undefined, c.token)
    expect(stored.items.map((m: any) => m.text).sort()).toEqual(Array.from({ length: MESSAGES_EACH }, (_, k) => `c${i} m${k}`))
  }

  // Assignments: nobody over maxChats, no session twice, the rest still queued.
  const assigned = new Map<string, string>()
  for (const [i, o] of ops.entries()) {
    const { items } = await ok(node(i), 'GET', '/sessions?status=assigned&limit=200', undefined, o.token)
    expect(items.length).toBeLessThanOrEqual(MAX_CHATS)
    for (const s of items) {
      expect(assigned.has(s.id)).toBe(false)
      assigned.set(s.id, o.id)
    }
  }
  expect(assigned.size).toBe(Math.min(CLIENTS, OPERATORS * MAX_CHATS))
  const { items: queued } = await ok(node(1), 'GET', '/sessions?status=queued&limit=200', undefined, ops[0]!.token)
  expect(queued.length).toBe(CLIENTS - assigned.size)

  // Live, across nodes: each console got chatSessionAdded exactly for its sessions, and no event twice.
  for (const [i, o] of ops.entries()) await settle(consoleNode[i]!, consoles[i]!, [`operator:${o.id}`, 'operators:queue'])
  const addedTo = new Map<string, string[]>()
  const seenMessages = new Set<string>()
  for (const [i, c] of consoles.entries()) {
    const eventIds = c.events.filter((e) => e.event !== 'marker').map((e) => e.id)
    expect(new Set(eventIds).size).toBe(eventIds.length)
    const created = c.events.filter((e) => e.event === 'chatMessageCreated').map((e) => e.data.id)
    expect(new Set(created).size).toBe(created.length)
    created.forEach((id) => seenMessages.add(id))
    for (const e of c.events.filter((e) => e.event === 'chatSessionAdded')) {
      expect(e.data.operatorId).toBe(ops[i]!.id)
      addedTo.set(e.data.id, [...(addedTo.get(e.data.id) ?? []), ops[i]!.id])
    }
  }
  for (const [sessionId, who] of addedTo) expect(who).toEqual([assigned.get(sessionId)])
  expect(new Set(addedTo.keys())).toEqual(new Set(assigned.keys()))
  // Every message reached some operator: the queue audience while queued, the holder once assigned.
  for (const id of messageIds) expect(seenMessages.has(id)).toBe(true)
}

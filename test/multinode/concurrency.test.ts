/**
 * Routing stays race-free across nodes (issue 10): the checks of test/http/concurrency.test.ts with every
 * request and console spread over two and three nodes on one PostgreSQL and one Redis, and the queue's
 * FIFO order kept while messages are written in the queued chats from every node at once.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { TestLivedesk } from '../helpers/livedesk.js'
import { until } from '../helpers/sdk.js'
import { api, connect, newClient, newOperator, ok, settle, type Console } from '../http/e2e.js'
import { randomPrefix, serviceUrl } from '../realtime/services.js'
import { startNodes, type Nodes } from './cluster.js'
import { CLIENTS, OPERATORS, online, writeWhileAccepting } from '../helpers/concurrency.js'

const redisUrl = serviceUrl('REDIS_URL', 'multi-node concurrency')
const databaseUrl = redisUrl ? serviceUrl('TEST_DATABASE_URL', 'multi-node concurrency') : undefined

if (redisUrl && databaseUrl) {
  describe.each([2, 3])('%i nodes on one PostgreSQL and Redis: concurrency', (count) => {
    let cluster: Nodes | undefined
    const consoles: Console[] = []
    const start = async () => {
      cluster = await startNodes(redisUrl, databaseUrl, count, { redisPrefix: randomPrefix('concurrency') })
      return cluster.nodes
    }
    afterEach(async () => {
      for (const c of consoles.splice(0)) c.close()
      await cluster?.close()
      cluster = undefined
    })

    it(`${CLIENTS} clients write while ${OPERATORS} operators accept, spread over the nodes`, async () => {
      const nodes = await start()
      await writeWhileAccepting(nodes, consoles)
    }, 45_000)

    it('the queue drains in arrival order while its chats are written from every node at once', async () => {
      const nodes = await start()
      const node = (i: number) => nodes[i % count]!
      const OPS = 3
      const ROUNDS = 3
      const QUEUED = OPS * ROUNDS + 2 // the last two stay queued
      const WRITERS_PER_CHAT = 2
      const MIN_WRITES = 4 // per writer, even if the raising is over sooner

      const ops = await Promise.all(Array.from({ length: OPS }, (_, i) => newOperator(node(i), `fifo${i}`, 0)))
      const consoleNode = ops.map((_, i) => node(i + 1))
      consoles.push(...(await Promise.all(ops.map((o, i) => connect(consoleNode[i]!, 'notifications', o.token)))))
      await Promise.all(ops.map((o, i) => online(node(i), o.id)))

      // Sessions open one after another, through alternating nodes: the arrival order is known.
      const arrival: Array<{ client: { id: string; token: string }; sessionId: string }> = []
      for (let i = 0; i < QUEUED; i++) {
        const client = await newClient(node(i), `queued${i}`)
        const first = await ok(node(i + 1), 'POST', `/clients/${client.id}/messages`, { text: `q${i} first` })
        arrival.push({ client, sessionId: first.sessionId })
      }
      for (const [i, a] of arrival.entries()) {
        expect((await ok(node(i), 'GET', `/sessions/${a.sessionId}`, undefined, ops[0]!.token)).status).toBe('queued')
      }

      // Writers: every queued chat is written from every node, several requests in flight per chat, until the
      // operators are done raising (and at least MIN_WRITES each).
      let raising = true
      let steps = 0
      let writtenBetweenSteps = 0
      const sent = new Map<string, string[]>(arrival.map((a) => [a.sessionId, []]))
      const writers = arrival.flatMap((a, i) =>
        Array.from({ length: WRITERS_PER_CHAT }, async (_, w) => {
          const results: Array<{ status: number; body: any }> = []
          for (let k = 0; (raising || k < MIN_WRITES) && k < 50; k++) {
            const text = `q${i} w${w} m${k}`
            sent.get(a.sessionId)!.push(text)
            const startedAt = steps
            results.push(await api(node(i + w + k), 'POST', `/clients/${a.client.id}/messages`, { text }))
            if (startedAt >= 1 && steps < OPS * ROUNDS) writtenBetweenSteps++
          }
          return results
        }),
      )

      // Meanwhile operators make room one chat at a time; each step must take the head of the queue.
      const added = (j: number) => consoles[j]!.events.filter((e) => e.event === 'chatSessionAdded')
      const taken: string[] = []
      try {
        for (let round = 1; round <= ROUNDS; round++) {
          for (const [j, o] of ops.entries()) {
            await ok(node(j + round), 'PATCH', `/operators/${o.id}`, { maxChats: round })
            await until(() => added(j).length === round, 5_000, `chatSessionAdded #${round} at operator ${j}`)
            taken.push(added(j)[round - 1].data.id)
            steps++
          }
        }
      } finally {
        raising = false
      }
      const results = (await Promise.all(writers)).flat()

      // The writes really ran between the routing steps, not only before or after them.
      expect(writtenBetweenSteps).toBeGreaterThan(0)

      // FIFO: step n took the n-th session to arrive, whatever was being written in the queue meanwhile.
      const expected = arrival.slice(0, OPS * ROUNDS).map((a) => a.sessionId)
      expect(taken).toEqual(expected)
      for (const [n, sessionId] of taken.entries()) {
        const j = n % OPS
        const view = await ok(node(n), 'GET', `/sessions/${sessionId}`, undefined, ops[j]!.token)
        expect(view).toMatchObject({ status: 'assigned', operatorId: ops[j]!.id })
      }
      // The database agrees: operatorAssignedAt rises in arrival order; the last arrivals are still queued.
      const views = await Promise.all(arrival.map((a, i) => ok(node(i), 'GET', `/sessions/${a.sessionId}`, undefined, ops[i % OPS]!.token)))
      const assignedAt = views.slice(0, OPS * ROUNDS).map((v) => Date.parse(v.operatorAssignedAt))
      expect(assignedAt).toEqual([...assignedAt].sort((x, y) => x - y))
      expect(views.slice(OPS * ROUNDS).map((v) => v.status)).toEqual(['queued', 'queued'])
      const { items: stillQueued } = await ok(node(0), 'GET', '/sessions?status=queued&limit=200', undefined, ops[0]!.token)
      expect(stillQueued.map((s: any) => s.id).sort()).toEqual(arrival.slice(OPS * ROUNDS).map((a) => a.sessionId).sort())

      // Every parallel write landed once, in its chat's session; no console got a session twice or someone else's.
      expect(results.length).toBeGreaterThanOrEqual(QUEUED * WRITERS_PER_CHAT * MIN_WRITES)
      expect(results.map((r) => r.status)).toEqual(results.map(() => 201))
      for (const [i, a] of arrival.entries()) {
        const stored = await ok(node(i), 'GET', '/widget/messages?limit=200', undefined, a.client.token)
        expect(stored.items.map((m: any) => m.text).sort()).toEqual([`q${i} first`, ...sent.get(a.sessionId)!].sort())
        expect(new Set(stored.items.map((m: any) => m.sessionId))).toEqual(new Set([a.sessionId]))
      }
      const seen = new Set<string>()
      for (const [j, o] of ops.entries()) {
        await settle(consoleNode[j]!, consoles[j]!, [`operator:${o.id}`, 'operators:queue'])
        expect(added(j).map((e) => e.data.id)).toEqual(expected.filter((_, n) => n % OPS === j))
        for (const e of consoles[j]!.events) if (e.event === 'chatMessageCreated') seen.add(e.data.id)
      }
      for (const r of results) expect(seen.has(r.body.id)).toBe(true)
    }, 45_000)
  })
}

/**
 * Timers and limits behave the same whichever node a request or a connection reaches (issue 11): typing set
 * through node A expires (and is renewed, and rate-limited) for a console on node B; a widget that moves from
 * A to B within the grace period causes no clientOffline; the widget sign-up limit holds across nodes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, connect, newClient, newOperator, ok, settle } from '../http/e2e.js'
import { randomPrefix, serviceUrl } from '../realtime/services.js'
import { startCluster, type Cluster } from './cluster.js'

const redisUrl = serviceUrl('REDIS_URL', 'shared timers across nodes')
const databaseUrl = redisUrl ? serviceUrl('TEST_DATABASE_URL', 'shared timers across nodes') : undefined

const TYPING_TTL = 800
const GRACE = 800

if (redisUrl && databaseUrl) {
  describe('two nodes: shared timers and limits', () => {
    let cluster: Cluster
    beforeAll(async () => {
      cluster = await startCluster(redisUrl, databaseUrl, {
        domain: { typingTtlMs: TYPING_TTL, typingMinIntervalMs: 200, clientPresenceGraceMs: GRACE, timerSweepMs: 50 },
        widgetSignupsPerMinute: 3,
        // Counters of earlier runs on the same Redis must not count here.
        redisPrefix: randomPrefix('timers'),
      })
    })
    afterAll(() => cluster?.close())

    /** An operator whose console is on node B, holding the session of a client created through node A. */
    async function chatAcrossNodes() {
      const { a, b } = cluster
      const op = await newOperator(a, `op-${Math.random().toString(36).slice(2, 8)}`, 50)
      const console_ = await connect(b, 'notifications', op.token)
      await expect.poll(async () => (await ok(a, 'GET', `/operators/${op.id}`)).online).toBe(true)
      const client = await newClient(a)
      expect((await api(a, 'POST', `/clients/${client.id}/messages`, { text: 'hi' })).status).toBe(201)
      await console_.next('chatSessionAdded', (e) => e.data.chatId === client.chatId)
      return { op, console: console_, client }
    }

    it('typing set through A stops by itself for a console on B; a renewal through B extends it; the rate holds across nodes', async () => {
      const { a, b } = cluster
      const { console: c, client } = await chatAcrossNodes()
      const typing = () => c.events.filter((e) => e.event === 'typing' && e.data.chatId === client.chatId)

      const started = await api(a, 'POST', `/clients/${client.id}/typing`, { text: 'He' })
      expect(started.status).toBe(202)
      // Too soon after A's notice, through B: refused.
      const tooSoon = await api(b, 'POST', `/clients/${client.id}/typing`, { text: 'Hel' })
      expect(tooSoon.status).toBe(429)
      await c.next('typing', (e) => e.data.chatId === client.chatId && e.data.active === true)

      // Renewed through B after the minimum interval: one indicator, now until B's `until`.
      await expect.poll(async () => (await api(b, 'POST', `/clients/${client.id}/typing`, { text: 'Hello' })).status, { interval: 50 }).toBe(202)
      const renewedAt = Date.now()
      const stop = await c.next('typing', (e) => e.data.chatId === client.chatId && e.data.active === false, 5_000)
      // The stop came from a sweeper after the renewed TTL, not from A's first one.
      expect(Date.now() - renewedAt).toBeGreaterThanOrEqual(TYPING_TTL - 100)
      expect(stop.data.text).toBe('Hello')
      const events = typing()
      expect(events.map((e) => e.data.active)).toEqual([true, true, false])
      expect(events.filter((e) => e.data.active === false)).toHaveLength(1)
    })

    it('a widget that moves from A to B within the grace period causes no clientOffline; leaving B for good does, once', async () => {
      const { a, b } = cluster
      const { op, console: c, client } = await chatAcrossNodes()
      const offline = () => c.events.filter((e) => e.event === 'clientOffline' && e.data.chatId === client.chatId)

      const onA = await connect(a, 'widget', client.token)
      await c.next('clientOnline', (e) => e.data.chatId === client.chatId)
      onA.close()
      const onB = await connect(b, 'widget', client.token)
      // Past the grace period from A's close: a sweep has run by now on both nodes.
      await new Promise((resolve) => setTimeout(resolve, GRACE + 400))
      await settle(b, c, [`operator:${op.id}`])
      expect(offline()).toHaveLength(0)
      expect((await ok(a, 'GET', `/clients/${client.id}`)).online).toBe(true)

      onB.close()
      await c.next('clientOffline', (e) => e.data.chatId === client.chatId, GRACE + 5_000)
      await settle(a, c, [`operator:${op.id}`])
      expect(offline()).toHaveLength(1)
      expect((await ok(b, 'GET', `/clients/${client.id}`)).online).toBe(false)
    })

    it('the widget sign-up limit counts sign-ups on every node', async () => {
      const { a, b } = cluster
      const signUp = async (node: typeof a) =>
        (await fetch(`${node.url}/api/v1/widget/clients`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status
      const statuses = [await signUp(a), await signUp(b), await signUp(a), await signUp(b), await signUp(a)]
      expect(statuses).toEqual([201, 201, 201, 429, 429])
    })
  })
}

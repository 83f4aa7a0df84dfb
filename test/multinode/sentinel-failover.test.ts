/**
 * A Redis primary killed under a Sentinel group mid-burst (issue 11 (c)): two nodes with
 * REDIS_URL=redis+sentinel://…, a console on node B (real SDK), chats written through node A. After the
 * failover every stored message reaches the console once, in each chat's order, and a recovery that says
 * `recovered: true` never hides a missing event (the outbox relay republishes what the dead primary lost).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { newSdk, nextEvent, until } from '../helpers/sdk.js'
import { startSentinelGroup, type SentinelGroup } from '../helpers/sentinel.js'
import { api, newClient, newOperator, ok } from '../http/e2e.js'
import { randomPrefix, serviceUrl } from '../realtime/services.js'
import { postgresAvailable, tempPostgres, type TestDatabase } from '../store/databases.js'

const CHATS = 8
const PER_CHAT = 15

const redisUp = serviceUrl('REDIS_URL', 'Sentinel failover')
const pgUp = redisUp ? await postgresAvailable() : false

if (redisUp && pgUp) {
  describe('Sentinel: the Redis primary dies mid-burst', () => {
    let group: SentinelGroup
    let db: TestDatabase
    let a: TestLivedesk
    let b: TestLivedesk

    beforeAll(async () => {
      group = await startSentinelGroup()
      db = await tempPostgres()
      const common = {
        databaseUrl: db.databaseUrl,
        redisUrl: group.url,
        redisPrefix: randomPrefix('sentinel'),
        domain: { outboxRelayIntervalMs: 200, timerSweepMs: 100, nodeTtlMs: 3_000 },
      }
      a = await startTestLivedesk({ ...common, realtime: { nodeId: 'sentinel-a' } })
      b = await startTestLivedesk({ ...common, realtime: { nodeId: 'sentinel-b' } })
    }, 30_000)

    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()])
      await db?.drop()
    })

    it('loses no committed event and never claims a recovery it did not make', async () => {
      const op = await newOperator(a, 'Sentinel watcher', CHATS + 5)
      const sdk = newSdk(b.wsUrl, { data: { application: 'notifications', settings: { token: op.token } } })
      const received: any[] = []
      /** Publications (with their stream offset) and (re)subscriptions, as the console saw them. */
      const timeline: Array<{ channel: string; offset?: number; recovered?: boolean }> = []
      sdk.on('publication', (ctx) => {
        received.push(ctx.data)
        timeline.push({ channel: ctx.channel, offset: ctx.offset })
      })
      sdk.on('subscribed', (ctx) => timeline.push({ channel: ctx.channel, recovered: ctx.wasRecovering && ctx.recovered }))
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      await connected
      try {
        await until(async () => (await ok(a, 'GET', `/operators/${op.id}`)).online, 5_000, 'the operator online')
        const clients = []
        for (let i = 0; i < CHATS; i++) {
          const c = await newClient(a, `sentinel-${i}`)
          expect((await api(a, 'POST', `/clients/${c.id}/messages`, { text: `c${i} open` })).status).toBe(201)
          clients.push(c)
        }
        await until(() => received.filter((e) => e.event === 'chatSessionAdded').length === CHATS, 10_000, 'every session at the console')

        // The burst: every chat writes in order through node A; the primary dies a third of the way in.
        let sent = 0
        let killed: Promise<void> | undefined
        await Promise.all(
          clients.map(async (c, i) => {
            for (let k = 0; k < PER_CHAT; k++) {
              const res = await api(a, 'POST', `/clients/${c.id}/messages`, { text: `c${i} m${k}` })
              expect(res.status).toBe(201)
              if (++sent === Math.floor((CHATS * PER_CHAT) / 3)) killed = group.primary.kill()
            }
          }),
        )
        await killed
        // The replica took over.
        await until(async () => (await group.primaryPort()) === group.replica.port, 20_000, 'the sentinel to promote the replica')

        // Every stored message reaches the console: once, in its chat's order.
        const stored = new Map<string, string[]>()
        for (const c of clients) {
          const { items } = await ok(a, 'GET', '/widget/messages?limit=200', undefined, c.token)
          stored.set(c.chatId, items.map((m: any) => m.id))
          expect(items).toHaveLength(PER_CHAT + 1)
        }
        const all = [...stored.values()].flat()
        const seen = () => new Set(received.filter((e) => e.event === 'chatMessageCreated').map((e) => e.data.id))
        await until(() => all.every((id) => seen().has(id)), 30_000, 'every stored message at the console')
        const created = received.filter((e) => e.event === 'chatMessageCreated')
        expect(new Set(created.map((e) => e.id)).size).toBe(created.length)
        for (const [chatId, ids] of stored) {
          expect(created.filter((e) => e.data.chatId === chatId).map((e) => e.data.id)).toEqual(ids)
        }
        // The stream never skipped an offset behind a `recovered: true`: a gap may follow only a subscription that
        // did not claim a recovery (new epoch, refetch).
        const last = new Map<string, { offset?: number; claimed: boolean }>()
        for (const t of timeline) {
          const state = last.get(t.channel) ?? { claimed: false }
          if (t.offset === undefined) {
            last.set(t.channel, { offset: t.recovered ? state.offset : undefined, claimed: t.recovered === true })
            continue
          }
          if (state.offset !== undefined) expect(t.offset, `offset after ${state.offset} on ${t.channel}`).toBe(state.offset + 1)
          last.set(t.channel, { offset: t.offset, claimed: false })
        }
        expect(timeline.filter((t) => t.offset !== undefined).length).toBeGreaterThanOrEqual(all.length)
      } finally {
        sdk.disconnect()
      }
    }, 90_000)
  })
}

/**
 * Presence around map subscriptions (issue 17 item 3, the rest) with the real SDK: map users presence
 * (`map_users_presence_channel_prefix`; entries go only by key TTL, as in Centrifugo), the namespace's `presence` and `join_leave` on a map channel, and, over
 * Redis, subscribers resyncing after the map broker's subscriber connection came back. One node (memory map broker)
 * and two nodes over Redis (watchers on A, members on A and B).
 */
import type { Centrifuge } from 'centrifuge'
import Redis from 'ioredis'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { fromCentrifugo } from '../../src/config/centrifugo.js'
import type { NamespaceOptions } from '../../src/realtime/config.js'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { newSdk } from '../helpers/sdk.js'
import { randomPrefix, serviceUrl } from '../realtime/services.js'
import { all, next, type Emitter } from '../helpers/map-events.js'

const EPH = { mode: 'ephemeral' as const, keyTtlMs: 60_000 }
/** Map users entries outlive the user's last subscription by this TTL; short so the suite waits for real expiries. */
const USERS_KEY_TTL_MS = 3_000
/** Presence entries (map users ones too) are re-written every presenceTtlMs / 3. */
const PRESENCE_TTL_MS = 3_000
const USERS_REFRESH_MS = PRESENCE_TTL_MS / 3
const NAMESPACES: Record<string, Partial<NamespaceOptions>> = {
  room: { subscriptionType: 'map', allowSubscribe: true, mapUsersPresenceChannelPrefix: 'users:', map: EPH },
  users: { subscriptionType: 'map_users', allowSubscribe: true, map: { mode: 'ephemeral', keyTtlMs: USERS_KEY_TTL_MS } },
  live: { subscriptionType: 'map', allowSubscribe: true, presence: true, joinLeave: true, forcePushJoinLeave: true, allowPresence: true, map: EPH },
  eph: { subscriptionType: 'map', allowSubscribe: true, map: { ...EPH, allowPublishForClient: true } },
}

const start = (extra: { redisUrl?: string; redisPrefix?: string } = {}) =>
  startTestLivedesk({
    ...extra,
    hooks: { authenticate: async (e) => ({ user: (e.data as { user: string }).user }) },
    realtime: { namespaces: NAMESPACES, mapExpireIntervalMs: 50, presenceTtlMs: PRESENCE_TTL_MS },
  })

let seq = 0
const unique = (ns: string) => `${ns}:${Date.now().toString(36)}-${++seq}`

function presenceSuite(cluster: () => { a: TestLivedesk; b: TestLivedesk }): void {
  const open: Centrifuge[] = []
  afterEach(() => {
    for (const sdk of open.splice(0)) sdk.disconnect()
  })

  async function client(user: string, node: TestLivedesk): Promise<{ sdk: Centrifuge; id: string }> {
    const sdk = newSdk(node.wsUrl, { data: { user } })
    open.push(sdk)
    const connected = next(sdk as unknown as Emitter, 'connected')
    sdk.connect()
    return { sdk, id: (await connected).client }
  }

  async function subscribe(sub: any): Promise<{ sync: any }> {
    const sync = next(sub, 'sync')
    sub.subscribe()
    return { sync: await sync }
  }

  /** Whether the node still has local subscribers of the map channel: its unsubscribe/disconnect cleanup has run. */
  async function untilNoLocalSubscriber(node: TestLivedesk, channel: string): Promise<void> {
    const deadline = Date.now() + 10_000
    while (node.node.maps.channelCounts()[channel]) {
      if (Date.now() > deadline) throw new Error(`${channel} still has local subscribers`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  const usersOf = async (node: TestLivedesk, channel: string) => {
    const r = await serverApi(node, 'map_read_state', { channel })
    expect(r.body.error).toBeUndefined()
    return (r.body.result.entries as Array<{ key: string }>).map((e) => e.key).sort()
  }

  it('keeps one entry per distinct user (map_users presence), refreshed while subscribed and removed only when its key TTL passes after the last subscription left', async () => {
    const ch = unique('room')
    const watcher = await client('watcher', cluster().a)
    const users: any = watcher.sdk.newMapUsersSubscription(`users:${ch}`)
    expect((await subscribe(users)).sync.entries).toEqual([])
    const updates = all(users, 'update')

    // Alice twice (on both nodes when there are two), Bob once.
    const alice1 = await client('alice', cluster().a)
    const alice2 = await client('alice', cluster().b)
    const aliceJoined = next(users, 'update', (u) => u.key === 'alice' && !u.removed)
    const sub1: any = alice1.sdk.newMapSubscription(ch)
    await subscribe(sub1)
    await aliceJoined
    const sub2: any = alice2.sdk.newMapSubscription(ch)
    await subscribe(sub2)
    const bob = await client('bob', cluster().b)
    const bobJoined = next(users, 'update', (u) => u.key === 'bob' && !u.removed)
    const bobSubscribing = Date.now()
    await subscribe(bob.sdk.newMapSubscription(ch))
    await bobJoined

    // A subscriber arriving now sees each user once, without data.
    const late = await client('late', cluster().b)
    const { sync } = await subscribe(late.sdk.newMapUsersSubscription(`users:${ch}`))
    expect(sync.entries.map((e: any) => e.key).sort()).toEqual(['alice', 'bob'])

    // Bob leaves: his entry stays for the key TTL (counted from his last write, no earlier than his subscribe) and then
    // goes. Alice, written before Bob and still subscribed on the other node, outlives him only because she is refreshed.
    sub1.unsubscribe()
    const bobRemoved = next(users, 'update', (u) => u.key === 'bob' && u.removed, 20_000)
    bob.sdk.disconnect()
    await bobRemoved
    expect(Date.now() - bobSubscribing).toBeGreaterThanOrEqual(USERS_KEY_TTL_MS - 20)
    expect(updates.map((u) => [u.key, !!u.removed])).toEqual([['alice', false], ['bob', false], ['bob', true]])

    // Her last subscription leaving (by disconnecting) keeps her entry: still there once the disconnect is handled...
    const aliceRemoved = next(users, 'update', (u) => u.key === 'alice' && u.removed, 20_000)
    const aliceLeaving = Date.now()
    alice2.sdk.disconnect()
    await untilNoLocalSubscriber(cluster().b, ch)
    expect(await usersOf(cluster().a, `users:${ch}`)).toEqual(['alice'])
    // ...until the key TTL passes: then the watcher gets her removal, once.
    await aliceRemoved
    expect(Date.now() - aliceLeaving).toBeGreaterThanOrEqual(USERS_KEY_TTL_MS - 2 * USERS_REFRESH_MS)
    expect(await usersOf(cluster().b, `users:${ch}`)).toEqual([])
    const marker = next(users, 'update', (u) => u.key === 'marker')
    expect((await serverApi(cluster().b, 'map_publish', { channel: `users:${ch}`, key: 'marker', data: {} })).body.error).toBeUndefined()
    await marker
    expect(updates.map((u) => [u.key, !!u.removed])).toEqual([['alice', false], ['bob', false], ['bob', true], ['alice', true], ['marker', false]])
  })

  it('keeps the channel presence and pushes join/leave of map subscribers when the namespace has presence, join_leave and force_push_join_leave', async () => {
    const ch = unique('live')
    const watcher = await client('watcher', cluster().a)
    const wsub: any = watcher.sdk.newMapSubscription(ch)
    await subscribe(wsub)
    // The watcher's own join may come first; wait for the member's.
    const joined = next(wsub, 'join', (j) => j.info.user === 'member')
    const member = await client('member', cluster().b)
    const msub: any = member.sdk.newMapSubscription(ch)
    await subscribe(msub)
    expect((await joined).info).toMatchObject({ user: 'member', client: member.id })

    // Presence as the SDK and the server API see it, on either node.
    const viaSdk = await watcher.sdk.presence(ch)
    expect(Object.keys(viaSdk.clients).sort()).toEqual([watcher.id, member.id].sort())
    const viaApi = await serverApi(cluster().b, 'presence', { channel: ch })
    expect(viaApi.body.result.presence[member.id]).toMatchObject({ user: 'member', client: member.id })
    expect((await serverApi(cluster().a, 'presence_stats', { channel: ch })).body.result).toEqual({ num_clients: 2, num_users: 2 })

    const left = next(wsub, 'leave', (l) => l.info.user === 'member')
    msub.unsubscribe()
    expect((await left).info).toMatchObject({ user: 'member', client: member.id })
    const viaApiAfter = await serverApi(cluster().a, 'presence', { channel: ch })
    expect(Object.keys(viaApiAfter.body.result.presence)).toEqual([watcher.id])
  })
}

describe('map presence configuration', () => {
  it("maps Centrifugo's map_users_presence_channel_prefix without a warning, and refuses a prefix that is not a map_users namespace", async () => {
    const { options, warnings } = fromCentrifugo({
      channel: {
        namespaces: [
          { name: 'room', subscription_type: 'map', map_users_presence_channel_prefix: 'users:', map: { mode: 'ephemeral', key_ttl: '60s' } },
          { name: 'users', subscription_type: 'map_users', map: { mode: 'ephemeral', key_ttl: '60s' } },
        ],
      },
    })
    expect(options.realtime!.namespaces!.room).toMatchObject({ mapUsersPresenceChannelPrefix: 'users:' })
    expect(warnings.join('\n')).not.toMatch(/map_users_presence_channel_prefix/)
    await expect(startTestLivedesk({ realtime: { namespaces: { ...NAMESPACES, room: { ...NAMESPACES.room, mapUsersPresenceChannelPrefix: 'live:' } } } }))
      .rejects.toThrow(/realtime\.namespaces\.room\.mapUsersPresenceChannelPrefix: "live:" is not in a map_users namespace/)
    // Its entries go only by key TTL, so a persistent map_users namespace is refused, as Centrifugo's config check does.
    await expect(startTestLivedesk({ realtime: { namespaces: { ...NAMESPACES, users: { ...NAMESPACES.users, map: { mode: 'persistent' } } } } }))
      .rejects.toThrow(/realtime\.namespaces\.users\.map\.mode: a map_users namespace needs expiring keys/)
  })
})

describe('map presence on one node', () => {
  let node: TestLivedesk
  beforeAll(async () => {
    node = await start()
  })
  presenceSuite(() => ({ a: node, b: node }))
})

const redisUrl = serviceUrl('REDIS_URL', 'map presence on two nodes over Redis')
if (redisUrl) {
  describe('map presence on two nodes over Redis', () => {
    let a: TestLivedesk
    let b: TestLivedesk
    const redisPrefix = randomPrefix('mapp')
    beforeAll(async () => {
      ;[a, b] = await Promise.all([start({ redisUrl, redisPrefix }), start({ redisUrl, redisPrefix })])
    })
    presenceSuite(() => ({ a, b }))

    it('resubscribes map subscribers (unsubscribe 2500) when the map broker subscriber connection reconnects, so no change is missed silently', async () => {
      const ch = unique('eph')
      const sdk = newSdk(a.wsUrl, { data: { user: 'u' } })
      const connected = next(sdk as unknown as Emitter, 'connected')
      sdk.connect()
      await connected
      try {
        const sub: any = sdk.newMapSubscription(ch)
        const firstSync = next(sub, 'sync')
        sub.subscribe()
        await firstSync
        const view = new Map<string, unknown>()
        sub.on('sync', (ctx: any) => {
          view.clear()
          for (const e of ctx.entries) view.set(e.key, e.data)
        })
        sub.on('update', (u: any) => (u.removed ? view.delete(u.key) : view.set(u.key, u.data)))

        const resyncing = next(sub, 'subscribing', (c) => c.code === 2500)
        const resynced = next(sub, 'sync')
        // Kill both nodes' map subscriber connections, then write while they are coming back.
        const admin = new Redis(redisUrl)
        try {
          const list = (await admin.client('LIST')) as string
          const ids = list.split('\n').filter((l) => l.includes(` name=${redisPrefix}:map-sub `)).map((l) => /id=(\d+)/.exec(l)![1]!)
          expect(ids.length).toBe(2)
          for (const id of ids) await admin.client('KILL', 'ID', id)
        } finally {
          admin.disconnect()
        }
        const put = await serverApi(b, 'map_publish', { channel: ch, key: 'during', data: { n: 1 } })
        expect(put.body.error).toBeUndefined()
        expect(await resyncing).toMatchObject({ code: 2500 })
        await resynced
        // Whether the write reached the subscriber live or not, it has it after the resync.
        await new Promise<void>((resolve, reject) => {
          const deadline = Date.now() + 10_000
          const check = () => (view.has('during') ? resolve() : Date.now() > deadline ? reject(new Error('"during" never arrived')) : setTimeout(check, 20))
          check()
        })
        expect(view.get('during')).toEqual({ n: 1 })
        // And it is live again.
        const update = next(sub, 'update', (u) => u.key === 'after')
        await serverApi(b, 'map_publish', { channel: ch, key: 'after', data: 2 })
        expect((await update).data).toBe(2)
      } finally {
        sdk.disconnect()
      }
    })
  })
}

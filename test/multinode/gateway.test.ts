/**
 * Two livedesk nodes in one process on two ports, sharing Redis (broker and presence) and one PostgreSQL
 * database, with the real `centrifuge` SDK as the client.
 */
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { serverApi, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { serviceUrl } from '../realtime/services.js'
import { startCluster, unique, type Cluster } from './cluster.js'
import { SwitchProxy } from './switch-proxy.js'

const redisUrl = serviceUrl('REDIS_URL', 'multi-node gateway')
const databaseUrl = redisUrl ? serviceUrl('TEST_DATABASE_URL', 'multi-node gateway') : undefined

const secret = 'multinode-secret'
const connectionToken = (user: string, channels: string[]) =>
  new SignJWT({ sub: user, channels }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(secret))

if (redisUrl && databaseUrl) {
  describe('two nodes behind Redis and PostgreSQL: the gateway', () => {
    let cluster: Cluster
    let a: TestLivedesk
    let b: TestLivedesk

    beforeAll(async () => {
      // Recovery may span every publication of a test (the racing publisher makes up to 400).
      cluster = await startCluster(redisUrl, databaseUrl, { realtime: { hmacSecret: secret, recoveryMaxPublications: 1000 } })
      ;({ a, b } = cluster)
    })

    afterAll(() => cluster?.close())

    async function connectSdk(wsUrl: string, user: string, channels: string[]) {
      const sdk = newSdk(wsUrl, { token: await connectionToken(user, channels) })
      onTestFinished(() => sdk.disconnect())
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      return { sdk, connected: await connected }
    }

    it('delivers a publication made on node B to an SDK connected to node A', async () => {
      const [user, channel] = [unique('user'), unique('operator')]
      const { sdk, connected } = await connectSdk(a.wsUrl, user, [channel])
      expect(connected.data).toBeUndefined()
      const received = nextEvent(sdk, 'publication', (ctx) => ctx.channel === channel)
      const data = { event: 'chatMessageRead', data: { chatId: 'c1', messageIds: ['m1'] } }
      const res = await serverApi(b, 'publish', { channel, data })
      expect(res.body).toEqual({ result: { offset: 1, epoch: expect.any(String) } })
      const publication = await received
      expect(publication.data).toEqual(data)
      expect(publication.offset).toBe(1)
    })

    it('recovers every publication missed while cut from node A, exactly once and in order, on node B', async () => {
      const [user, channel] = [unique('user'), unique('operator')]
      const proxy = await SwitchProxy.start(a.port)
      onTestFinished(() => proxy.close())
      const { sdk } = await connectSdk(`ws://127.0.0.1:${proxy.port}/centrifugo/connection/websocket`, user, [channel])
      const publications = collect(sdk, 'publication')
      const subscribed = collect(sdk, 'subscribed')
      for (let n = 1; n <= 3; n++) await serverApi(a, 'publish', { channel, data: { n } })
      await until(() => publications.length === 3, 5_000, 'the first 3 publications')

      // Node A becomes unreachable; the SDK keeps retrying while 50 publications are made on node B.
      proxy.target = null
      const disconnected = nextEvent(sdk, 'connecting')
      proxy.cutAll()
      await disconnected
      for (let n = 4; n <= 53; n++) {
        const res = await serverApi(b, 'publish', { channel, data: { n } })
        expect(res.body.result.offset).toBe(n)
      }
      const reconnected = nextEvent(sdk, 'connected')
      proxy.target = b.port
      await reconnected
      await until(() => publications.length >= 53, 5_000, 'the recovered publications')
      // Anything duplicated would follow the recovered ones at once; a later publication fences them.
      await serverApi(b, 'publish', { channel, data: { n: 54 } })
      await until(() => publications.length >= 54, 5_000, 'the publication after recovery')

      expect(publications.map((p) => (p.data as { n: number }).n)).toEqual(Array.from({ length: 54 }, (_, i) => i + 1))
      expect(publications.map((p) => p.offset)).toEqual(Array.from({ length: 54 }, (_, i) => i + 1))
      const last = subscribed.filter((s) => s.channel === channel).at(-1)!
      expect(last).toMatchObject({ channel, wasRecovering: true, recovered: true })
    })

    it('loses and repeats nothing when node B keeps publishing while the client moves from node A to node B', async () => {
      const [user, channel] = [unique('user'), unique('operator')]
      const proxy = await SwitchProxy.start(a.port)
      onTestFinished(() => proxy.close())
      const { sdk } = await connectSdk(`ws://127.0.0.1:${proxy.port}/centrifugo/connection/websocket`, user, [channel])
      const publications = collect(sdk, 'publication')
      let seq = 0
      let stop = false
      // A bounded publisher on node B racing the cut, the recovery on node B and the first live deliveries there.
      const publisher = (async () => {
        while (!stop && seq < 400) {
          seq++
          await b.node.publish(channel, { seq })
          if (seq % 5 === 0) await new Promise((resolve) => setImmediate(resolve))
        }
      })()
      await until(() => publications.length >= 10, 5_000, 'the first publications')
      const recovered = nextEvent(sdk, 'subscribed', (ctx) => ctx.channel === channel && ctx.wasRecovering)
      proxy.target = b.port
      proxy.cutAll()
      const ctx = await recovered
      const atRecovery = seq
      await until(() => seq >= Math.min(atRecovery + 30, 400), 5_000, 'publications after the recovery')
      stop = true
      await publisher
      expect(ctx.recovered).toBe(true)
      await until(() => publications.length >= seq, 5_000, `all ${seq} publications`)
      expect(publications.map((p) => (p.data as { seq: number }).seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1))
    })

    it('disconnects, through the server API of node B, a user connected to node A', async () => {
      const user = unique('user')
      const { sdk } = await connectSdk(a.wsUrl, user, [])
      const disconnected = nextEvent(sdk, 'disconnected')
      const res = await serverApi(b, 'disconnect', { user, disconnect: { code: 4503, reason: 'moved away' } })
      expect(res.body).toEqual({ result: {} })
      expect(await disconnected).toMatchObject({ code: 4503, reason: 'moved away' })
      expect(sdk.state).toBe('disconnected')
    })

    it('subscribes, through the server API of node B, a user connected to node A', async () => {
      const [user, channel] = [unique('user'), unique('personal')]
      const { sdk } = await connectSdk(a.wsUrl, user, [])
      const subscribed = nextEvent(sdk, 'subscribed', (ctx) => ctx.channel === channel)
      expect((await serverApi(b, 'subscribe', { user, channel })).body).toEqual({ result: {} })
      await subscribed
      const received = nextEvent(sdk, 'publication', (ctx) => ctx.channel === channel)
      await serverApi(b, 'publish', { channel, data: { hello: 'from b' } })
      expect((await received).data).toEqual({ hello: 'from b' })
    })

    it('shows presence of clients on both nodes from either node', async () => {
      const channel = unique('chat')
      const [u1, u2] = [unique('user'), unique('user')]
      await connectSdk(a.wsUrl, u1, [channel])
      await connectSdk(b.wsUrl, u2, [channel])
      await connectSdk(b.wsUrl, u1, [channel])
      for (const node of [a, b]) {
        const stats = await serverApi(node, 'presence_stats', { channel })
        expect(stats.body).toEqual({ result: { num_clients: 3, num_users: 2 } })
      }
      const presence = await serverApi(a, 'presence', { channel })
      expect(Object.values(presence.body.result.presence).map((i: any) => i.user).sort()).toEqual([u1, u1, u2].sort())
    })
  })
}

/**
 * The proxy gaps of issue 17 item 2 closed here: the subscribe proxy's `override` and `info`/`b64info`, the connect
 * proxy's `subs` with their options (not only `data`), the publish proxy's `idempotency_key` and `delta`, and
 * `--print-config` masking proxies' static headers. A real backend on 127.0.0.1, the real SDK, the real server API.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Centrifuge } from 'centrifuge'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import type { ProxyConfig } from '../../src/realtime/proxy/config.js'
import { printableConfig } from '../../src/config/index.js'
import { ProxyBackend } from '../helpers/proxy-backend.js'

const run = randomBytes(3).toString('hex')
/** The default namespace has presence on: these namespaces turn presence and join/leave off explicitly. */
const OFF = { presence: false, joinLeave: false, forcePushJoinLeave: false }

describe('proxy results livedesk now honours', () => {
  const backend = new ProxyBackend()
  let livedesk: TestLivedesk
  const sdks: Centrifuge[] = []

  async function connectAs(user: string): Promise<{ sdk: Centrifuge; client: string }> {
    const sdk = newSdk(livedesk.wsUrl, { data: { user } })
    sdks.push(sdk)
    const connected = nextEvent(sdk, 'connected')
    sdk.connect()
    return { sdk, client: (await connected).client }
  }

  beforeAll(async () => {
    await backend.start()
    backend.json('/connect', (body) => ({ result: { user: body.data.user } }))
    const proxy: ProxyConfig = {
      connect: { endpoint: `${backend.url}/connect` },
      defaults: { subscribe: { endpoint: `${backend.url}/subscribe` }, publish: { endpoint: `${backend.url}/publish` } },
      channelNamespaces: { sp: { subscribe: 'default' }, pp: { publish: 'default' } },
    }
    livedesk = await startTestLivedesk({
      hooks: {}, proxy,
      // Presence and join/leave are off in both namespaces: only an override turns them on.
      realtime: { namespaces: { sp: { historySize: 0, ...OFF }, pp: { historySize: 10, historyTtlMs: 60_000, allowSubscribe: true, ...OFF }, srv: { historySize: 0, ...OFF } } },
    })
  })
  afterAll(async () => {
    for (const s of sdks) s.disconnect()
    await backend.close()
  })

  it('subscribe proxy: override turns on presence and join/leave for that subscription, and info becomes its chan_info', async () => {
    const channel = `sp:${run}:room`
    const chanInfo: Record<string, unknown> = { alice: { seat: 1 }, bob: { seat: 2 } }
    backend.json('/subscribe', (body) => ({
      result: {
        // bob's info comes as b64info, as a backend that speaks binary would send it.
        ...(body.user === 'bob' ? { b64info: Buffer.from(JSON.stringify(chanInfo.bob)).toString('base64') } : { info: chanInfo[body.user] }),
        override: { presence: { value: true }, join_leave: { value: true }, force_push_join_leave: { value: true } },
      },
    }))
    const alice = await connectAs('alice')
    const aliceSub = alice.sdk.newSubscription(channel)
    const joins = collect(aliceSub, 'join')
    const aliceSubscribed = nextEvent(aliceSub, 'subscribed')
    aliceSub.subscribe()
    await aliceSubscribed

    const bob = await connectAs('bob')
    const bobSub = bob.sdk.newSubscription(channel)
    const bobSubscribed = nextEvent(bobSub, 'subscribed')
    bobSub.subscribe()
    await bobSubscribed
    await until(() => joins.some((j) => j.info.user === 'bob'), 5_000, 'bob\'s join')
    expect(joins.find((j) => j.info.user === 'bob')!.info).toMatchObject({ client: bob.client, chanInfo: { seat: 2 } })

    // Presence storage holds both with their chan_info (the server API's `presence` answers 108 here, as Centrifugo's,
    // which checks the namespace).
    const present = await livedesk.node.presenceManager.presence(channel)
    expect(present[bob.client]).toMatchObject({ user: 'bob', chan_info: { seat: 2 } })
    expect(present[alice.client]).toMatchObject({ user: 'alice', chan_info: { seat: 1 } })

    const leaves = collect(aliceSub, 'leave')
    bobSub.unsubscribe()
    await until(() => leaves.length === 1, 5_000, 'bob\'s leave')
    expect(leaves[0]!.info).toMatchObject({ user: 'bob', chanInfo: { seat: 2 } })

    // Without an override the namespace's options hold: carol is not tracked and no join of hers is sent. Bob's
    // second join, sent after carol subscribed, is the barrier: joins of a channel arrive in order.
    backend.json('/subscribe', () => ({ result: {} }))
    const carol = await connectAs('carol')
    const carolSub = carol.sdk.newSubscription(channel)
    const carolSubscribed = nextEvent(carolSub, 'subscribed')
    carolSub.subscribe()
    await carolSubscribed
    backend.json('/subscribe', (body) => ({ result: { info: chanInfo[body.user], override: { presence: { value: true }, join_leave: { value: true }, force_push_join_leave: { value: true } } } }))
    const bobAgain = nextEvent(bobSub, 'subscribed')
    bobSub.subscribe()
    await bobAgain
    await until(() => joins.filter((j) => j.info.user === 'bob').length === 2, 5_000, 'bob\'s second join')
    expect((await livedesk.node.presenceManager.presence(channel))[carol.client]).toBeUndefined()
    expect(joins.map((j) => j.info.user)).not.toContain('carol')
  })

  it('subscribe proxy: a malformed override is the backend\'s fault, error 100 to the client', async () => {
    backend.json('/subscribe', () => ({ result: { override: { presence: 'yes' } } }))
    const { sdk } = await connectAs('dave')
    const sub = sdk.newSubscription(`sp:${run}:bad`)
    const failed = nextEvent(sub, 'error')
    sub.subscribe()
    expect((await failed).error).toMatchObject({ code: 100 })
    sub.unsubscribe()
  })

  it('connect proxy: subs carry their info, override and expiry, not only data', async () => {
    const withPresence = `srv:${run}:p`
    const plain = `srv:${run}:plain`
    backend.json('/connect', (body) => ({
      result: {
        user: body.data.user,
        subs: {
          [withPresence]: { info: { role: 'agent' }, data: { hello: 1 }, override: { presence: { value: true } } },
          [plain]: { b64data: Buffer.from(JSON.stringify({ hello: 2 })).toString('base64') },
        },
      },
    }))
    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'erin' } })
    sdks.push(sdk)
    const subscribed = collect(sdk, 'subscribed')
    const connected = nextEvent(sdk, 'connected')
    sdk.connect()
    const { client } = await connected
    await until(() => subscribed.length === 2, 5_000, 'two server-side subscriptions')
    expect(subscribed.find((s) => s.channel === withPresence)!.data).toEqual({ hello: 1 })
    expect(subscribed.find((s) => s.channel === plain)!.data).toEqual({ hello: 2 })
    // The overridden subscription is in presence storage with its chan_info; the other is not tracked.
    const stats = await livedesk.node.presenceManager.presence(withPresence)
    expect(stats[client]).toMatchObject({ user: 'erin', client, chan_info: { role: 'agent' } })
    expect(await livedesk.node.presenceManager.presence(plain)).toEqual({})
    backend.json('/connect', (body) => ({ result: { user: body.data.user } }))
  })

  it('publish proxy: idempotency_key makes a repeat publish nothing, version drops an out-of-order one; delta is accepted', async () => {
    let n = 0
    backend.json('/publish', (body) => ({
      result: { idempotency_key: `order-${body.data.order}`, delta: true, version: body.data.version ?? 0, data: { order: body.data.order, seen: ++n } },
    }))
    const { sdk } = await connectAs('frank')
    const channel = `pp:${run}:orders`
    const sub = sdk.newSubscription(channel)
    const pubs = collect(sub, 'publication')
    const subscribed = nextEvent(sub, 'subscribed')
    sub.subscribe()
    await subscribed
    await sub.publish({ order: 1 })
    await sub.publish({ order: 1 })
    await sub.publish({ order: 2, version: 10 })
    await sub.publish({ order: 3, version: 9 })
    await sub.publish({ order: 4, version: 11 })
    await until(() => pubs.length === 3, 5_000, 'three publications')
    const expected = [{ order: 1, seen: 1 }, { order: 2, seen: 3 }, { order: 4, seen: 5 }]
    const history = await serverApi(livedesk, 'history', { channel, limit: -1 })
    expect(history.body.result.publications.map((p: any) => p.data)).toEqual(expected)
    expect(pubs.map((p) => p.data)).toEqual(expected)
  })
})

describe('--print-config', () => {
  it('masks the values of proxies\' static headers, keeping their names', () => {
    const printed = printableConfig({
      proxy: {
        connect: { endpoint: 'http://backend/connect', staticHeaders: { Authorization: 'Bearer backend-secret' } },
        named: { billing: { endpoint: 'http://billing/rpc', staticHeaders: { 'X-Api-Key': 'billing-secret' } } },
      },
    }) as any
    const text = JSON.stringify(printed)
    expect(text).not.toContain('backend-secret')
    expect(text).not.toContain('billing-secret')
    expect(printed.proxy.connect).toEqual({ endpoint: 'http://backend/connect', staticHeaders: { Authorization: '********' } })
    expect(printed.proxy.named.billing.staticHeaders).toEqual({ 'X-Api-Key': '********' })
  })
})

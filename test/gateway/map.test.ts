/**
 * Map subscriptions (issue 17 item 3) with the real SDK: keyed state in pages, the stream phase, live changes with no
 * gap, recovery, key TTL, map client presence, tags filters, `map_publish`/`map_remove`, and what is refused. The
 * same suite runs on one node (memory map broker) and on two nodes over Redis (subscribers on A, writes on B).
 */
import type { Centrifuge } from 'centrifuge'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { NamespaceOptions } from '../../src/realtime/config.js'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { newSdk } from '../helpers/sdk.js'
import { gatewayTransport, itWebSocketOnly, jsonValuedProtobufSdk } from '../helpers/transports.js'
import { openRaw } from './raw.js'
import WebSocket from 'ws'
import { randomPrefix, serviceUrl } from '../realtime/services.js'
import { all, next, type Emitter } from '../helpers/map-events.js'

async function waitUntil(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** The namespaces of these tests, as a Centrifugo configuration would give them. */
const MAP = { allowPublishForClient: true, allowRemoveForClient: true, minPageSize: 1 }
const NAMESPACES: Record<string, Partial<NamespaceOptions>> = {
  kv: { subscriptionType: 'map', allowSubscribe: true, allowTagsFilter: true, map: { mode: 'persistent', ...MAP } },
  small: { subscriptionType: 'map', allowSubscribe: true, map: { mode: 'persistent', streamSize: 3, ...MAP } },
  eph: { subscriptionType: 'map', allowSubscribe: true, map: { mode: 'ephemeral', keyTtlMs: 60_000, ...MAP } },
  ttl: { subscriptionType: 'map', allowSubscribe: true, map: { mode: 'recoverable', keyTtlMs: 300, ...MAP } },
  room: { subscriptionType: 'map', allowSubscribe: true, mapClientsPresenceChannelPrefix: 'who:', map: { mode: 'ephemeral', keyTtlMs: 60_000 } },
  who: { subscriptionType: 'map_clients', allowSubscribe: true, map: { mode: 'ephemeral', keyTtlMs: 60_000 } },
  mine: { subscriptionType: 'map', allowSubscribe: true, map: { mode: 'ephemeral', keyTtlMs: 60_000, clientKey: 'client_id', allowPublishForSubscriber: true } },
  ro: { subscriptionType: 'map', allowSubscribe: true, map: { mode: 'persistent' } },
  dk: { subscriptionType: 'map', allowSubscribe: true, allowedDeltaTypes: ['fossil'], deltaPublish: true, map: { mode: 'persistent', ...MAP } },
  plain: { historySize: 10, allowSubscribe: true, allowPublish: true },
}

const start = (extra: { redisUrl?: string; redisPrefix?: string } = {}) =>
  startTestLivedesk({
    ...extra,
    hooks: { authenticate: async (e) => ({ user: (e.data as { user: string }).user }) },
    // A tight command budget: the pages of one map subscribe count as one command (the paging tests page 30+ times).
    realtime: { namespaces: NAMESPACES, mapExpireIntervalMs: 50, presenceTtlMs: 3_000, commandRate: { points: 25, windowMs: 60_000 } },
  })

let seq = 0
const unique = (ns: string) => `${ns}:${Date.now().toString(36)}-${++seq}`

/**
 * The suite on a cluster: `reader` is where the SDK clients connect, `writer` where the server API is called
 * (the same node without Redis).
 */
function mapSuite(cluster: () => { reader: TestLivedesk; writer: TestLivedesk }): void {
  const open: Centrifuge[] = []
  afterEach(() => {
    for (const sdk of open.splice(0)) sdk.disconnect()
  })

  /** A connected SDK client; `protobuf` picks the protobuf SDK over WebSocket whatever GATEWAY_TRANSPORT says. */
  async function client(user = 'u1', node = cluster().reader, protobuf = false): Promise<{ sdk: Centrifuge; id: string }> {
    const sdk = protobuf
      ? jsonValuedProtobufSdk(node.wsUrl, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, data: { user } })
      : newSdk(node.wsUrl, { data: { user } })
    open.push(sdk)
    const connected = next(sdk as unknown as Emitter, 'connected')
    sdk.connect()
    return { sdk, id: (await connected).client }
  }

  const api = async (method: string, body: unknown) => {
    const res = await serverApi(cluster().writer, method, body)
    expect(res.status).toBe(200)
    return res.body
  }
  const put = async (channel: string, key: string, data: unknown, extra: object = {}) => {
    const body = await api('map_publish', { channel, key, data, ...extra })
    expect(body.error).toBeUndefined()
    return body.result
  }

  /** Subscribes and resolves with the `subscribed` context and the first `sync`. */
  async function subscribe(sub: any): Promise<{ subscribed: any; sync: any }> {
    const subscribed = next(sub, 'subscribed')
    const sync = next(sub, 'sync')
    sub.subscribe()
    return { subscribed: await subscribed, sync: await sync }
  }

  it('delivers the state in pages, then changes from the server API and from clients, with the server API results of Centrifugo', async () => {
    const ch = unique('kv')
    for (let i = 1; i <= 5; i++) expect(await put(ch, `k${i}`, { i })).toEqual({ offset: i, epoch: expect.any(String) })
    const { sdk } = await client()
    const sub: any = sdk.newMapSubscription(ch, { pageSize: 2 })
    const { subscribed, sync } = await subscribe(sub)
    expect(subscribed).toMatchObject({ channel: ch, recoverable: true, positioned: false })
    expect(sync.entries.map((e: any) => [e.key, e.data])).toEqual([1, 2, 3, 4, 5].map((i) => [`k${i}`, { i }]))

    const updates = all(sub, 'update')
    await put(ch, 'k6', { i: 6 })
    await sub.publish('k7', { from: 'client' })
    await sub.remove('k1')
    expect(await api('map_remove', { channel: ch, key: 'k2' })).toEqual({ result: { offset: 9, epoch: expect.any(String) } })
    await waitUntil(() => updates.length === 4, 'four updates')
    // A removal has no data (over protobuf: the empty bytes field).
    expect(updates.map((u) => [u.key, u.removed ? null : u.data, u.removed ?? false])).toEqual([
      ['k6', { i: 6 }, false], ['k7', { from: 'client' }, false], ['k1', null, true], ['k2', null, true],
    ])
    // A client's write carries its client info, as a publication from a client does.
    expect(updates[1].info).toMatchObject({ user: 'u1' })

    // Suppressed writes change nothing and say why.
    expect(await api('map_remove', { channel: ch, key: 'nope' })).toEqual({ result: { offset: 9, epoch: expect.any(String), suppressed: true, suppress_reason: 'key_not_found' } })
    expect((await api('map_publish', { channel: ch, key: 'k3', data: {}, key_mode: 'if_new' })).result).toMatchObject({ suppressed: true, suppress_reason: 'key_exists' })
    expect((await api('map_publish', { channel: ch, key: 'k9', data: 1, key_mode: 'if_exists' })).result).toMatchObject({ suppressed: true, suppress_reason: 'key_not_found' })
    expect((await api('map_publish', { channel: ch, key: 'v', data: 1, version: 2 })).result.suppressed).toBeUndefined()
    expect((await api('map_publish', { channel: ch, key: 'v', data: 0, version: 1 })).result).toMatchObject({ suppressed: true, suppress_reason: 'version' })
    expect((await api('map_publish', { channel: ch, key: 'i', data: 1, idempotency_key: 'once' })).result.suppressed).toBeUndefined()
    expect((await api('map_publish', { channel: ch, key: 'i', data: 2, idempotency_key: 'once' })).result).toMatchObject({ suppressed: true, suppress_reason: 'idempotency' })

    const later = await client('u2')
    const { sync: again } = await subscribe(later.sdk.newMapSubscription(ch, { pageSize: 3 }))
    expect(Object.fromEntries(again.entries.map((e: any) => [e.key, e.data]))).toEqual({ k3: { i: 3 }, k4: { i: 4 }, k5: { i: 5 }, k6: { i: 6 }, k7: { from: 'client' }, v: 1, i: 1 })
  })

  it('loses and doubles no change while a subscriber pages through a state that is being written', async () => {
    const ch = unique('kv')
    for (let i = 0; i < 30; i++) await put(ch, `k${i}`, { v: 0 })
    const { sdk } = await client()
    const sub: any = sdk.newMapSubscription(ch, { pageSize: 1 })
    const view = new Map<string, unknown>()
    let lastOffset = 0
    sub.on('sync', (ctx: any) => {
      view.clear()
      for (const e of ctx.entries) view.set(e.key, e.data)
    })
    sub.on('update', (u: any) => {
      if (u.removed) view.delete(u.key)
      else view.set(u.key, u.data)
      lastOffset = u.offset ?? lastOffset
    })
    let writing = true
    let top = 0
    const writer = (async () => {
      // Bounded: writes until the subscriber is live, and at most 300.
      for (let n = 1; n <= 300 && (writing || n < 20); n++) {
        const key = `k${n % 37}`
        const result = n % 11 === 0 ? (await api('map_remove', { channel: ch, key })).result : await put(ch, key, { v: n })
        top = Math.max(top, result.offset)
      }
    })()
    const subscribed = next(sub, 'subscribed')
    sub.subscribe()
    await subscribed
    writing = false
    await writer
    await waitUntil(() => lastOffset >= top, `the update at offset ${top}`)
    const fresh = await client('u2')
    const { sync } = await subscribe(fresh.sdk.newMapSubscription(ch))
    expect(Object.fromEntries(view)).toEqual(Object.fromEntries(sync.entries.map((e: any) => [e.key, e.data])))
  })

  it('recovers the changes missed while disconnected, without a new sync; from the state when the stream no longer has them', async () => {
    const ch = unique('kv')
    await put(ch, 'a', 1)
    const { sdk } = await client()
    const sub: any = sdk.newMapSubscription(ch)
    await subscribe(sub)
    const syncs = all(sub, 'sync')
    sdk.disconnect()
    await put(ch, 'b', 2)
    await api('map_remove', { channel: ch, key: 'a' })
    const resubscribed = next(sub, 'subscribed')
    const updates = all(sub, 'update')
    sdk.connect()
    expect(await resubscribed).toMatchObject({ wasRecovering: true, recovered: true })
    await waitUntil(() => updates.length === 2, 'the missed updates')
    expect(updates.map((u) => [u.key, u.removed ?? false])).toEqual([['b', false], ['a', true]])
    expect(syncs).toHaveLength(0)

    // A stream of 3 no longer holds what 5 writes made: the SDK is told 112 and starts again from the state.
    const small = unique('small')
    await put(small, 'x', 0)
    const sub2: any = sdk.newMapSubscription(small)
    await subscribe(sub2)
    sub2.unsubscribe()
    for (let i = 1; i <= 5; i++) await put(small, `y${i}`, i)
    const { subscribed, sync } = await subscribe(sub2)
    expect(subscribed.recovered).toBe(false)
    expect(sync.entries.map((e: any) => e.key).sort()).toEqual(['x', 'y1', 'y2', 'y3', 'y4', 'y5'])
  })

  it('removes a key when its TTL passes and tells subscribers once, in the stream', async () => {
    const ch = unique('ttl')
    const { sdk } = await client()
    const sub: any = sdk.newMapSubscription(ch)
    await subscribe(sub)
    const removed = next(sub, 'update', (u) => u.removed)
    const written = await put(ch, 'brief', { v: 1 })
    const removal = await removed
    expect(removal).toMatchObject({ key: 'brief', removed: true, offset: written.offset + 1 })
    // One removal whichever node swept it: the next write follows it directly in the stream.
    expect((await put(ch, 'after', 1)).offset).toBe(written.offset + 2)
    const fresh = await client('u2')
    const { sync } = await subscribe(fresh.sdk.newMapSubscription(ch))
    expect(sync.entries.map((e: any) => e.key)).toEqual(['after'])
  })

  it('keeps a map of the clients subscribed to a channel (map_clients presence)', async () => {
    const ch = unique('room')
    const watcher = await client('watcher')
    const who: any = watcher.sdk.newMapClientsSubscription(`who:${ch}`)
    const { sync } = await subscribe(who)
    expect(sync.entries).toEqual([])
    const joined = next(who, 'update', (u) => !u.removed)
    // The member connects to the other node when there are two.
    const member = await client('member', cluster().writer)
    const mainSub: any = member.sdk.newMapSubscription(ch)
    await subscribe(mainSub)
    expect(await joined).toMatchObject({ key: member.id, info: { user: 'member', client: member.id } })
    const left = next(who, 'update', (u) => u.removed)
    mainSub.unsubscribe()
    expect(await left).toMatchObject({ key: member.id, removed: true })
  })

  it('writes a client key as its client id when the namespace says client_key, and filters by tags', async () => {
    const mine = unique('mine')
    const { sdk, id } = await client()
    const sub: any = sdk.newMapSubscription(mine)
    await subscribe(sub)
    const update = next(sub, 'update')
    await sub.publish('any-key', { cursor: 1 })
    expect((await update).key).toBe(id)

    const ch = unique('kv')
    await put(ch, 'e1', 1, { tags: { team: 'eng' } })
    await put(ch, 's1', 2, { tags: { team: 'sales' } })
    const filtered: any = sdk.newMapSubscription(ch, { tagsFilter: { key: 'team', cmp: 'eq', val: 'eng' } })
    const { sync } = await subscribe(filtered)
    expect(sync.entries.map((e: any) => e.key)).toEqual(['e1'])
    const live = next(filtered, 'update')
    await put(ch, 's2', 3, { tags: { team: 'sales' } })
    await put(ch, 'e2', 4, { tags: { team: 'eng' } })
    expect(await live).toMatchObject({ key: 'e2', tags: { team: 'eng' } })
  })

  it('refuses what Centrifugo refuses, with its codes', async () => {
    const { sdk } = await client()
    // A map subscribe to a stream namespace, and a stream subscribe to a map namespace: 103.
    const wrongType: any = sdk.newMapSubscription(unique('plain'))
    const refused = next(wrongType, 'unsubscribed')
    wrongType.subscribe()
    expect((await refused).code).toBe(103)
    const stream = sdk.newSubscription(unique('kv'))
    const refusedStream = next(stream as unknown as Emitter, 'unsubscribed')
    stream.subscribe()
    expect((await refusedStream).code).toBe(103)
    // A namespace without client writes.
    const ro: any = sdk.newMapSubscription(unique('ro'))
    await subscribe(ro)
    await expect(ro.publish('k', 1)).rejects.toMatchObject({ code: 103 })
    await expect(ro.remove('k')).rejects.toMatchObject({ code: 103 })
    // The server API names the field at fault.
    expect(await api('map_publish', { channel: unique('kv'), data: 1 })).toEqual({ error: { code: 107, message: 'bad request: key is required' } })
    expect(await api('map_publish', { channel: unique('kv'), key: 'k' })).toEqual({ error: { code: 107, message: 'bad request: data is required' } })
    expect(await api('map_publish', { channel: unique('kv'), key: 'k', data: 1, key_mode: 'sometimes' })).toEqual({ error: { code: 107, message: 'bad request: key_mode must be if_new or if_exists' } })
    expect((await api('map_publish', { channel: unique('plain'), key: 'k', data: 1 })).error).toMatchObject({ code: 107 })
    expect((await api('map_remove', { channel: 7, key: 'k' })).error).toEqual({ code: 107, message: 'bad request: channel must be a string' })
  })

  itWebSocketOnly('answers a malformed map subscribe or publish with an error reply, never a crash or a 100', 'sends frames the SDK never sends', async () => {
    const raw = await openRaw(cluster().reader.wsUrl)
    expect((await raw.connect({ user: 'raw' })).connect).toBeDefined()
    const ch = unique('kv')
    const replies: Array<[object, number]> = [
      [{ channel: ch, type: 1, phase: 'two' }, 107],
      [{ channel: ch, type: 1, phase: 7 }, 107],
      [{ channel: ch, type: 1, phase: 2, limit: 1.5 }, 107],
      [{ channel: ch, type: 1, phase: 2, cursor: 'k9' }, 103],
      [{ channel: ch, type: 1, phase: 1 }, 103],
      [{ channel: unique('eph'), type: 1, phase: 1, recover: true, offset: 1, epoch: 'x' }, 107],
      [{ channel: unique('small'), type: 1, phase: 2, tf: { key: 'a', cmp: 'eq', val: 'b' } }, 107],
      [{ channel: ch, type: 1, phase: 2, tf: { op: 'xor', nodes: [] } }, 107],
      [{ channel: ch, type: 2, phase: 2 }, 103],
      [{ channel: ch, type: 1, phase: 0, recover: true, offset: 5, epoch: 'gone' }, 112],
    ]
    let id = 10
    for (const [subscribe, code] of replies) {
      raw.send(JSON.stringify({ id: ++id, subscribe }))
      expect([subscribe, (await raw.waitFor((l) => l.id === id)).error?.code]).toEqual([subscribe, code])
    }
    raw.send(JSON.stringify({ id: ++id, publish: { channel: ch, type: 1, key: 7, data: 1 } }))
    expect((await raw.waitFor((l) => l.id === id)).error?.code).toBe(107)
    raw.send(JSON.stringify({ id: ++id, publish: { channel: ch, type: 1, key: 'k' } }))
    expect((await raw.waitFor((l) => l.id === id)).error?.code).toBe(107)
    // After all that the connection still works: a state page answers.
    raw.send(JSON.stringify({ id: ++id, subscribe: { channel: ch, type: 1, phase: 2 } }))
    expect((await raw.waitFor((l) => l.id === id)).subscribe).toMatchObject({ type: 1, epoch: expect.any(String) })
    raw.ws.close()
  })

  // The JSON-valued protobuf SDK of the tests parses every payload as JSON, which a delta is not.
  it.skipIf(gatewayTransport().name === 'websocket-protobuf')('sends each key\'s changes as fossil deltas against its previous value to subscribers that ask', async () => {
    const ch = unique('dk')
    const filler = 'f'.repeat(400)
    await put(ch, 'a', { n: 0, filler })
    const { sdk } = await client()
    const sub: any = sdk.newMapSubscription(ch, { delta: 'fossil' })
    const { sync } = await subscribe(sub)
    expect(sync.entries).toMatchObject([{ key: 'a', data: { n: 0, filler } }])
    const updates = all(sub, 'update')
    await put(ch, 'a', { n: 1, filler })
    await put(ch, 'b', { n: 1, filler })
    await put(ch, 'b', { n: 2, filler })
    await api('map_remove', { channel: ch, key: 'a' })
    await waitUntil(() => updates.length === 4, 'four updates')
    expect(updates.map((u) => [u.key, u.removed ? null : u.data])).toEqual([['a', { n: 1, filler }], ['b', { n: 1, filler }], ['b', { n: 2, filler }], ['a', null]])
    // a: against the state's value; b: whole first, then a delta; the removal whole.
    const stats = sub.deltaStats()
    expect(stats).toMatchObject({ numDeltaPayloads: 2 })
    expect(stats.bytesReceived).toBeLessThan(stats.bytesDecoded)
  })

  it('serves map subscriptions to the protobuf SDK', async () => {
    const ch = unique('kv')
    await put(ch, 'p1', { n: 1 }, { tags: { t: 'x' } })
    const { sdk } = await client('pb', cluster().reader, true)
    const sub: any = sdk.newMapSubscription(ch)
    const { subscribed, sync } = await subscribe(sub)
    expect(subscribed.recoverable).toBe(true)
    expect(sync.entries).toMatchObject([{ key: 'p1', data: { n: 1 }, tags: { t: 'x' } }])
    const updates = all(sub, 'update')
    await put(ch, 'p2', { n: 2 })
    await sub.remove('p1')
    await waitUntil(() => updates.length === 2, 'two updates over protobuf')
    // A removal has no data: over protobuf that is the empty bytes field.
    expect(updates.map((u) => [u.key, u.removed ? null : u.data, u.removed ?? false])).toEqual([['p2', { n: 2 }, false], ['p1', null, true]])
  })
}

describe('map subscriptions on one node', () => {
  let node: TestLivedesk
  beforeAll(async () => {
    node = await start()
  })
  mapSuite(() => ({ reader: node, writer: node }))
})

const redisUrl = serviceUrl('REDIS_URL', 'map subscriptions on two nodes over Redis')
if (redisUrl) {
  describe('map subscriptions on two nodes over Redis', () => {
    let a: TestLivedesk
    let b: TestLivedesk
    beforeAll(async () => {
      const redisPrefix = randomPrefix('map')
      ;[a, b] = await Promise.all([start({ redisUrl, redisPrefix }), start({ redisUrl, redisPrefix })])
    })
    mapSuite(() => ({ reader: a, writer: b }))
  })
}

/**
 * Centrifugo v6 OSS server API parity (issue 17 item 5): the methods and request fields the earlier server API
 * lacked (`rpc`, `map_read_state`, `map_read_stream`, `map_stats`, `map_clear`, `subscribe`'s `override`,
 * `info`/`b64info`, `b64data`, `recover_since`, `refresh`'s `info`), the PRO-only methods answered as OSS answers
 * them, the legacy `POST /api` body in all its forms, and the per-request transport error mode. The real SDK over
 * real sockets, the real HTTP API.
 */
import type { Centrifuge } from 'centrifuge'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { NamespaceOptions } from '../../src/realtime/config.js'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { randomPrefix, serviceUrl } from '../realtime/services.js'
import { fromCentrifugo } from '../../src/config/centrifugo.js'
import { PRO_ONLY_METHODS } from '../../src/http/server-api.js'

const NAMESPACES: Record<string, Partial<NamespaceOptions>> = {
  // Presence and join/leave off: only an override turns them on.
  quiet: { historySize: 0, presence: false, joinLeave: false, forcePushJoinLeave: false },
  // History for recover_since.
  feed: { historySize: 20, historyTtlMs: 60_000 },
  room: { historySize: 0, presence: true },
  kv: { subscriptionType: 'map', allowSubscribe: true, map: { mode: 'persistent' } },
}

let livedesk: TestLivedesk
beforeAll(async () => {
  livedesk = await startTestLivedesk({
    hooks: { authenticate: async (e) => ({ user: (e.data as { user: string }).user, info: { v: 1 } }) },
    realtime: { namespaces: NAMESPACES },
  })
})

const open: Centrifuge[] = []
afterEach(() => {
  for (const sdk of open.splice(0)) sdk.disconnect()
})

let seq = 0
const unique = (ns: string) => `${ns}:${Date.now().toString(36)}-${++seq}`

async function client(user: string): Promise<{ sdk: Centrifuge; id: string }> {
  const sdk = newSdk(livedesk.wsUrl, { data: { user } })
  open.push(sdk)
  const connected = nextEvent(sdk, 'connected')
  sdk.connect()
  return { sdk, id: (await connected).client }
}

const api = (method: string, body: unknown) => serverApi(livedesk, method, body)
const ok = async (method: string, body: unknown) => {
  const res = await api(method, body)
  expect(res.status).toBe(200)
  expect(res.body.error).toBeUndefined()
  return res.body.result
}
const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${livedesk.url}${path}`, { method: 'POST', headers: { 'x-api-key': livedesk.apiKey, ...headers }, body })

describe('server API methods Centrifugo v6 OSS has', () => {
  it('rpc: a method is required (107); OSS registers none, so any method is 104 not found', async () => {
    expect((await api('rpc', {})).body.error).toMatchObject({ code: 107, message: expect.stringContaining('method') })
    expect((await api('rpc', { method: 'getUserStatus', params: { users: ['u'] } })).body).toEqual({ error: { code: 104, message: 'not found' } })
  })

  it('map_read_state, map_read_stream, map_stats and map_clear answer with Centrifugo\'s result shapes; map_clear reaches subscribers', async () => {
    const ch = unique('kv')
    for (let i = 1; i <= 5; i++) await ok('map_publish', { channel: ch, key: `k${i}`, data: { i }, ...(i === 2 ? { tags: { t: 'two' } } : {}) })

    const all = await ok('map_read_state', { channel: ch })
    expect(all).toEqual({
      entries: [1, 2, 3, 4, 5].map((i) => ({ key: `k${i}`, data: { i }, offset: i, ...(i === 2 ? { tags: { t: 'two' } } : {}) })),
      offset: 5, epoch: expect.any(String),
    })
    const page1 = await ok('map_read_state', { channel: ch, limit: 2 })
    expect(page1.entries.map((e: any) => e.key)).toEqual(['k1', 'k2'])
    expect(page1.cursor).toEqual(expect.any(String))
    const page2 = await ok('map_read_state', { channel: ch, limit: 2, cursor: page1.cursor })
    expect(page2.entries.map((e: any) => e.key)).toEqual(['k3', 'k4'])
    expect(await ok('map_read_state', { channel: ch, key: 'k4' })).toMatchObject({ entries: [{ key: 'k4', data: { i: 4 } }], offset: 5 })
    // A revision of another epoch is 112, as a history `since` of another epoch.
    expect((await api('map_read_state', { channel: ch, revision_offset: 1, revision_epoch: 'gone' })).body.error).toMatchObject({ code: 112 })

    expect((await ok('map_read_stream', { channel: ch, since_offset: 3, since_epoch: all.epoch })).entries.map((e: any) => e.offset)).toEqual([4, 5])
    expect((await ok('map_read_stream', { channel: ch, limit: 2 })).entries.map((e: any) => e.key)).toEqual(['k1', 'k2'])
    expect((await ok('map_read_stream', { channel: ch, reverse: true })).entries.map((e: any) => e.key)).toEqual(['k5', 'k4', 'k3', 'k2', 'k1'])
    expect(await ok('map_stats', { channel: ch })).toEqual({ num_keys: 5 })

    const { sdk } = await client('map-watcher')
    const sub: any = sdk.newMapSubscription(ch)
    const synced = nextEvent(sub, 'sync' as any)
    sub.subscribe()
    await synced
    const updates: any[] = collect(sub, 'update' as any)
    expect(await ok('map_clear', { channel: ch })).toEqual({})
    await until(() => updates.length === 5, 5_000, 'five removals')
    expect(updates.every((u) => u.removed)).toBe(true)
    expect(await ok('map_stats', { channel: ch })).toEqual({})
    expect((await ok('map_read_state', { channel: ch })).entries).toEqual([])

    // Not a map namespace: 107 naming the channel, as Centrifugo's bad request for map methods on stream namespaces.
    for (const method of ['map_read_state', 'map_read_stream', 'map_stats', 'map_clear']) {
      expect((await api(method, { channel: 'quiet:x' })).body.error).toMatchObject({ code: 107 })
      expect((await api(method, {})).body.error).toMatchObject({ code: 107, message: expect.stringContaining('channel') })
    }
  })

  it('subscribe: override turns on presence and join/leave for that subscription; info becomes its chan_info; b64data its data', async () => {
    const ch = unique('quiet')
    const watcher = await client('watcher')
    const joined = collect(watcher.sdk, 'join')
    const subscribedW = nextEvent(watcher.sdk, 'subscribed', (c) => c.channel === ch)
    await ok('subscribe', { user: 'watcher', channel: ch, override: { presence: { value: true }, join_leave: { value: true }, force_push_join_leave: { value: true } } })
    await subscribedW

    const target = await client('target')
    const subscribed = nextEvent(target.sdk, 'subscribed', (c) => c.channel === ch)
    await ok('subscribe', {
      user: 'target', channel: ch, b64info: Buffer.from(JSON.stringify({ role: 'guest' })).toString('base64'),
      b64data: Buffer.from(JSON.stringify({ welcome: true })).toString('base64'),
      override: { presence: { value: true }, join_leave: { value: true }, force_push_join_leave: { value: true } },
    })
    expect((await subscribed).data).toEqual({ welcome: true })
    await until(() => joined.some((j) => j.info.user === 'target'), 5_000, 'the join of target')
    expect(joined.find((j) => j.info.user === 'target')!.info).toMatchObject({ client: target.id, connInfo: { v: 1 }, chanInfo: { role: 'guest' } })

    // room has presence on: the override is not needed there, and chan_info shows in presence.
    const room = unique('room')
    const inRoom = nextEvent(target.sdk, 'subscribed', (c) => c.channel === room)
    await ok('subscribe', { user: 'target', channel: room, info: { seat: 7 } })
    await inRoom
    const presence = await ok('presence', { channel: room })
    expect(presence.presence[target.id]).toEqual({ user: 'target', client: target.id, conn_info: { v: 1 }, chan_info: { seat: 7 } })

    // Malformed overrides and positions name the field.
    expect((await api('subscribe', { user: 'target', channel: ch, override: { presence: true } })).body.error).toMatchObject({ code: 107, message: expect.stringContaining('override.presence') })
    expect((await api('subscribe', { user: 'target', channel: ch, recover_since: { offset: 'x' } })).body.error).toMatchObject({ code: 107, message: expect.stringContaining('recover_since.offset') })
    expect((await api('subscribe', { user: 'target', channel: ch, expire_at: 'soon' })).body.error).toMatchObject({ code: 107, message: expect.stringContaining('expire_at') })
  })

  it('subscribe with recover_since: the publications after that position follow the subscribed event, in order', async () => {
    const ch = unique('feed')
    const first = await ok('publish', { channel: ch, data: { n: 1 } })
    await ok('publish', { channel: ch, data: { n: 2 } })
    await ok('publish', { channel: ch, data: { n: 3 } })
    const { sdk } = await client('recoverer')
    const pubs = collect(sdk, 'publication')
    const subscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === ch)
    await ok('subscribe', { user: 'recoverer', channel: ch, recover_since: { offset: first.offset, epoch: first.epoch } })
    expect(await subscribed).toMatchObject({ channel: ch, recoverable: true, streamPosition: { offset: 3, epoch: first.epoch } })
    await until(() => pubs.length === 2, 5_000, 'two recovered publications')
    expect(pubs.map((p) => [p.data, p.offset])).toEqual([[{ n: 2 }, 2], [{ n: 3 }, 3]])
    await ok('publish', { channel: ch, data: { n: 4 } })
    await until(() => pubs.length === 3, 5_000, 'the live publication')
    expect(pubs[2]).toMatchObject({ data: { n: 4 }, offset: 4 })
  })

  it('refresh with info: the connection\'s conn_info changes for what it does next', async () => {
    const { sdk, id } = await client('refreshed')
    await ok('refresh', { user: 'refreshed', info: { v: 2, plan: 'pro' } })
    // The refresh is a control message: wait for it by what it changes.
    const room = unique('room')
    const subscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === room)
    await ok('subscribe', { user: 'refreshed', channel: room })
    await subscribed
    expect((await ok('presence', { channel: room })).presence[id]).toMatchObject({ conn_info: { v: 2, plan: 'pro' } })
  })

  it('disconnect with session reaches only the connection with that session id (subscribe, unsubscribe and refresh take session alike)', async () => {
    const a = await client('sessions')
    const b = await client('sessions')
    // No connection has this session: nothing happens (the client-targeted disconnect after it is the barrier).
    await ok('disconnect', { user: 'sessions', session: 'no-such-session' })
    const bGone = nextEvent(b.sdk, 'disconnected')
    await ok('disconnect', { user: 'sessions', client: b.id })
    await bGone
    // a is still connected: it takes a server-side subscription.
    const alive = unique('quiet')
    const subscribed = nextEvent(a.sdk, 'subscribed', (c) => c.channel === alive, 3_000)
    await ok('subscribe', { user: 'sessions', client: a.id, channel: alive })
    await subscribed
    expect(a.sdk.state).toBe('connected')
    // Emulated transports (SSE, HTTP-streaming) give a connection a session id: it alone is reached by it.
    const session = livedesk.node.hub.clients.get(a.id)?.session
    if (session) {
      const aGone = nextEvent(a.sdk, 'disconnected')
      await ok('disconnect', { user: 'sessions', session })
      expect(await aGone).toMatchObject({ code: 3503 })
    }
  })
})

describe('methods only Centrifugo PRO serves, and the legacy body', () => {
  it('answers PRO-only methods as OSS does: 404 on their path, 104 in a batch and in a legacy body', async () => {
    expect(PRO_ONLY_METHODS).toEqual(expect.arrayContaining(['connections', 'update_user_status', 'get_user_status', 'block_user', 'revoke_token', 'invalidate_user_tokens', 'send_push_notification']))
    for (const method of PRO_ONLY_METHODS) {
      const res = await api(method, { user: 'u' })
      expect(res.status, method).toBe(404)
      expect(res.body.error.code).toBe(104)
    }
    const batch = await ok('batch', { commands: [{ connections: { user: 'u' } }, { info: {} }, {}] })
    expect(batch.replies[0]).toEqual({ error: { code: 104, message: 'not found' } })
    expect(batch.replies[1].info.nodes).toHaveLength(1)
    expect(batch.replies[2]).toEqual({ error: { code: 104, message: 'not found' } })

    const legacy = await post('/api', JSON.stringify({ method: 'connections', params: { user: 'u' } }))
    expect(legacy.status).toBe(200)
    expect(await legacy.json()).toEqual({ error: { code: 104, message: 'not found' } })
  })

  it('legacy POST /api takes the method in any case or as its number, echoes id, and answers several commands one a line', async () => {
    const ch = unique('feed')
    const { sdk } = await client('legacy')
    const pubs = collect(sdk, 'publication')
    const subscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === ch)
    await ok('subscribe', { user: 'legacy', channel: ch })
    await subscribed

    const upper = await post('/api', JSON.stringify({ id: 7, method: 'PUBLISH', params: { channel: ch, data: { n: 1 } } }))
    expect(await upper.json()).toEqual({ id: 7, result: { offset: 1, epoch: expect.any(String) } })
    // Numbers as Centrifugo's Command.MethodType: 0 publish, 6 history.
    const numbered = await post('/api', JSON.stringify({ method: 0, params: { channel: ch, data: { n: 2 } } }))
    expect((await numbered.json()).result.offset).toBe(2)

    const body = [
      { id: 1, method: 'publish', params: { channel: ch, data: { n: 3 } } },
      { id: 2, method: 6, params: { channel: ch, limit: -1 } },
      { id: 3, method: 'presence', params: {} },
    ].map((c) => JSON.stringify(c)).join('\n')
    const several = await post('/api', body)
    expect(several.status).toBe(200)
    const lines = (await several.text()).split('\n').map((l) => JSON.parse(l))
    expect(lines).toHaveLength(3)
    expect(lines[0]).toEqual({ id: 1, result: { offset: 3, epoch: expect.any(String) } })
    expect(lines[1].id).toBe(2)
    expect(lines[1].result.publications.map((p: any) => p.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(lines[2]).toMatchObject({ id: 3, error: { code: 107 } })
    await until(() => pubs.length === 3, 5_000, 'three publications')

    // A method name Centrifugo does not know does not decode: the whole request is 400.
    expect((await post('/api', JSON.stringify({ method: 'no_such_method', params: {} }))).status).toBe(400)
  })
})

describe('transport error mode (X-Centrifugo-Error-Mode: transport)', () => {
  it('answers an error with its HTTP status and a bare {code, message}; batch keeps per-command errors', async () => {
    const transport = { 'x-centrifugo-error-mode': 'transport', 'content-type': 'application/json' }
    const notAvailable = await post('/api/history', JSON.stringify({ channel: unique('quiet') }), transport)
    expect(notAvailable.status).toBe(400)
    expect(await notAvailable.json()).toEqual({ code: 108, message: 'not available' })
    const badRequest = await post('/api/publish', JSON.stringify({ data: {} }), transport)
    expect(badRequest.status).toBe(400)
    expect(await badRequest.json()).toMatchObject({ code: 107, message: expect.stringContaining('channel') })
    const notFound = await post('/api/rpc', JSON.stringify({ method: 'x' }), transport)
    expect(notFound.status).toBe(404)
    expect(await notFound.json()).toEqual({ code: 104, message: 'not found' })
    const unrecoverable = await post('/api/history', JSON.stringify({ channel: unique('feed'), since: { offset: 1, epoch: 'gone' } }), transport)
    expect(unrecoverable.status).toBe(416)
    expect((await unrecoverable.json()).code).toBe(112)

    const batch = await post('/api/batch', JSON.stringify({ commands: [{ rpc: { method: 'x' } }] }), transport)
    expect(batch.status).toBe(200)
    expect(await batch.json()).toEqual({ result: { replies: [{ error: { code: 104, message: 'not found' } }] } })
    // Without the header: the default mode, HTTP 200 with {error}.
    const plain = await post('/api/rpc', JSON.stringify({ method: 'x' }))
    expect(plain.status).toBe(200)
    expect(await plain.json()).toEqual({ error: { code: 104, message: 'not found' } })
  })
})

describe('transport error mode for every request (http_api.error_mode: transport)', () => {
  it('is taken from a Centrifugo configuration file and applies without the header', async () => {
    const { options, warnings } = fromCentrifugo({ http_api: { key: 'file-key', error_mode: 'transport' }, channel: { namespaces: [{ name: 'feed', history_size: 10, history_ttl: '60s' }] } })
    expect(warnings).toEqual([])
    expect(options.serverApiErrorMode).toBe('transport')
    expect(() => fromCentrifugo({ http_api: { error_mode: 'loud' } })).toThrow(/http_api\.error_mode/)
    const other = await startTestLivedesk({ ...options, hooks: {} })
    const res = await fetch(`${other.url}/api/rpc`, { method: 'POST', headers: { 'x-api-key': other.apiKey }, body: JSON.stringify({ method: 'x' }) })
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ code: 104, message: 'not found' })
    const published = await serverApi(other, 'publish', { channel: 'feed:1', data: { ok: true } })
    expect(published).toEqual({ status: 200, body: { result: { offset: 1, epoch: expect.any(String) } } })
  })
})

/**
 * publish and broadcast `version`/`version_epoch` (centrifuge `WithVersion`): an out-of-order version of the same
 * epoch publishes nothing and answers the current top; another epoch starts over. On the memory broker and on Redis
 * (writes on node B, the subscriber on node A).
 */
function versionSuite(nodes: () => { reader: TestLivedesk; writer: TestLivedesk }): void {
  it('drops a publication whose version is not above the last one of its epoch; the subscriber sees only the newer ones', async () => {
    const { reader, writer } = nodes()
    const ch = unique('feed')
    const sdk = newSdk(reader.wsUrl, { data: { user: 'versioned' } })
    open.push(sdk)
    const pubs = collect(sdk, 'publication')
    const connected = nextEvent(sdk, 'connected')
    sdk.connect()
    await connected
    const subscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === ch)
    expect((await serverApi(reader, 'subscribe', { user: 'versioned', channel: ch })).body).toEqual({ result: {} })
    await subscribed
    const publish = async (body: object) => {
      const res = await serverApi(writer, 'publish', { channel: ch, ...body })
      expect(res.body.error).toBeUndefined()
      return res.body.result
    }
    const v5 = await publish({ data: { v: 5 }, version: 5 })
    expect(v5).toEqual({ offset: 1, epoch: expect.any(String) })
    // Older or equal: nothing published, the top answered.
    expect(await publish({ data: { v: 3 }, version: 3 })).toEqual(v5)
    expect(await publish({ data: { v: 5 }, version: 5 })).toEqual(v5)
    expect(await publish({ data: { v: 6 }, version: 6 })).toEqual({ offset: 2, epoch: v5.epoch })
    // A new version epoch (the source was reset): version 1 publishes again; then its own order holds.
    expect(await publish({ data: { v: 1, e: 'b' }, version: 1, version_epoch: 'b' })).toMatchObject({ offset: 3 })
    expect(await publish({ data: { v: 1, e: 'b' }, version: 1, version_epoch: 'b' })).toMatchObject({ offset: 3 })
    // broadcast takes the same fields.
    const b = (await serverApi(writer, 'broadcast', { channels: [ch], data: { v: 0 }, version: 1, version_epoch: 'b' })).body.result
    expect(b.responses[0].result).toMatchObject({ offset: 3 })
    // Unversioned publications are not checked.
    expect(await publish({ data: { plain: true } })).toMatchObject({ offset: 4 })
    await until(() => pubs.length === 4, 5_000, 'four publications')
    expect(pubs.map((p) => p.data)).toEqual([{ v: 5 }, { v: 6 }, { v: 1, e: 'b' }, { plain: true }])
    expect((await serverApi(writer, 'publish', { channel: ch, data: {}, version: -1 })).body.error).toMatchObject({ code: 107, message: expect.stringContaining('version') })
  })
}

describe('publish version on one node (memory broker)', () => {
  versionSuite(() => ({ reader: livedesk, writer: livedesk }))
})

const redisUrl = serviceUrl('REDIS_URL', 'publish version and info on two nodes over Redis')
if (redisUrl) {
  describe('publish version and info on two nodes over Redis', () => {
    let a: TestLivedesk
    let b: TestLivedesk
    const redisPrefix = randomPrefix('version')
    const options = () => ({ redisUrl, redisPrefix, hooks: { authenticate: async (e: any) => ({ user: (e.data as { user: string }).user }) }, realtime: { namespaces: NAMESPACES, nodeInfoIntervalMs: 100 } })
    beforeAll(async () => {
      ;[a, b] = await Promise.all([startTestLivedesk(options()), startTestLivedesk(options())])
    })
    versionSuite(() => ({ reader: a, writer: b }))

    it('channels counts the subscribers of every node (Centrifugo\'s survey), with pattern', async () => {
      const x = unique('quiet')
      const y = unique('quiet')
      const subscribeOn = async (l: TestLivedesk, user: string, channels: string[]) => {
        const sdk = newSdk(l.wsUrl, { data: { user } })
        open.push(sdk)
        const connected = nextEvent(sdk, 'connected')
        sdk.connect()
        await connected
        for (const channel of channels) {
          const subscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === channel)
          await serverApi(l, 'subscribe', { user, channel })
          await subscribed
        }
      }
      await subscribeOn(a, 'ch-a', [x])
      await subscribeOn(b, 'ch-b', [x, y])
      // B must be in A's registry before A can ask it.
      await until(async () => ((await serverApi(a, 'info', {})).body.result.nodes as any[]).length >= 2, 5_000, 'both nodes known')
      const all = (await serverApi(a, 'channels', {})).body.result.channels
      expect(all[x]).toEqual({ num_clients: 2 })
      expect(all[y]).toEqual({ num_clients: 1 })
      expect((await serverApi(a, 'channels', { pattern: y })).body.result).toEqual({ channels: { [y]: { num_clients: 1 } } })
    })

    it('info lists every node of the cluster with Centrifugo\'s NodeResult fields, and forgets a node that stopped', async () => {
      const sdk = newSdk(b.wsUrl, { data: { user: 'on-b' } })
      open.push(sdk)
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      await connected
      const nodesOf = async (l: TestLivedesk) => (await serverApi(l, 'info', {})).body.result.nodes as any[]
      await until(async () => (await nodesOf(a)).some((n) => n.uid === b.node.config.nodeId && n.num_clients === 1), 5_000, 'node B in A\'s info with its client')
      const nodes = await nodesOf(a)
      expect(nodes.map((n) => n.uid).sort()).toEqual([a.node.config.nodeId, b.node.config.nodeId].sort())
      expect(nodes[0]).toEqual({
        uid: a.node.config.nodeId, name: a.node.config.nodeId, version: expect.any(String),
        num_clients: expect.any(Number), num_users: expect.any(Number), num_channels: expect.any(Number), num_subs: expect.any(Number), uptime: expect.any(Number),
      })
      // A node that stops is gone from the list after twice the interval plus a second.
      const c = await startTestLivedesk(options())
      await until(async () => (await nodesOf(a)).some((n) => n.uid === c.node.config.nodeId), 5_000, 'node C in A\'s info')
      await c.close()
      await until(async () => !(await nodesOf(a)).some((n) => n.uid === c.node.config.nodeId), 5_000, 'node C gone from A\'s info')
      expect((await nodesOf(a)).length).toBe(2)
    })
  })
}

/**
 * Centrifugo's HTTP proxies (src/realtime/proxy/): a real backend on 127.0.0.1 (the user's server, a plain
 * node:http server here) answers connect, refresh, subscribe, publish, sub_refresh and rpc as Centrifugo v6's
 * proxy protocol says; the real `centrifuge` SDK talks to livedesk. Each test asserts the JSON livedesk sent.
 */
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Centrifuge } from 'centrifuge'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { connect, newOperator } from '../http/e2e.js'
import { newSdk, nextEvent, collect, until } from '../helpers/sdk.js'
import { serviceUrl } from '../realtime/services.js'
import { gatewayTransport } from '../helpers/transports.js'
import type { ProxyConfig } from '../../src/realtime/proxy/config.js'
import { proxyConfigFromCentrifugo } from '../../src/config/centrifugo-proxy.js'
import { ProxyBackend as Backend, type Answer, type Handler } from '../helpers/proxy-backend.js'

/** A `ws` that sends these headers with its upgrade request, as a browser behind a proxy would send cookies or X-Forwarded-For. */
const wsWithHeaders = (headers: Record<string, string>) =>
  class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers })
    }
  }

const nowSec = () => Math.floor(Date.now() / 1000)
/** This project's transport (vitest.config.ts runs the gateway suite over each): what the requests must name. */
const adapter = gatewayTransport()
const TRANSPORT = adapter.sdkTransport
const PROTOCOL = adapter.name === 'websocket-protobuf' ? 'protobuf' : 'json'
/** Only WebSocket upgrades carry headers the test can set (the `ws` constructor). */
const withHeaders = TRANSPORT === 'websocket'
const run = randomBytes(3).toString('hex')

function proxyConfig(url: string): ProxyConfig {
  return {
    connect: {
      endpoint: `${url}/connect`, timeoutMs: 400, httpHeaders: ['X-Tenant', 'x-forwarded-for'], emulatedHeaders: ['x-app-token'],
      staticHeaders: { 'x-static': 'from-config' }, statusToCodeTransforms: [{ statusCode: 404, toDisconnect: { code: 4504, reason: 'no such tenant' } }],
    },
    refresh: { endpoint: `${url}/refresh`, includeConnectionMeta: true, httpHeaders: ['x-tenant'] },
    defaults: {
      subscribe: { endpoint: `${url}/subscribe`, httpHeaders: ['x-tenant'] },
      publish: { endpoint: `${url}/publish` },
      subRefresh: { endpoint: `${url}/sub_refresh`, includeConnectionMeta: true },
      rpc: { endpoint: `${url}/rpc` },
    },
    named: { math: { endpoint: `${url}/math`, binaryEncoding: true } },
    channelNamespaces: { sp: { subscribe: 'default' }, pp: { publish: 'default' }, sr: { subscribe: 'default', subRefresh: 'default' } },
    rpcNamespaces: { '': 'default', calc: 'math', quiet: null },
    refreshRetryMs: 60_000,
  }
}

const namespaces = {
  sp: { historySize: 0 },
  pp: { historySize: 10, historyTtlMs: 60_000, allowSubscribe: true },
  sr: { historySize: 0 },
}

describe('proxies to the user backend over HTTP', () => {
  const backend = new Backend()
  let livedesk: TestLivedesk
  const sdks: Centrifuge[] = []
  /** An SDK client that the backend's connect handler will see as `user` (via connect data). */
  const connectAs = (user: string, options: Record<string, unknown> = {}) => {
    const sdk = newSdk(livedesk.wsUrl, { data: { user }, ...options })
    sdks.push(sdk)
    return sdk
  }
  /** Connect handler for ordinary tests: the user from connect data, meta carrying a tenant. */
  const allowConnect: Handler = (body) => ({ json: { result: { user: body.data.user, meta: { tenant: 't1' } } } })

  beforeAll(async () => {
    await backend.start()
    livedesk = await startTestLivedesk({ hooks: {}, proxy: proxyConfig(backend.url), realtime: { namespaces } })
  })
  afterAll(async () => {
    for (const s of sdks) s.disconnect()
    await backend.close()
  })

  describe('connect', () => {
    it('sends Centrifugo\'s connect request with the allowed headers and gives the client what the backend answered', async () => {
      backend.on('/connect', (body) => ({
        json: { result: { user: body.data.user, info: { name: 'Alice' }, data: { hello: 'alice' }, channels: [`news:${run}`], subs: { [`alerts:${run}`]: { data: { since: 1 } } }, meta: { tenant: 't1' } } },
      }))
      const sdk = connectAs('alice', {
        websocket: wsWithHeaders({ 'X-Tenant': 'acme', 'X-Forwarded-For': '203.0.113.7', Cookie: 'session=secret' }),
        headers: { 'x-app-token': 'tok-1', 'x-not-listed': 'nope' },
        name: 'proxy-test', version: '9.9.9',
      })
      const subscribed = collect(sdk, 'subscribed')
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      const ctx = await connected
      expect(ctx.data).toEqual({ hello: 'alice' })
      await until(() => subscribed.length === 2, 5_000, 'two server-side subscriptions')
      expect(subscribed.find((s) => s.channel === `alerts:${run}`)?.data).toEqual({ since: 1 })

      const [req] = backend.to('/connect').slice(-1)
      expect(req!.body).toEqual({
        client: ctx.client, transport: TRANSPORT, protocol: PROTOCOL, encoding: 'json', data: { user: 'alice' }, name: 'proxy-test', version: '9.9.9',
      })
      expect(req!.headers['content-type']).toBe('application/json')
      if (withHeaders) {
        expect(req!.headers['x-tenant']).toBe('acme')
        expect(req!.headers['x-forwarded-for']).toBe('203.0.113.7')
      }
      expect(req!.headers['x-app-token']).toBe('tok-1')
      expect(req!.headers['x-static']).toBe('from-config')
      expect(req!.headers.cookie).toBeUndefined()
      expect(req!.headers['x-not-listed']).toBeUndefined()
      // The backend's info is the connection's conn_info: presence shows it.
      const presence = await serverApi(livedesk, 'presence', { channel: `news:${run}` })
      expect(presence.body.result.presence[ctx.client]).toMatchObject({ user: 'alice', conn_info: { name: 'Alice' } })
      sdk.disconnect()
    })

    it('forwards the backend\'s error and disconnect objects, maps a listed status, and answers 100 to other statuses, bad answers and timeouts', async () => {
      // An error: the SDK stops with that code (not temporary).
      backend.on('/connect', () => ({ json: { error: { code: 4003, message: 'go away' } } }))
      let sdk = connectAs('mallory')
      let disconnected = nextEvent(sdk, 'disconnected')
      sdk.connect()
      expect(await disconnected).toMatchObject({ code: 4003, reason: 'go away' })

      // A disconnect: the connection closes with it.
      backend.on('/connect', () => ({ json: { disconnect: { code: 4501, reason: 'banned' } } }))
      sdk = connectAs('mallory')
      disconnected = nextEvent(sdk, 'disconnected')
      sdk.connect()
      expect(await disconnected).toMatchObject({ code: 4501, reason: 'banned' })

      // An expiry already past: 110 expired, terminal (not 109, which would send the SDK for a token).
      backend.on('/connect', () => ({ json: { result: { user: 'late', expire_at: nowSec() - 10 } } }))
      sdk = connectAs('late')
      disconnected = nextEvent(sdk, 'disconnected')
      sdk.connect()
      expect(await disconnected).toMatchObject({ code: 110 })

      // 404 is listed in status_to_code_transforms.
      backend.on('/connect', () => ({ status: 404 }))
      sdk = connectAs('mallory')
      disconnected = nextEvent(sdk, 'disconnected')
      sdk.connect()
      expect(await disconnected).toMatchObject({ code: 4504, reason: 'no such tenant' })

      // 500, an answer that is not JSON, and no answer within the proxy's timeout: internal error 100 (temporary: the SDK retries).
      for (const answer of [{ status: 500 }, { json: undefined }, { delayMs: 1_000, json: { result: { user: 'late' } } }] as Answer[]) {
        backend.on('/connect', () => answer)
        sdk = connectAs('mallory')
        const error = nextEvent(sdk, 'error', (e) => e.type === 'connect')
        const startedAt = Date.now()
        sdk.connect()
        expect((await error).error).toMatchObject({ code: 100, temporary: true })
        if (answer.delayMs) expect(Date.now() - startedAt).toBeLessThan(1_000)
        sdk.disconnect()
      }
    })

    it('keeps connects with a token on the JWT path, never asking the connect proxy', async () => {
      const before = backend.to('/connect').length
      backend.on('/connect', allowConnect)
      const sdk = connectAs('jwt', { token: 'not-a-jwt' })
      const closed = nextEvent(sdk, 'disconnected')
      sdk.connect()
      expect((await closed).code).toBe(3500) // invalid token
      expect(backend.to('/connect').length).toBe(before)
    })
  })

  describe('refresh', () => {
    it('refreshes at the expiry on the server (expire_at), closes with 3005 when the backend says expired, and keeps the meta', async () => {
      const user = `bob-${run}`
      backend.on('/connect', (body) => ({ json: { result: { user: body.data.user, expire_at: nowSec() + 1, meta: { tenant: 't1', n: 0 } } } }))
      let refreshes = 0
      backend.on('/refresh', () => {
        refreshes++
        return refreshes === 1 ? { json: { result: { expire_at: nowSec() + 1, info: { refreshed: true }, meta: { tenant: 't1', n: 1 } } } } : { json: { result: { expired: true } } }
      })
      const sdk = connectAs(user, { websocket: wsWithHeaders({ 'x-tenant': 'acme' }) })
      const connected = nextEvent(sdk, 'connected')
      const expired = nextEvent(sdk, 'connecting', (c) => c.code === 3005, 10_000)
      sdk.connect()
      const { client } = await connected
      const at = await expired
      expect(at.reason).toBe('connection expired')
      const calls = backend.to('/refresh').filter((r) => r.body.client === client)
      expect(calls).toHaveLength(2)
      expect(calls[0]!.body).toEqual({ client, transport: TRANSPORT, protocol: PROTOCOL, encoding: 'json', user, meta: { tenant: 't1', n: 0 } })
      // The second request carries the meta the first refresh answered with.
      expect(calls[1]!.body.meta).toEqual({ tenant: 't1', n: 1 })
      if (withHeaders) expect(calls[0]!.headers['x-tenant']).toBe('acme')
      sdk.disconnect()
    }, 15_000)

    it('gives the connection more time when the refresh proxy fails, as Centrifugo (a minute by default)', async () => {
      const user = `carol-${run}`
      backend.on('/connect', (body) => ({ json: { result: { user: body.data.user, expire_at: nowSec() + 1 } } }))
      backend.on('/refresh', () => ({ status: 503 }))
      const sdk = connectAs(user)
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      const { client } = await connected
      await until(() => backend.to('/refresh').some((r) => r.body.client === client), 5_000, 'the refresh request')
      // Still connected well past the expiry: one more refresh would have been due at +1 s.
      const stillThere = await new Promise<boolean>((resolve) => {
        const off = setTimeout(() => resolve(true), 1_500)
        sdk.once('disconnected', () => (clearTimeout(off), resolve(false)))
        sdk.once('connecting', () => (clearTimeout(off), resolve(false)))
      })
      expect(stillThere).toBe(true)
      expect(backend.to('/refresh').filter((r) => r.body.client === client)).toHaveLength(1)
      sdk.disconnect()
    })
  })

  describe('subscribe and sub_refresh', () => {
    it('asks the subscribe proxy for its namespaces: allow with data, error, disconnect, and the request body', async () => {
      backend.on('/connect', allowConnect)
      backend.on('/subscribe', (body) => {
        if (body.channel.endsWith(':open')) return { json: { result: { data: { welcome: body.data } } } }
        if (body.channel.endsWith(':closed')) return { json: { error: { code: 403, message: 'members only' } } }
        return { json: { disconnect: { code: 4500, reason: 'bye' } } }
      })
      const sdk = connectAs('dave', { websocket: wsWithHeaders({ 'x-tenant': 'acme' }) })
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      const { client } = await connected

      const open = sdk.newSubscription(`sp:${run}:open`, { data: { want: 'in' } })
      const subscribed = nextEvent(open, 'subscribed')
      open.subscribe()
      expect((await subscribed).data).toEqual({ welcome: { want: 'in' } })
      const req = backend.to('/subscribe').find((r) => r.body.channel === `sp:${run}:open`)!
      expect(req.body).toEqual({ client, transport: TRANSPORT, protocol: PROTOCOL, encoding: 'json', user: 'dave', channel: `sp:${run}:open`, data: { want: 'in' } })
      if (withHeaders) expect(req.headers['x-tenant']).toBe('acme')

      const closed = sdk.newSubscription(`sp:${run}:closed`)
      const refused = nextEvent(closed, 'unsubscribed')
      closed.subscribe()
      expect(await refused).toMatchObject({ code: 403, reason: 'members only' })

      // Channels outside the proxy's namespaces never reach it.
      const before = backend.to('/subscribe').length
      const plain = sdk.newSubscription(`pp:${run}:plain`)
      const plainSubscribed = nextEvent(plain, 'subscribed')
      plain.subscribe()
      await plainSubscribed
      expect(backend.to('/subscribe').length).toBe(before)

      const kicked = nextEvent(sdk, 'disconnected')
      sdk.newSubscription(`sp:${run}:kick`).subscribe()
      expect(await kicked).toMatchObject({ code: 4500, reason: 'bye' })
    })

    it('refreshes a subscription on the server through sub_refresh, and ends it when the backend says expired', async () => {
      backend.on('/connect', allowConnect)
      backend.on('/subscribe', () => ({ json: { result: { expire_at: nowSec() + 1 } } }))
      let calls = 0
      backend.on('/sub_refresh', () => (++calls === 1 ? { json: { result: { expire_at: nowSec() + 1 } } } : { json: { result: { expired: true } } }))
      const sdk = connectAs('erin')
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      const { client } = await connected
      const channel = `sr:${run}`
      const sub = sdk.newSubscription(channel)
      const subscribed = nextEvent(sub, 'subscribed')
      // 2501: the SDK resubscribes, which asks the subscribe proxy again.
      const ended = nextEvent(sub, 'subscribing', (c) => c.code === 2501, 10_000)
      sub.subscribe()
      await subscribed
      await ended
      const refreshes = backend.to('/sub_refresh').filter((r) => r.body.client === client)
      expect(refreshes).toHaveLength(2)
      expect(refreshes[0]!.body).toEqual({ client, transport: TRANSPORT, protocol: PROTOCOL, encoding: 'json', user: 'erin', channel, meta: { tenant: 't1' } })
      sdk.disconnect()
    }, 15_000)
  })

  describe('publish', () => {
    it('publishes what the publish proxy returns, skips history when told, and forwards its error', async () => {
      backend.on('/connect', allowConnect)
      backend.on('/publish', (body) => {
        if (body.data.text === 'forbidden') return { json: { error: { code: 4403, message: 'not allowed here' } } }
        if (body.data.text === 'ephemeral') return { json: { result: { skip_history: true } } }
        return { json: { result: { data: { text: String(body.data.text).toUpperCase(), checked: true } } } }
      })
      const sdk = connectAs('frank')
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      const { client } = await connected
      const channel = `pp:${run}:room`
      const sub = sdk.newSubscription(channel)
      const pubs = collect(sub, 'publication')
      const subscribed = nextEvent(sub, 'subscribed')
      sub.subscribe()
      await subscribed

      await sub.publish({ text: 'hello' })
      await until(() => pubs.length === 1, 5_000, 'the altered publication')
      expect(pubs[0]!.data).toEqual({ text: 'HELLO', checked: true })
      expect(backend.to('/publish').find((r) => r.body.client === client)!.body).toEqual({
        client, transport: TRANSPORT, protocol: PROTOCOL, encoding: 'json', user: 'frank', channel, data: { text: 'hello' },
      })

      await sub.publish({ text: 'ephemeral' })
      await until(() => pubs.length === 2, 5_000, 'the unchanged publication')
      expect(pubs[1]!.data).toEqual({ text: 'ephemeral' })
      const history = await serverApi(livedesk, 'history', { channel, limit: 10 })
      expect(history.body.result.publications.map((p: any) => p.data)).toEqual([{ text: 'HELLO', checked: true }])

      await expect(sub.publish({ text: 'forbidden' })).rejects.toMatchObject({ code: 4403, message: 'not allowed here' })
      sdk.disconnect()
    })
  })

  describe('rpc', () => {
    it('routes each method by its namespace: default proxy, named proxy with binary encoding, no proxy, unknown namespace', async () => {
      backend.on('/connect', allowConnect)
      backend.on('/rpc', (body) => (body.method === 'fail'
        ? { json: { error: { code: 1500, message: 'backend says no', temporary: true } } }
        : { json: { result: { data: { echo: body.data, method: body.method } } } }))
      backend.on('/math', (body) => {
        const args = JSON.parse(Buffer.from(body.b64data, 'base64').toString())
        return { json: { result: { b64data: Buffer.from(JSON.stringify({ sum: args.a + args.b })).toString('base64') } } }
      })
      const sdk = connectAs('grace')
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      const { client } = await connected

      expect((await sdk.rpc('echo', { x: 1 })).data).toEqual({ echo: { x: 1 }, method: 'echo' })
      expect(backend.to('/rpc').find((r) => r.body.client === client)!.body).toEqual({
        client, transport: TRANSPORT, protocol: PROTOCOL, encoding: 'json', user: 'grace', method: 'echo', data: { x: 1 },
      })
      expect((await sdk.rpc('calc:add', { a: 2, b: 3 })).data).toEqual({ sum: 5 })
      const math = backend.to('/math').find((r) => r.body.client === client)!.body
      expect(math).toMatchObject({ encoding: 'binary', method: 'calc:add' })
      expect(math.data).toBeUndefined()

      await expect(sdk.rpc('fail', {})).rejects.toMatchObject({ code: 1500, message: 'backend says no', temporary: true })
      await expect(sdk.rpc('quiet:x', {})).rejects.toMatchObject({ code: 108 })
      await expect(sdk.rpc('nowhere:x', {})).rejects.toMatchObject({ code: 104 })
      sdk.disconnect()
    })
  })

  it('reads the same proxies from a Centrifugo v6 configuration file', () => {
    const { proxy, warnings } = proxyConfigFromCentrifugo({
      client: { proxy: { connect: { enabled: true, endpoint: 'http://backend/connect', timeout: '500ms', http_headers: ['X-Tenant'] }, refresh: { enabled: true, endpoint: 'http://backend/refresh' } } },
      channel: {
        proxy: { subscribe: { endpoint: 'http://backend/subscribe' }, publish: { endpoint: 'http://backend/publish', http: { static_headers: { 'x-k': 'v' } } } },
        without_namespace: { subscribe_proxy_enabled: true },
        namespaces: [{ name: 'chat', publish_proxy_enabled: true, publish_proxy_name: 'moderation' }],
      },
      rpc: { proxy: { endpoint: 'http://backend/rpc' }, without_namespace: { proxy_enabled: true }, namespaces: [{ name: 'math', proxy_enabled: true, proxy_name: 'moderation' }, { name: 'off' }], ping: { enabled: true } },
      proxies: [{ name: 'moderation', endpoint: 'https://mod/x', binary_encoding: true, include_connection_meta: true, http: { status_to_code_transforms: [{ status_code: 403, to_error: { code: 403, message: 'forbidden' } }] } }],
    })
    expect(proxy).toEqual({
      connect: { endpoint: 'http://backend/connect', timeoutMs: 500, httpHeaders: ['x-tenant'] },
      refresh: { endpoint: 'http://backend/refresh' },
      defaults: { subscribe: { endpoint: 'http://backend/subscribe' }, publish: { endpoint: 'http://backend/publish', staticHeaders: { 'x-k': 'v' } }, rpc: { endpoint: 'http://backend/rpc' } },
      named: { moderation: { endpoint: 'https://mod/x', binaryEncoding: true, includeConnectionMeta: true, statusToCodeTransforms: [{ statusCode: 403, toError: { code: 403, message: 'forbidden', temporary: false } }] } },
      channelNamespaces: { '': { subscribe: 'default' }, chat: { publish: 'moderation' } },
      rpcNamespaces: { '': 'default', math: 'moderation', off: null },
    })
    expect(warnings).toEqual(['rpc.ping: the built-in ping RPC is not implemented; ignored'])
    expect(() => proxyConfigFromCentrifugo({ channel: { namespaces: [{ name: 'x', subscribe_proxy_enabled: true, subscribe_proxy_name: 'nope' }] } }))
      .toThrow(/channel\.namespaces\.x\.subscribe_proxy_name: no proxy named "nope"/)
    expect(() => proxyConfigFromCentrifugo({ client: { proxy: { connect: { enabled: true, endpoint: 'grpc://backend:9000' } } } }))
      .toThrow(/client\.proxy\.connect\.endpoint: .*gRPC/)
  })
})

describe.skipIf(adapter.name !== 'websocket')('proxies beside the operator-chat domain', () => {
  const backend = new Backend()
  beforeAll(() => backend.start())
  afterAll(() => backend.close())

  it('leaves the domain\'s connects and RPCs to the domain while other connects go to the connect proxy', async () => {
    backend.on('/connect', (body) => ({ json: { result: { user: body.data.user } } }))
    backend.on('/rpc', () => ({ json: { result: { data: 'from the backend' } } }))
    const livedesk = await startTestLivedesk({ proxy: proxyConfig(backend.url) })
    const operator = await newOperator(livedesk, 'Olga')
    const console_ = await connect(livedesk, 'notifications', operator.token)
    try {
      expect(backend.to('/connect')).toHaveLength(0)
      // The domain's RPC answers the operator (a bad request for a typing without chat), not the backend.
      await expect(console_.sdk.rpc('typing', {})).rejects.toMatchObject({ code: 107 })
      expect(backend.to('/rpc')).toHaveLength(0)

      const other = newSdk(livedesk.wsUrl, { data: { user: 'visitor' } })
      const connected = nextEvent(other, 'connected')
      other.connect()
      await connected
      expect(backend.to('/connect')).toHaveLength(1)
      expect((await other.rpc('anything', {})).data).toBe('from the backend')
      other.disconnect()
    } finally {
      console_.close()
    }
  })
})

const redisUrl = serviceUrl('REDIS_URL', 'proxies on two nodes over Redis')
if (redisUrl) {
  describe('proxies on two nodes over Redis', () => {
    const backend = new Backend()
    beforeAll(() => backend.start())
    afterAll(() => backend.close())

    it('delivers what the publish proxy of node A returned to a subscriber on node B', async () => {
      backend.on('/connect', (body) => ({ json: { result: { user: body.data.user } } }))
      backend.on('/publish', (body) => ({ json: { result: { data: { ...body.data, stamped: 'by-backend' } } } }))
      const config = proxyConfig(backend.url)
      const [a, b] = await Promise.all([
        startTestLivedesk({ hooks: {}, redisUrl, redisPrefix: `proxy-${run}`, proxy: config, realtime: { namespaces } }),
        startTestLivedesk({ hooks: {}, redisUrl, redisPrefix: `proxy-${run}`, proxy: config, realtime: { namespaces } }),
      ])
      const channel = `pp:${run}:two-nodes`
      const reader = newSdk(b.wsUrl, { data: { user: 'reader' } })
      const writer = newSdk(a.wsUrl, { data: { user: 'writer' } })
      try {
        reader.connect()
        writer.connect()
        const readerSub = reader.newSubscription(channel)
        const pubs = collect(readerSub, 'publication')
        const ready = nextEvent(readerSub, 'subscribed')
        readerSub.subscribe()
        await ready
        const writerSub = writer.newSubscription(channel)
        const writerReady = nextEvent(writerSub, 'subscribed')
        writerSub.subscribe()
        await writerReady
        await writerSub.publish({ text: 'hi' })
        await until(() => pubs.length === 1, 5_000, 'the publication on node B')
        expect(pubs[0]!.data).toEqual({ text: 'hi', stamped: 'by-backend' })
        expect(backend.to('/publish')).toHaveLength(1)
      } finally {
        reader.disconnect()
        writer.disconnect()
      }
    })
  })
}

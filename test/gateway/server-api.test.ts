import type { Centrifuge } from 'centrifuge'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { itWebSocketOnly } from '../helpers/transports.js'
import { closedWithin, metric, openRaw, type RawClient } from './raw.js'

let livedesk: TestLivedesk
beforeAll(async () => {
  livedesk = await startTestLivedesk({
    hooks: {
      authenticate: async (e) => {
        const d = e.data as { user: string; channels?: string[]; expireIn?: number }
        return { user: d.user, channels: d.channels ?? [], expireAt: d.expireIn ? Math.floor(Date.now() / 1000) + d.expireIn : undefined }
      },
    },
    realtime: { namespaces: { brief: { historySize: 10, historyTtlMs: 300 } } },
  })
})

const open: Centrifuge[] = []
/** The client id each SDK got in its connect reply. */
const clientIds = new WeakMap<Centrifuge, string>()
afterEach(() => {
  for (const sdk of open.splice(0)) sdk.disconnect()
})

/** An SDK client of `user`, connected, with server-side subscriptions to `channels`. */
async function client(user: string, channels: string[] = []): Promise<Centrifuge> {
  const sdk = newSdk(livedesk.wsUrl, { data: { user, channels } })
  open.push(sdk)
  const ready = nextEvent(sdk, 'connected')
  sdk.connect()
  clientIds.set(sdk, (await ready).client)
  return sdk
}

const api = (method: string, body: unknown, key?: string) => serverApi(livedesk, method, body, key)
const ok = async (method: string, body: unknown) => {
  const res = await api(method, body)
  expect(res.status).toBe(200)
  expect(res.body.error).toBeUndefined()
  return res.body.result
}

/** A raw client that answers pings, for watching expiry without an SDK refreshing on its own. */
async function rawWithExpiry(user: string, expireIn: number): Promise<RawClient> {
  const raw = await openRaw(livedesk.wsUrl)
  raw.ws.on('message', (data) => {
    if (data.toString().split('\n').includes('{}')) raw.send('{}')
  })
  const reply = await raw.connect({ user, expireIn })
  expect(reply.connect).toMatchObject({ expires: true })
  return raw
}

describe('Centrifugo server API', () => {
  it('publish: the SDK receives the exact data and tags; the result holds offset and epoch; skip_history keeps it out of history', async () => {
    const sdk = await client('pub-user', ['news:1'])
    const received = nextEvent(sdk, 'publication')
    const data = { text: 'hello', nested: { list: [1, 'two', null], unicode: 'привет' } }
    const result = await ok('publish', { channel: 'news:1', data, tags: { kind: 'greeting' } })
    expect(result).toEqual({ offset: 1, epoch: expect.any(String) })
    const pub = await received
    expect(pub).toMatchObject({ channel: 'news:1', data, tags: { kind: 'greeting' }, offset: 1 })

    const second = nextEvent(sdk, 'publication')
    await ok('publish', { channel: 'news:1', data: { live: 'only' }, skip_history: true })
    expect((await second).data).toEqual({ live: 'only' })
    const history = await ok('history', { channel: 'news:1', limit: -1 })
    expect(history.publications.map((p: any) => p.data)).toEqual([data])
  })

  it('publish with idempotency_key: a retry answers the first result and the SDK receives the publication once', async () => {
    const sdk = await client('idem-user', ['idem:1'])
    const pubs = collect(sdk, 'publication')
    const first = await ok('publish', { channel: 'idem:1', data: { n: 1 }, idempotency_key: 'retry-me' })
    const retry = await ok('publish', { channel: 'idem:1', data: { n: 1 }, idempotency_key: 'retry-me' })
    expect(retry).toEqual(first)
    await ok('publish', { channel: 'idem:1', data: { n: 2 } })
    await until(() => pubs.some((p) => p.data.n === 2), 5_000, 'the publication after the retry')
    expect(pubs.map((p) => p.data.n)).toEqual([1, 2])
    const bad = await api('publish', { channel: 'idem:1', data: {}, idempotency_key: 42 })
    expect(bad.body.error).toMatchObject({ code: 107 })
  })

  it('broadcast: one call reaches every channel and answers per channel', async () => {
    const sdk = await client('bc-user', ['bc:1', 'bc:2'])
    const pubs = collect(sdk, 'publication')
    const result = await ok('broadcast', { channels: ['bc:1', 'bc:2'], data: { all: true } })
    expect(result.responses).toHaveLength(2)
    for (const r of result.responses) expect(r.result).toMatchObject({ offset: 1 })
    await until(() => pubs.length === 2, 5_000, 'both publications')
    expect(pubs.map((p) => [p.channel, p.data]).sort()).toEqual([['bc:1', { all: true }], ['bc:2', { all: true }]])
  })

  it('subscribe and unsubscribe: the SDK gets subscribed, then the channel publications, then unsubscribed', async () => {
    const sdk = await client('sub-user')
    const subscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === 'added:1')
    await ok('subscribe', { user: 'sub-user', channel: 'added:1' })
    await subscribed
    const pub = nextEvent(sdk, 'publication')
    await ok('publish', { channel: 'added:1', data: { after: 'subscribe' } })
    expect((await pub).data).toEqual({ after: 'subscribe' })
    const unsubscribed = nextEvent(sdk, 'unsubscribed', (c) => c.channel === 'added:1')
    await ok('unsubscribe', { user: 'sub-user', channel: 'added:1' })
    await unsubscribed
    expect(livedesk.node.hub.channels.has('added:1')).toBe(false)
  })

  it('disconnect: the default is terminal (3503); a reconnect code makes the SDK come back; client targets one connection', async () => {
    const a = await client('dis-user')
    const b = await client('dis-user')
    const other = await client('dis-other')
    const otherEvents = collect(other, 'connecting')

    // Only connection `a` (by client id) with a reconnecting application code.
    const target = clientIds.get(a)!
    expect([...livedesk.node.hub.users.get('dis-user')!].map((c) => c.id)).toContain(target)
    const back = nextEvent(a, 'connected')
    const reconnecting = nextEvent(a, 'connecting', (c) => c.code !== 0)
    await ok('disconnect', { user: 'dis-user', client: target, disconnect: { code: 4000, reason: 'come back' } })
    expect(await reconnecting).toMatchObject({ code: 4000, reason: 'come back' })
    await back
    expect(b.state).toBe('connected')

    const aGone = nextEvent(a, 'disconnected')
    const bGone = nextEvent(b, 'disconnected')
    await ok('disconnect', { user: 'dis-user' })
    expect(await aGone).toMatchObject({ code: 3503 })
    expect(await bGone).toMatchObject({ code: 3503 })
    expect(other.state).toBe('connected')
    expect(otherEvents.map((c) => c.code)).toEqual([])
  })

  it('refresh: expired:true closes with 3005 (the SDK reconnects)', async () => {
    const sdk = await client('ref-user')
    const reconnecting = nextEvent(sdk, 'connecting', (c) => c.code !== 0)
    const back = nextEvent(sdk, 'connected')
    await ok('refresh', { user: 'ref-user', expired: true })
    expect((await reconnecting).code).toBe(3005)
    await back
  })

  itWebSocketOnly('refresh: expire_at extends a connection past its expiry', 'raw clients, which do not refresh on their own as the SDK does', async () => {
    // Two connections expiring in 1 s (closed 1 s later); only one is refreshed by the server API.
    const extended = await rawWithExpiry('ref-extended', 1)
    const control = await rawWithExpiry('ref-control', 1)
    await ok('refresh', { user: 'ref-extended', expire_at: Math.floor(Date.now() / 1000) + 3600 })
    expect(await closedWithin(control, 5_000)).toEqual({ code: 3005, reason: 'connection expired' })
    expect(extended.ws.readyState).toBe(extended.ws.OPEN)
    extended.ws.close()
  })

  it('presence and presence_stats: list the SDK connection of a channel', async () => {
    const sdk = await client('pres-user', ['pres:1'])
    await client('pres-user', ['pres:1'])
    const presence = await ok('presence', { channel: 'pres:1' })
    const entries = Object.entries(presence.presence) as Array<[string, any]>
    expect(entries).toHaveLength(2)
    for (const [id, info] of entries) expect(info).toMatchObject({ client: id, user: 'pres-user' })
    expect(await ok('presence_stats', { channel: 'pres:1' })).toEqual({ num_clients: 2, num_users: 1 })
    sdk.disconnect()
    await until(async () => (await ok('presence_stats', { channel: 'pres:1' })).num_clients === 1, 5_000, 'presence to drop a leaver')
  })

  it('history and history_remove: pages of the stream; removal keeps the position', async () => {
    for (let n = 1; n <= 3; n++) await ok('publish', { channel: 'hist:1', data: { n } })
    const all = await ok('history', { channel: 'hist:1', limit: -1 })
    expect(all.publications.map((p: any) => [p.offset, p.data.n])).toEqual([[1, 1], [2, 2], [3, 3]])
    expect(all.offset).toBe(3)
    const newest = await ok('history', { channel: 'hist:1', limit: 1, reverse: true })
    expect(newest.publications.map((p: any) => p.data.n)).toEqual([3])
    const since = await ok('history', { channel: 'hist:1', limit: 10, since: { offset: 1, epoch: all.epoch } })
    expect(since.publications.map((p: any) => p.data.n)).toEqual([2, 3])
    const top = await ok('history', { channel: 'hist:1' })
    expect(top).toMatchObject({ publications: [], offset: 3, epoch: all.epoch })

    expect(await ok('history_remove', { channel: 'hist:1' })).toEqual({})
    const after = await ok('history', { channel: 'hist:1', limit: -1 })
    expect(after.publications).toEqual([])
    expect(after).toMatchObject({ offset: 3, epoch: all.epoch })
    // An SDK client joining now sees the stream continue at offset 4.
    const sdk = await client('hist-user', ['hist:1'])
    const pub = nextEvent(sdk, 'publication')
    expect(await ok('publish', { channel: 'hist:1', data: { n: 4 } })).toMatchObject({ offset: 4 })
    expect(await pub).toMatchObject({ offset: 4, data: { n: 4 } })
  })

  it('history forgets publications after the namespace history TTL but keeps the position', async () => {
    const published = await ok('publish', { channel: 'brief:1', data: { short: 'lived' } })
    expect((await ok('history', { channel: 'brief:1', limit: -1 })).publications).toHaveLength(1)
    await until(async () => (await ok('history', { channel: 'brief:1', limit: -1 })).publications.length === 0, 5_000, 'the TTL to expire')
    expect(await ok('history', { channel: 'brief:1', limit: -1 })).toMatchObject({ offset: 1, epoch: published.epoch })
  })

  it('channels and info: what the node serves, with a pattern filter', async () => {
    await client('ch-user', ['chan:a', 'chan:b', 'other:c'])
    const { channels } = await ok('channels', {})
    expect(channels['chan:a']).toEqual({ num_clients: 1 })
    expect(channels['other:c']).toEqual({ num_clients: 1 })
    const filtered = await ok('channels', { pattern: 'chan:*' })
    expect(Object.keys(filtered.channels).sort()).toEqual(['chan:a', 'chan:b'])

    const info = await ok('info', {})
    expect(info.nodes).toHaveLength(1)
    expect(info.nodes[0]).toMatchObject({
      uid: livedesk.node.config.nodeId,
      num_clients: livedesk.node.hub.clients.size,
      num_users: livedesk.node.hub.users.size,
      num_channels: livedesk.node.hub.channels.size,
    })
    expect(info.nodes[0].num_clients).toBeGreaterThanOrEqual(1)
  })

  it('batch: runs commands in order and answers each; a bad one does not stop the rest', async () => {
    const sdk = await client('batch-user', ['batch:1'])
    const pubs = collect(sdk, 'publication')
    const result = await ok('batch', {
      commands: [
        { publish: { channel: 'batch:1', data: { n: 1 } } },
        { publish: { data: { missing: 'channel' } } },
        { publish: { channel: 'batch:1', data: { n: 2 } } },
        { presence_stats: { channel: 'batch:1' } },
      ],
    })
    expect(result.replies).toHaveLength(4)
    expect(result.replies[0].publish).toMatchObject({ offset: 1 })
    expect(result.replies[1].error).toMatchObject({ code: 107 })
    expect(result.replies[2].publish).toMatchObject({ offset: 2 })
    expect(result.replies[3].presence_stats).toEqual({ num_clients: 1, num_users: 1 })
    await until(() => pubs.length === 2, 5_000, 'both batch publications')
    expect(pubs.map((p) => p.data.n)).toEqual([1, 2])
  })

  it('legacy POST /api with {method, params} publishes as Centrifugo v2/v3 backends do', async () => {
    const sdk = await client('legacy-user', ['legacy:1'])
    const pub = nextEvent(sdk, 'publication')
    const res = await fetch(`${livedesk.url}/api`, {
      method: 'POST',
      headers: { authorization: `apikey ${livedesk.apiKey}` },
      body: JSON.stringify({ method: 'publish', params: { channel: 'legacy:1', data: { legacy: true } } }),
    })
    expect(res.status).toBe(200)
    expect((await res.json()).result).toMatchObject({ offset: 1 })
    expect((await pub).data).toEqual({ legacy: true })
  })
})

describe('server API keys', () => {
  it('accepts X-API-Key and Authorization: apikey; ?api_key= only when allowed (test/security/http-edge.test.ts)', async () => {
    const body = JSON.stringify({ channel: 'keys:1', data: { k: 1 } })
    const styles: Array<[string, RequestInit['headers']]> = [
      ['/api/publish', { 'x-api-key': livedesk.apiKey }],
      ['/api/publish', { authorization: `apikey ${livedesk.apiKey}` }],
    ]
    for (const [path, headers] of styles) {
      const res = await fetch(`${livedesk.url}${path}`, { method: 'POST', headers, body })
      expect(res.status).toBe(200)
      expect((await res.json()).result.offset).toBeGreaterThan(0)
    }
    const inQuery = await fetch(`${livedesk.url}/api/publish?api_key=${encodeURIComponent(livedesk.apiKey)}`, { method: 'POST', body })
    expect(inQuery.status).toBe(401)
    expect((await ok('history', { channel: 'keys:1' })).offset).toBe(2)
  })

  it('answers a wrong or missing key with 401 on every method and changes nothing', async () => {
    const sdk = await client('key-user', ['keys:2'])
    const pubs = collect(sdk, 'publication')
    const before = await ok('history', { channel: 'keys:2', limit: -1 })
    const methods = ['publish', 'broadcast', 'subscribe', 'unsubscribe', 'disconnect', 'refresh', 'presence', 'presence_stats', 'history', 'history_remove', 'channels', 'info', 'batch']
    const bodies: Record<string, unknown> = {
      publish: { channel: 'keys:2', data: { forged: true } },
      broadcast: { channels: ['keys:2'], data: { forged: true } },
      disconnect: { user: 'key-user' },
      refresh: { user: 'key-user', expired: true },
      unsubscribe: { user: 'key-user', channel: 'keys:2' },
      history_remove: { channel: 'keys:2' },
      batch: { commands: [{ publish: { channel: 'keys:2', data: { forged: true } } }] },
    }
    for (const method of methods) {
      for (const key of ['wrong-key', '']) {
        const res = await fetch(`${livedesk.url}/api/${method}`, {
          method: 'POST',
          headers: key ? { 'x-api-key': key } : {},
          body: JSON.stringify(bodies[method] ?? { channel: 'keys:2' }),
        })
        expect(res.status, `${method} with key "${key}"`).toBe(401)
        expect((await res.json()).error).toMatchObject({ code: 101 })
      }
    }
    const legacy = await fetch(`${livedesk.url}/api`, {
      method: 'POST',
      headers: { authorization: 'apikey wrong-key' },
      body: JSON.stringify({ method: 'publish', params: { channel: 'keys:2', data: { forged: true } } }),
    })
    expect(legacy.status).toBe(401)

    expect(await ok('history', { channel: 'keys:2', limit: -1 })).toEqual(before)
    // Still connected, still subscribed, and nothing forged arrived before this genuine publication.
    const genuine = nextEvent(sdk, 'publication')
    await ok('publish', { channel: 'keys:2', data: { genuine: true } })
    await genuine
    expect(pubs.map((p) => p.data)).toEqual([{ genuine: true }])
    expect(sdk.state).toBe('connected')
  })

  it('names the field at fault in a bad body, never a 500', async () => {
    const missing = await api('publish', { data: { x: 1 } })
    expect(missing.status).toBe(200)
    expect(missing.body.error).toMatchObject({ code: 107, message: expect.stringContaining('channel') })
    const wrongType = await api('history', { channel: 'x', limit: 'ten' })
    expect(wrongType.body.error).toMatchObject({ code: 107, message: expect.stringContaining('limit') })
    const res = await fetch(`${livedesk.url}/api/publish`, { method: 'POST', headers: { 'x-api-key': livedesk.apiKey }, body: '{"channel":' })
    expect(res.status).toBe(400)
    expect((await res.json()).error).toMatchObject({ code: 107 })
    const huge = await api('publish', { channel: 'x', data: 'y'.repeat(2_000_000) })
    expect(huge.status).toBe(413)
    expect(huge.body.error).toMatchObject({ code: 107 })
    const unknown = await api('explode', {})
    expect(unknown.body.error).toMatchObject({ code: 104 })
  })
})

describe('GET /metrics', () => {
  it('counts connections, subscriptions, publications and deliveries as they happen', async () => {
    const m = (name: string) => metric(livedesk.url, name)
    const before = { pubs: await m('livedesk_publications_total'), deliveries: await m('livedesk_deliveries_total'), connects: await m('livedesk_connects_total') }
    await client('metrics-a', ['metrics:1'])
    await client('metrics-b', ['metrics:1'])
    expect(await m('livedesk_connections')).toBe(livedesk.node.hub.clients.size)
    expect(await m('livedesk_subscriptions')).toBe(livedesk.node.hub.numSubscriptions())
    expect(await m('livedesk_connects_total')).toBe(before.connects + 2)
    await ok('publish', { channel: 'metrics:1', data: { counted: true } })
    expect(await m('livedesk_publications_total')).toBe(before.pubs + 1)
    expect(await m('livedesk_deliveries_total')).toBe(before.deliveries + 2)
  })
})

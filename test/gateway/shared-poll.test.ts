/**
 * Shared poll subscriptions (issue 17 item 3) with the real SDK and a real refresh backend on 127.0.0.1: signed
 * tracks bound to the user, batched polls of the namespace's refresh proxy, each version delivered once, versionless
 * mode, removals, limits, bad input over the raw protocol, channel shutdown, and two nodes on Redis (each node polls
 * the keys its own connections track).
 */
import { createHash, createHmac } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Centrifuge, SharedPollSubscription, SharedPollUpdateContext } from 'centrifuge'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fromCentrifugo } from '../../src/config/centrifugo.js'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { newSdk, nextEvent, until } from '../helpers/sdk.js'
import { openRaw } from './raw.js'
import { randomPrefix, serviceUrl } from '../realtime/services.js'

const SECRET = 'shared-poll-test-secret'

/** The refresh backend: answers each asked key it has, as Centrifugo's `shared_poll_refresh` proxy expects. */
const items = new Map<string, { data: unknown; version?: number; removed?: boolean }>()
const requests: Array<{ channel: string; items: Array<{ key: string; version?: number }> }> = []
let backend: Server
let backendUrl = ''
/** Bad answers still to give, in order, before answering properly again. */
const badAnswers: Array<{ status: number; body: string }> = []

/** Centrifugo's track signature: `iat:exp:hex(HMAC(iat\0exp\0user\0channel\0hex(sha256(keys joined by \0))))`. */
function sign(channel: string, keys: string[], user: string, ttlSec = 3600, secret = SECRET): string {
  const now = Math.floor(Date.now() / 1000)
  const exp = now + ttlSec
  const keysHash = createHash('sha256').update(keys.join('\x00')).digest('hex')
  return `${now}:${exp}:${createHmac('sha256', secret).update(`${now}\x00${exp}\x00${user}\x00${channel}\x00${keysHash}`).digest('hex')}`
}

function centrifugoFile(endpoint: string) {
  const block = { proxy_name: 'backend', refresh_interval: '50ms', refresh_batch_size: 2, max_keys_per_connection: 4, channel_shutdown_delay: '100ms', track_expired_extra_delay: '100ms' }
  return {
    client: { insecure: true },
    shared_poll: { hmac_secret_key: SECRET },
    proxies: [{ name: 'backend', endpoint, timeout: '2s' }],
    channel: {
      namespaces: [
        { name: 'poll', subscription_type: 'shared_poll', allow_subscribe_for_client: true, shared_poll: { ...block, mode: 'versioned' } },
        { name: 'vl', subscription_type: 'shared_poll', allow_subscribe_for_client: true, shared_poll: block },
      ],
    },
  }
}

async function startNode(extra: { redisUrl?: string; redisPrefix?: string } = {}): Promise<TestLivedesk> {
  const { options, warnings } = fromCentrifugo(centrifugoFile(backendUrl))
  expect(warnings.filter((w) => w.includes('shared_poll'))).toEqual([])
  return startTestLivedesk({ ...options, ...extra, hooks: { authenticate: async (e) => ({ user: (e.data as { user: string }).user }) } })
}

beforeAll(async () => {
  backend = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      const parsed = JSON.parse(body) as (typeof requests)[number]
      requests.push(parsed)
      const bad = badAnswers.shift()
      if (bad) return void res.writeHead(bad.status, { 'content-type': 'application/json' }).end(bad.body)
      const out = parsed.items.filter((i) => items.has(i.key)).map((i) => ({ key: i.key, ...items.get(i.key)! }))
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ result: { items: out } }))
    })
  })
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r))
  backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/refresh`
})
afterAll(() => new Promise<void>((r) => backend.close(() => r())))

const open: Centrifuge[] = []
beforeEach(() => {
  items.clear()
  requests.length = 0
  badAnswers.length = 0
})
afterEach(() => {
  for (const sdk of open.splice(0)) sdk.disconnect()
})

let seq = 0
const unique = (ns: string) => `${ns}:sp-${Date.now().toString(36)}-${++seq}`

async function connected(url: string, user: string): Promise<Centrifuge> {
  const sdk = newSdk(url, { data: { user } })
  open.push(sdk)
  const ready = nextEvent(sdk, 'connected')
  sdk.connect()
  await ready
  return sdk
}

/** A subscribed shared poll subscription whose signatures are made for `user`. */
async function subscribed(sdk: Centrifuge, channel: string, user: string): Promise<SharedPollSubscription> {
  const sub = sdk.newSharedPollSubscription(channel, { getSignature: async (ctx) => ({ keys: ctx.keys, signature: sign(channel, ctx.keys, user) }) })
  sub.subscribe()
  await sub.ready(5_000)
  return sub
}

function updates(sub: SharedPollSubscription): SharedPollUpdateContext[] {
  const out: SharedPollUpdateContext[] = []
  sub.on('update', (ctx) => out.push(ctx))
  return out
}

const requestsFor = (channel: string) => requests.filter((r) => r.channel === channel)

describe('shared poll subscriptions', () => {
  let livedesk: TestLivedesk
  beforeAll(async () => {
    livedesk = await startNode()
  })

  it('polls tracked keys in batches of refresh_batch_size and delivers each version once', async () => {
    const sdk = await connected(livedesk.wsUrl, 'alice')
    const channel = unique('poll')
    const sub = await subscribed(sdk, channel, 'alice')
    const got = updates(sub)
    items.set('a', { data: { n: 1 }, version: 1 })
    items.set('b', { data: { n: 2 }, version: 1 })
    items.set('c', { data: { n: 3 }, version: 1 })
    sub.track(['a', 'b', 'c'])
    await until(() => got.length === 3, 5_000, 'three updates')
    expect(got.map((u) => [u.key, u.version, u.data]).sort()).toEqual([['a', 1, { n: 1 }], ['b', 1, { n: 2 }], ['c', 1, { n: 3 }]])
    // Several more polls with nothing newer deliver nothing again.
    const seen = requestsFor(channel).length
    await until(() => requestsFor(channel).length >= seen + 6, 5_000, 'three more poll cycles')
    expect(got).toHaveLength(3)
    expect(Math.max(...requestsFor(channel).map((r) => r.items.length))).toBeLessThanOrEqual(2)
    // Versioned mode: the backend is told the version the channel holds.
    expect(requestsFor(channel).at(-1)!.items.every((i) => i.version === 1)).toBe(true)
    items.set('b', { data: { n: 20 }, version: 2 })
    await until(() => got.length === 4, 5_000, 'the update of b')
    expect(got[3]).toMatchObject({ key: 'b', version: 2, data: { n: 20 } })
  })

  it('refuses a signature made for another user (103) and more keys than max_keys_per_connection (106)', async () => {
    const sdk = await connected(livedesk.wsUrl, 'bob')
    const channel = unique('poll')
    const sub = sdk.newSharedPollSubscription(channel, {})
    sub.subscribe()
    await sub.ready(5_000)
    const errors: any[] = []
    sub.on('error', (ctx) => errors.push(ctx))
    sub.track([{ key: 'x', version: 0 }], sign(channel, ['x'], 'mallory'))
    await until(() => errors.length === 1, 5_000, 'the track error')
    expect(errors[0]).toMatchObject({ type: 'track', error: { code: 103 } })
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5']
    sub.track(keys.map((key) => ({ key, version: 0 })), sign(channel, keys, 'bob'))
    await until(() => errors.length === 2, 5_000, 'the limit error')
    expect(errors[1]).toMatchObject({ type: 'track', error: { code: 106 } })
  })

  it('answers bad input over the raw protocol with protocol codes: expired 109, no items 107, not subscribed 103, wrong secret 103', async () => {
    const raw = await openRaw(livedesk.wsUrl)
    await raw.connect({ user: 'carol' })
    const channel = unique('poll')
    raw.send(JSON.stringify({ id: 2, subscribe: { channel, type: 4 } }))
    expect(await raw.waitFor((l) => l.id === 2)).toEqual({ id: 2, subscribe: { type: 4 } })
    const track = (id: number, signature: string, keys = ['k']) =>
      raw.send(JSON.stringify({ id, sub_refresh: { channel, type: 1, track: [{ signature, items: keys.map((key) => ({ key })) }] } }))
    track(3, sign(channel, ['k'], 'carol', -60))
    expect((await raw.waitFor((l) => l.id === 3)).error.code).toBe(109)
    raw.send(JSON.stringify({ id: 4, sub_refresh: { channel, type: 1, track: [] } }))
    expect((await raw.waitFor((l) => l.id === 4)).error.code).toBe(107)
    raw.send(JSON.stringify({ id: 5, sub_refresh: { channel: unique('poll'), type: 2, untrack: ['k'] } }))
    expect((await raw.waitFor((l) => l.id === 5)).error.code).toBe(103)
    track(6, sign(channel, ['k'], 'carol', 3600, 'another-secret'))
    expect((await raw.waitFor((l) => l.id === 6)).error.code).toBe(103)
    // A valid track answers with the signature's TTL.
    track(7, sign(channel, ['k'], 'carol', 600))
    const ok = await raw.waitFor((l) => l.id === 7)
    expect(ok.sub_refresh.expires).toBe(true)
    expect(ok.sub_refresh.ttl).toBeGreaterThan(590)
    // The subscription type must be the namespace's, as in Centrifugo: both ways 103.
    raw.send(JSON.stringify({ id: 8, subscribe: { channel: 'plain', type: 4 } }))
    expect((await raw.waitFor((l) => l.id === 8)).error.code).toBe(103)
    raw.send(JSON.stringify({ id: 9, subscribe: { channel: unique('poll') } }))
    expect((await raw.waitFor((l) => l.id === 9)).error.code).toBe(103)
    raw.ws.close()
  })

  it('versionless mode: synthetic versions that grow only when the data changes', async () => {
    const sdk = await connected(livedesk.wsUrl, 'dan')
    const channel = unique('vl')
    const sub = await subscribed(sdk, channel, 'dan')
    const got = updates(sub)
    items.set('v', { data: { text: 'one' } })
    sub.track(['v'])
    await until(() => got.length === 1, 5_000, 'the first update')
    expect(got[0].version).toBeGreaterThan(0)
    // Versionless: the backend is asked for keys only.
    expect(requestsFor(channel)[0].items).toEqual([{ key: 'v' }])
    const seen = requestsFor(channel).length
    await until(() => requestsFor(channel).length >= seen + 3, 5_000, 'three more poll cycles')
    expect(got).toHaveLength(1)
    items.set('v', { data: { text: 'two' } })
    await until(() => got.length === 2, 5_000, 'the changed data')
    expect(got[1].data).toEqual({ text: 'two' })
    expect(got[1].version).toBeGreaterThan(got[0].version)
  })

  it('a removal from the backend ends the key; the last untrack stops polling the channel after channel_shutdown_delay', async () => {
    const sdk = await connected(livedesk.wsUrl, 'erin')
    const channel = unique('poll')
    const sub = await subscribed(sdk, channel, 'erin')
    const got = updates(sub)
    items.set('gone', { data: { v: 1 }, version: 1 })
    items.set('stay', { data: { v: 1 }, version: 1 })
    sub.track(['gone', 'stay'])
    await until(() => got.length === 2, 5_000, 'two updates')
    items.set('gone', { data: null, version: 2, removed: true })
    await until(() => got.some((u) => u.key === 'gone' && u.removed), 5_000, 'the removal')
    expect(sub.trackedKeys()).toEqual(new Set(['stay']))
    const afterRemoval = requestsFor(channel).length
    await until(() => requestsFor(channel).length >= afterRemoval + 2, 5_000, 'two more polls')
    expect(requestsFor(channel).slice(afterRemoval).every((r) => r.items.every((i) => i.key === 'stay'))).toBe(true)
    expect(livedesk.node.sharedPoll.isPolling(channel)).toBe(true)
    sub.untrack(['stay'])
    await until(() => !livedesk.node.sharedPoll.isPolling(channel), 5_000, 'the channel to shut down')
  })

  it('drops a key whose signature expired past track_expired_extra_delay, and ends a subscription on the server API\'s unsubscribe', async () => {
    const sdk = await connected(livedesk.wsUrl, 'kim')
    const channel = unique('poll')
    const sub = sdk.newSharedPollSubscription(channel, {})
    sub.subscribe()
    await sub.ready(5_000)
    sub.on('error', () => {}) // the SDK cannot refresh the signature without getSignature
    const got = updates(sub)
    items.set('old', { data: { v: 1 }, version: 1 })
    items.set('new', { data: { v: 1 }, version: 1 })
    // Expired 2 s ago: within Centrifugo's 5 s grace, so accepted, then dropped at the next poll cycle.
    sub.track([{ key: 'old', version: 0 }], sign(channel, ['old'], 'kim', -2))
    sub.track([{ key: 'new', version: 0 }], sign(channel, ['new'], 'kim', 3600))
    await until(() => requestsFor(channel).length > 0 && requestsFor(channel).at(-1)!.items.map((i) => i.key).join() === 'new', 5_000, 'polls without the expired key')
    const seen = requestsFor(channel).length
    await until(() => requestsFor(channel).length >= seen + 2, 5_000, 'two more polls')
    expect(requestsFor(channel).slice(seen).every((r) => r.items.every((i) => i.key === 'new'))).toBe(true)
    expect(got.some((u) => u.key === 'new')).toBe(true)
    const unsubscribed = nextEvent(sub, 'unsubscribed')
    const res = await fetch(`${livedesk.url}/api/unsubscribe`, { method: 'POST', headers: { 'x-api-key': livedesk.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ user: 'kim', channel }) })
    expect(res.status).toBe(200)
    expect(await unsubscribed).toMatchObject({ channel })
    await until(() => !livedesk.node.sharedPoll.isPolling(channel), 5_000, 'the channel to shut down')
  })

  it('a poller survives bad backend answers (error status, not JSON, items not a list, an error) and delivers once the backend answers', async () => {
    const sdk = await connected(livedesk.wsUrl, 'lee')
    const channel = unique('poll')
    const sub = await subscribed(sdk, channel, 'lee')
    const got = updates(sub)
    badAnswers.push(
      { status: 500, body: '{}' }, { status: 200, body: 'not json' }, { status: 200, body: '{"result":{"items":{"k":1}}}' },
      { status: 200, body: '{"result":{"items":[{"key":"k","version":"x"},null,{"key":7}]}}' }, { status: 200, body: '{"error":{"code":1000,"message":"down"}}' },
    )
    items.set('k', { data: { ok: true }, version: 3 })
    sub.track(['k'])
    await until(() => got.length === 1, 5_000, 'the update after the bad answers')
    expect(badAnswers).toHaveLength(0)
    expect(got[0]).toMatchObject({ key: 'k', version: 3, data: { ok: true } })
  })

  it('does not start with a shared poll namespace whose proxy_name names no proxy', async () => {
    const { options } = fromCentrifugo({ ...centrifugoFile(backendUrl), proxies: [] })
    await expect(startTestLivedesk({ ...options, hooks: {} })).rejects.toThrow(/realtime\.namespaces\.poll\.sharedPoll\.proxyName: no proxy named "backend"/)
  })

  it('a connection that tracks a key another one already holds gets its current data at once', async () => {
    const channel = unique('poll')
    const first = await subscribed(await connected(livedesk.wsUrl, 'fay'), channel, 'fay')
    const firstGot = updates(first)
    items.set('shared', { data: { s: 1 }, version: 7 })
    first.track(['shared'])
    await until(() => firstGot.length === 1, 5_000, 'the first connection\'s update')
    const second = await subscribed(await connected(livedesk.wsUrl, 'gus'), channel, 'gus')
    const secondGot = updates(second)
    second.track(['shared'])
    await until(() => secondGot.length === 1, 5_000, 'the second connection\'s update')
    expect(secondGot[0]).toMatchObject({ key: 'shared', version: 7, data: { s: 1 } })
    expect(firstGot).toHaveLength(1)
  })
})

const redisUrl = serviceUrl('REDIS_URL', 'shared poll on two nodes over Redis')
if (redisUrl) {
  describe('shared poll on two nodes over Redis', () => {
    let a: TestLivedesk
    let b: TestLivedesk
    beforeAll(async () => {
      const redisPrefix = randomPrefix('shared-poll')
      ;[a, b] = await Promise.all([startNode({ redisUrl, redisPrefix }), startNode({ redisUrl, redisPrefix })])
    })

    it('each node polls the keys its own connections track; both get every change', async () => {
      const channel = unique('poll')
      const onA = await subscribed(await connected(a.wsUrl, 'hal'), channel, 'hal')
      const onB = await subscribed(await connected(b.wsUrl, 'ivy'), channel, 'ivy')
      const gotA = updates(onA)
      const gotB = updates(onB)
      items.set('doc', { data: { rev: 1 }, version: 1 })
      onA.track(['doc'])
      onB.track(['doc'])
      await until(() => gotA.length === 1 && gotB.length === 1, 5_000, 'the first version on both nodes')
      items.set('doc', { data: { rev: 2 }, version: 2 })
      await until(() => gotA.length === 2 && gotB.length === 2, 5_000, 'the second version on both nodes')
      expect([gotA[1].version, gotB[1].version]).toEqual([2, 2])
      expect(a.node.sharedPoll.isPolling(channel)).toBe(true)
      expect(b.node.sharedPoll.isPolling(channel)).toBe(true)
      // B's last connection leaves: B stops polling, A goes on.
      onB.unsubscribe()
      await until(() => !b.node.sharedPoll.isPolling(channel), 5_000, 'node B to stop polling')
      items.set('doc', { data: { rev: 3 }, version: 3 })
      await until(() => gotA.length === 3, 5_000, 'the third version on node A')
      expect(a.node.sharedPoll.isPolling(channel)).toBe(true)
    })
  })
}

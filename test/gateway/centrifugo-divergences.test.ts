/**
 * What centrifuge-js's own integration suite (test/sdk-suite) found livedesk answering differently from
 * Centrifugo v6 on WebSocket + JSON, one test each, through the real SDK (and the server API over HTTP).
 */
import type { Centrifuge, Options } from 'centrifuge'
import { SignJWT } from 'jose'
import WebSocket from 'ws'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { newSdk, nextEvent } from '../helpers/sdk.js'
import { itWebSocketOnly } from '../helpers/transports.js'

const secret = 'divergences-secret'
const jwt = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret))

/** Gateway with connection JWTs and no rpc hook; `open` allows client subscribes to named users only, `anon` to anonymous ones too. */
let livedesk: TestLivedesk
/** Centrifugo's `client.insecure`, as the SDK's CI runs it. */
let insecure: TestLivedesk
/** Centrifugo's `client.disallow_anonymous_connection_tokens`. */
let strict: TestLivedesk
beforeAll(async () => {
  ;[livedesk, insecure, strict] = await Promise.all([
    startTestLivedesk({
      hooks: {},
      realtime: {
        hmacSecret: secret,
        defaultNamespace: { historySize: 0, historyTtlMs: 300_000, forceRecovery: true, presence: false, joinLeave: false, allowSubscribe: false, allowPublish: false, allowHistory: false, allowPresence: false, allowAnonymous: false },
        namespaces: {
          open: { allowSubscribe: true },
          anon: { allowSubscribe: true, allowAnonymous: true },
          small: { historySize: 2, allowSubscribe: true, allowHistory: true },
        },
      },
    }),
    startTestLivedesk({ hooks: {}, realtime: { insecure: true, namespaces: { hist: { historySize: 10, presence: true } } } }),
    startTestLivedesk({ hooks: {}, realtime: { hmacSecret: secret, disallowAnonymousConnectionTokens: true } }),
  ])
})

const open: Centrifuge[] = []
afterEach(() => {
  for (const sdk of open.splice(0)) sdk.disconnect()
})

function sdkOf(url: string, options: Partial<Options> = {}): Centrifuge {
  const sdk = newSdk(url, options)
  open.push(sdk)
  return sdk
}

async function connected(url: string, options: Partial<Options> = {}): Promise<Centrifuge> {
  const sdk = sdkOf(url, options)
  const ready = nextEvent(sdk, 'connected')
  sdk.connect()
  await ready
  return sdk
}

describe('livedesk answers as Centrifugo v6 where the SDK suite found it did not', () => {
  it('a connection JWT without `sub` connects as the anonymous user, and a subscription JWT without `sub` is theirs (was 3500 / 103)', async () => {
    const sdk = await connected(livedesk.wsUrl, { token: await jwt({}) })
    const client = [...livedesk.node.hub.clients.values()].find((c) => c.isConnected && c.user === '')
    expect(client).toBeDefined()
    const sub = sdk.newSubscription('private:1', { token: await jwt({ channel: 'private:1' }) })
    const subscribed = nextEvent(sub, 'subscribed')
    sub.subscribe()
    await subscribed
  })

  it('anonymous connections get the allow* permissions only where the namespace allows anonymous (allow_*_for_anonymous)', async () => {
    const anonymous = await connected(livedesk.wsUrl, { token: await jwt({}) })
    const denied = anonymous.newSubscription('open:1')
    const unsubscribed = nextEvent(denied, 'unsubscribed')
    denied.subscribe()
    expect((await unsubscribed).code).toBe(103)
    const allowed = anonymous.newSubscription('anon:1')
    const subscribed = nextEvent(allowed, 'subscribed')
    allowed.subscribe()
    await subscribed
    const named = await connected(livedesk.wsUrl, { token: await jwt({ sub: 'bob' }) })
    const namedSub = named.newSubscription('open:1')
    const namedSubscribed = nextEvent(namedSub, 'subscribed')
    namedSub.subscribe()
    await namedSubscribed
  })

  it('disallowAnonymousConnectionTokens refuses a JWT without `sub` with 3507 permission denied', async () => {
    const sdk = sdkOf(strict.wsUrl, { token: await jwt({}) })
    const disconnected = nextEvent(sdk, 'disconnected')
    sdk.connect()
    expect((await disconnected).code).toBe(3507)
    const named = await connected(strict.wsUrl, { token: await jwt({ sub: 'carol' }) })
    expect(named.state).toBe('connected')
  })

  it('insecure: a connect without token is anonymous and may subscribe, publish and read presence and history', async () => {
    const sdk = await connected(insecure.wsUrl)
    const sub = sdk.newSubscription('hist:1')
    const subscribed = nextEvent(sub, 'subscribed')
    sub.subscribe()
    await subscribed
    const pub = nextEvent(sub, 'publication')
    await sub.publish({ n: 1 })
    expect((await pub).data).toEqual({ n: 1 })
    expect((await sub.history({ limit: 10 })).publications.map((p) => p.data)).toEqual([{ n: 1 }])
    expect(Object.values((await sub.presence()).clients).map((c) => c.user)).toEqual([''])
  })

  it('an rpc with no rpc handler answers 108 not available (was 104)', async () => {
    const sdk = await connected(livedesk.wsUrl, { token: await jwt({ sub: 'alice' }) })
    await expect(sdk.rpc('anything', {})).rejects.toMatchObject({ code: 108 })
    expect(sdk.state).toBe('connected')
  })

  it('a subscribe with the reject-unrecovered flag (getState) answers 112 when the position is lost, and the SDK reloads its state (was recovered:false)', async () => {
    const channel = 'small:getstate'
    for (let n = 1; n <= 5; n++) await livedesk.node.publish(channel, { n })
    const { body } = await serverApi(livedesk, 'history', { channel, limit: 0 })
    const top = { offset: body.result.offset as number, epoch: body.result.epoch as string }
    expect(top.offset).toBe(5)
    const sdk = await connected(livedesk.wsUrl, { token: await jwt({ sub: 'dave' }) })
    // The app's state is at offset 1, which history (2 publications) no longer covers; its reload is at the top.
    const states = [{ offset: 1, epoch: top.epoch }, top]
    let calls = 0
    const sub = sdk.newSubscription(channel, { minResubscribeDelay: 10, maxResubscribeDelay: 50, getState: async () => states[Math.min(calls++, 1)] })
    const subscribed = nextEvent(sub, 'subscribed')
    sub.subscribe()
    const ctx = await subscribed
    expect(calls).toBe(2)
    expect(ctx).toMatchObject({ wasRecovering: true, recovered: true })
    expect(ctx.streamPosition).toEqual({ offset: 5, epoch: top.epoch })
  })

  it('map and shared poll subscriptions of a stream namespace get an error, never a plain {} (103 for both, as Centrifugo checks the subscription type); map publish and remove there answer 107', async () => {
    const sdk = await connected(livedesk.wsUrl, { token: await jwt({ sub: 'erin' }) })
    const map = sdk.newMapSubscription('open:map')
    const mapRefused = nextEvent(map, 'unsubscribed')
    map.subscribe()
    expect((await mapRefused).code).toBe(103)
    const poll = sdk.newSharedPollSubscription('open:poll')
    const pollRefused = nextEvent(poll, 'unsubscribed')
    poll.subscribe()
    expect((await pollRefused).code).toBe(103)
    // A map publish is not a stream publish: a stream subscriber of the channel receives nothing from it.
    const stream = sdk.newSubscription('open:kv')
    const streamSubscribed = nextEvent(stream, 'subscribed')
    stream.subscribe()
    await streamSubscribed
    const first = nextEvent(stream, 'publication')
    // Map namespaces are test/gateway/map.test.ts's; here `open` is a stream namespace.
    await expect(sdk.mapPublish('open:kv', 'k', { v: 1 })).rejects.toMatchObject({ code: 107 })
    await expect(sdk.mapRemove('open:kv', 'k')).rejects.toMatchObject({ code: 107 })
    await livedesk.node.publish('open:kv', { genuine: true })
    expect((await first).data).toEqual({ genuine: true })
    expect(sdk.state).toBe('connected')
  })

  itWebSocketOnly('a sub_refresh without a token gets error 107 (the subscription ends), not a 3501 disconnect', 'rewrites the SDK\'s JSON frames in its socket', async () => {
    // The SDK never sends an empty token itself: its socket drops the token from the sub_refresh it sends.
    class TokenlessRefresh extends WebSocket {
      override send(data: any, ...rest: any[]): void {
        const lines = String(data).split('\n').map((line) => {
          const cmd = JSON.parse(line)
          if (cmd.sub_refresh) delete cmd.sub_refresh.token
          return JSON.stringify(cmd)
        })
        ;(super.send as Function)(lines.join('\n'), ...rest)
      }
    }
    const sdk = await connected(livedesk.wsUrl, { token: await jwt({ sub: 'frank' }), websocket: TokenlessRefresh })
    // More than a second ahead, so the SDK's refresh at the ttl comes well before the server ends the subscription.
    const token = await jwt({ sub: 'frank', channel: 'private:refresh', exp: Math.floor(Date.now() / 1000) + 2 })
    const sub = sdk.newSubscription('private:refresh', { token, getToken: async () => token })
    const subscribed = nextEvent(sub, 'subscribed')
    sub.subscribe()
    await subscribed
    // At the ttl the SDK refreshes; the reply is an error, and the connection stays.
    const ended = await nextEvent(sub, 'unsubscribed', () => true, 5_000)
    expect(ended.code).toBe(107)
    expect(sdk.state).toBe('connected')
  })

  it('the server API answers an unknown method as Centrifugo: 404 on /api/<method>, 400 in a legacy body, 104 "not found" in a batch', async () => {
    const perPath = await serverApi(livedesk, 'explode', {})
    expect(perPath.status).toBe(404)
    expect(perPath.body.error).toEqual({ code: 104, message: 'not found' })
    const legacy = await fetch(`${livedesk.url}/api`, {
      method: 'POST',
      headers: { 'x-api-key': livedesk.apiKey },
      body: JSON.stringify({ method: 'explode', params: {} }),
    })
    expect(legacy.status).toBe(400)
    expect((await legacy.json()).error).toMatchObject({ code: 107 })
    const batch = await serverApi(livedesk, 'batch', { commands: [{ explode: {} }, { info: {} }] })
    expect(batch.body.result.replies[0]).toEqual({ error: { code: 104, message: 'not found' } })
    expect(batch.body.result.replies[1].info.nodes).toHaveLength(1)
  })
})

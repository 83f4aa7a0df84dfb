import { SignJWT } from 'jose'
import { beforeAll, describe, it } from 'vitest'
import { Disconnect, Errors } from '../../src/protocol/codes.js'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'

const secret = 'auth-test-secret'
const nowSec = () => Math.floor(Date.now() / 1000)
const jwt = (claims: Record<string, unknown>, exp: number, key = secret) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(new TextEncoder().encode(key))

/** Proves that nothing more happens: a short, explicit window after a terminal event. */
const quietWindow = (ms = 600) => new Promise((r) => setTimeout(r, ms))

// The domain's own hooks (no `hooks` option): the seed's `data.settings.token` path, plus connection JWTs.
let livedesk: TestLivedesk
// Test hooks that refuse in the two ways the hooks contract offers.
let hooked: TestLivedesk
/** authenticate calls per `data.tag`, so that concurrent tests count their own. */
const hookCalls = new Map<string, number>()
beforeAll(async () => {
  ;[livedesk, hooked] = await Promise.all([
    // `private:*` opens only with a subscription JWT (no allowSubscribe).
    // The SDK refreshes at the rounded ttl, up to half a second past expiry; over emulation a refresh or a pong is an
    // HTTP request, which a loaded machine may take a second to deliver (production waits 25 s and 8 s, as Centrifugo).
    startTestLivedesk({ realtime: { hmacSecret: secret, expiredCloseDelayMs: 2_000, pongTimeoutMs: 3_000, namespaces: { private: { historySize: 10 } } } }),
    startTestLivedesk({
      hooks: {
        authenticate: async (e) => {
          const { refuse: how, tag } = e.data as { refuse?: string; tag: string }
          hookCalls.set(tag, (hookCalls.get(tag) ?? 0) + 1)
          if (how === 'reply') throw Errors.unauthorized()
          throw new Disconnect(4501, 'unauthorized')
        },
      },
    }),
  ])
})

// Concurrent: each test has its own clients; the 10-second refresh test need not hold the others up.
describe.concurrent('connect authentication and token refresh', () => {
  it('keeps a connection with a 2-second JWT alive for 10 seconds by refreshing it', async ({ expect }) => {
    let minted = 0
    const mint = () => jwt({ sub: 'refresher' }, nowSec() + 2)
    const sdk = newSdk(livedesk.wsUrl, { token: await mint(), getToken: async () => (minted++, mint()) })
    const connecting = collect(sdk, 'connecting')
    const disconnected = collect(sdk, 'disconnected')
    const errors = collect(sdk, 'error')
    const connected = nextEvent(sdk, 'connected')
    sdk.connect()
    const { client } = await connected
    const started = Date.now()
    // Ten seconds are the point of this test: five token lifetimes plus the server's close delay. By the wall clock:
    // a timer may fire a millisecond before Date.now() has moved on by its delay.
    while (Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 10_000 - (Date.now() - started) + 1))
    expect(Date.now() - started).toBeGreaterThanOrEqual(10_000)
    expect(sdk.state).toBe('connected')
    expect(connecting.map((c) => c.code)).toEqual([0])
    expect(disconnected).toHaveLength(0)
    expect(errors, JSON.stringify(errors)).toHaveLength(0)
    // Without refreshes the server would have closed it (3005) about 4 s in.
    expect(minted).toBeGreaterThanOrEqual(3)
    // The same connection all along, still known to the server.
    expect(livedesk.node.hub.clients.has(client)).toBe(true)
    sdk.disconnect()
  }, 20_000)

  it('keeps a client-side Subscription with a 2-second subscription JWT alive through sub_refresh; refuses another user\'s token', async ({ expect }) => {
    const sdk = newSdk(livedesk.wsUrl, { token: await jwt({ sub: 'subber' }, nowSec() + 3600) })
    let minted = 0
    const sub = sdk.newSubscription('private:1', {
      token: await jwt({ sub: 'subber', channel: 'private:1' }, nowSec() + 2),
      getToken: async () => (minted++, jwt({ sub: 'subber', channel: 'private:1' }, nowSec() + 2)),
    })
    const states = collect(sub, 'subscribing')
    const unsubscribed = collect(sub, 'unsubscribed')
    const ready = nextEvent(sub, 'subscribed')
    sub.subscribe()
    sdk.connect()
    expect(await ready).toMatchObject({ channel: 'private:1' })
    // Past two token lifetimes: without sub_refresh the server would end it (unsubscribe 2501).
    await until(() => minted >= 2, 8_000, 'two subscription token refreshes')
    expect(sub.state).toBe('subscribed')
    expect(states.map((s) => (s as unknown as { code: number }).code)).toEqual([0])
    expect(unsubscribed).toEqual([])

    const stolen = sdk.newSubscription('private:2', { token: await jwt({ sub: 'someone-else', channel: 'private:2' }, nowSec() + 60) })
    const refused = nextEvent(stolen, 'unsubscribed')
    stolen.subscribe()
    expect(await refused).toMatchObject({ code: 103 })
    sdk.disconnect()
  })

  it('turns the channels claim of a connection JWT into server-side subscriptions and its info into conn_info', async ({ expect }) => {
    const token = await jwt({ sub: 'claims-user', channels: ['jwt:a', 'jwt:b'], info: { name: 'Ann' } }, nowSec() + 3600)
    const sdk = newSdk(livedesk.wsUrl, { token })
    const subscribed = collect(sdk, 'subscribed')
    const connected = nextEvent(sdk, 'connected')
    sdk.connect()
    const { client } = await connected
    await until(() => subscribed.length === 2, 5_000, 'two server-side subscriptions')
    expect(subscribed.map((s) => s.channel).sort()).toEqual(['jwt:a', 'jwt:b'])
    const pub = nextEvent(sdk, 'publication', (p) => p.channel === 'jwt:b')
    await livedesk.node.publish('jwt:b', { via: 'claims' })
    expect((await pub).data).toEqual({ via: 'claims' })
    // The default namespace tracks presence: the JWT info is the connection info.
    expect((await livedesk.node.presence('jwt:a'))[client]).toEqual({ user: 'claims-user', client, conn_info: { name: 'Ann' } })
    sdk.disconnect()
  })

  it('gives the seed client with a bad domain token a disconnected event with code 101 and no reconnect attempts', async ({ expect }) => {
    const sdk = newSdk(livedesk.wsUrl, { data: { application: 'notifications', settings: { token: 'not-a-valid-token' } } })
    const connecting = collect(sdk, 'connecting')
    const connected = collect(sdk, 'connected')
    const disconnected = nextEvent(sdk, 'disconnected')
    sdk.connect()
    const ctx = await disconnected
    expect(ctx.code).toBe(101)
    expect(ctx.reason).toBe('unauthorized')
    await quietWindow()
    expect(connecting.map((c) => c.code)).toEqual([0])
    expect(connected).toHaveLength(0)
    expect(sdk.state).toBe('disconnected')
  })

  it('gives error 101 from an authenticate hook to the SDK as disconnected 101, once', async ({ expect }) => {
    const sdk = newSdk(hooked.wsUrl, { data: { refuse: 'reply', tag: 'reply' } })
    const connecting = collect(sdk, 'connecting')
    const disconnected = nextEvent(sdk, 'disconnected')
    sdk.connect()
    expect((await disconnected).code).toBe(101)
    await quietWindow()
    expect(connecting).toHaveLength(1)
    expect(hookCalls.get('reply')).toBe(1)
  })

  it('closes with the code of a Disconnect thrown by the authenticate hook (4501 is terminal)', async ({ expect }) => {
    const sdk = newSdk(hooked.wsUrl, { data: { refuse: 'disconnect', tag: 'disconnect' } })
    const connecting = collect(sdk, 'connecting')
    const disconnected = nextEvent(sdk, 'disconnected')
    sdk.connect()
    const ctx = await disconnected
    expect(ctx.code).toBe(4501)
    expect(ctx.reason).toBe('unauthorized')
    await quietWindow()
    expect(connecting).toHaveLength(1)
    expect(hookCalls.get('disconnect')).toBe(1)
  })

  it('closes a connection with an invalid JWT with 3500 and the SDK does not reconnect', async ({ expect }) => {
    for (const token of ['not.a.jwt', await jwt({ sub: 'u1' }, nowSec() + 3600, 'another-secret')]) {
      const sdk = newSdk(livedesk.wsUrl, { token })
      const connecting = collect(sdk, 'connecting')
      const disconnected = nextEvent(sdk, 'disconnected')
      sdk.connect()
      const ctx = await disconnected
      expect(ctx.code).toBe(3500)
      expect(ctx.reason).toBe('invalid token')
      await quietWindow(300)
      expect(connecting).toHaveLength(1)
    }
  })

  it('answers an expired JWT with 109; without getToken the SDK stops as unauthorized', async ({ expect }) => {
    const sdk = newSdk(livedesk.wsUrl, { token: await jwt({ sub: 'u1' }, nowSec() - 10) })
    sdk.on('error', () => {}) // the SDK reports the missing getToken as a configuration error
    const connecting = collect(sdk, 'connecting')
    const disconnected = nextEvent(sdk, 'disconnected')
    sdk.connect()
    const ctx = await disconnected
    expect(ctx.code).toBe(1) // the SDK's own "unauthorized"
    await quietWindow(300)
    expect(connecting.map((c) => c.code)).toEqual([0])
    expect(sdk.state).toBe('disconnected')
  })

  it('lets the SDK replace an expired JWT through getToken and connect', async ({ expect }) => {
    let minted = 0
    const sdk = newSdk(livedesk.wsUrl, {
      token: await jwt({ sub: 'u1' }, nowSec() - 10),
      getToken: async () => (minted++, jwt({ sub: 'u1' }, nowSec() + 3600)),
    })
    const connected = nextEvent(sdk, 'connected')
    sdk.connect()
    await connected
    expect(minted).toBe(1)
    sdk.disconnect()
  })
})

/**
 * Standalone mode: livedesk configured by a Centrifugo v6 file alone (src/config/centrifugo.ts), each namespace
 * option with the real SDK, allowed and refused with Centrifugo's codes; then the operator-chat domain on the same
 * server beside a standalone namespace.
 */
import type { Centrifuge, Subscription, SubscriptionOptions } from 'centrifuge'
import { exportSPKI, generateKeyPair, SignJWT } from 'jose'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { fromCentrifugo } from '../../src/config/centrifugo.js'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { connect, newClient, newOperator, ok, type Console } from '../http/e2e.js'

const SECRET = 'standalone-secret'
const STREAM = { history_size: 10, history_ttl: '60s' }

/** The file a Centrifugo user would keep: nothing is configured through livedesk's own keys. */
const CENTRIFUGO_FILE = {
  client: { token: { hmac_secret_key: SECRET }, history_max_publication_limit: 2 },
  http_api: { key: 'test-api-key' },
  channel: {
    namespaces: [
      { name: 'open', presence: true, ...STREAM, allow_subscribe_for_client: true, allow_publish_for_client: true, allow_history_for_client: true, allow_presence_for_client: true },
      { name: 'members', presence: true, ...STREAM, allow_subscribe_for_client: true, allow_publish_for_subscriber: true, allow_history_for_subscriber: true, allow_presence_for_subscriber: true },
      { name: 'lobby', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true, allow_publish_for_client: true },
      { name: 'dm', allow_user_limited_channels: true },
      { name: 'strict', allow_subscribe_for_client: true, channel_regex: '^[a-z]{1,8}$' },
      { name: 'plain', ...STREAM, allow_subscribe_for_client: true },
      { name: 'shortmeta', ...STREAM, history_meta_ttl: '200ms' },
      { name: 'forced', ...STREAM, allow_subscribe_for_client: true, force_positioning: true },
      { name: 'opt', ...STREAM, allow_subscribe_for_client: true, allow_positioning: true, allow_recovery: true },
      { name: 'cache', ...STREAM, allow_subscribe_for_client: true, force_recovery: true, force_recovery_mode: 'cache' },
      { name: 'jl', presence: true, join_leave: true, allow_subscribe_for_client: true, allow_presence_for_subscriber: true },
      { name: 'jlforce', presence: true, join_leave: true, force_push_join_leave: true, allow_subscribe_for_client: true },
      { name: 'tagged', ...STREAM, force_recovery: true, allow_subscribe_for_client: true, allow_tags_filter: true },
    ],
  },
}

const jwt = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))

let livedesk: TestLivedesk
const open: Centrifuge[] = []
beforeAll(async () => {
  const { options, warnings } = fromCentrifugo(CENTRIFUGO_FILE)
  expect(warnings).toEqual([])
  // Gateway only: no operator-chat domain (the last describe runs one beside a standalone namespace).
  livedesk = await startTestLivedesk({ ...options, hooks: {} })
})
afterEach(() => {
  for (const sdk of open.splice(0)) sdk.disconnect()
})

/** An SDK connected with a connection JWT of `user` ('' : an anonymous token, no `sub`). */
async function connected(user: string, url = livedesk.wsUrl): Promise<Centrifuge> {
  const sdk = newSdk(url, { token: await jwt(user ? { sub: user } : {}) })
  open.push(sdk)
  const ready = nextEvent(sdk, 'connected')
  sdk.connect()
  await ready
  return sdk
}

async function subscribed(sdk: Centrifuge, channel: string, opts: Partial<SubscriptionOptions> = {}) {
  const sub = sdk.newSubscription(channel, opts)
  const ready = nextEvent(sub, 'subscribed')
  sub.subscribe()
  return { sub, ctx: await ready }
}

/** The code a refused subscribe ends the Subscription with. */
async function refused(sdk: Centrifuge, channel: string, opts: Partial<SubscriptionOptions> = {}): Promise<number> {
  const sub = sdk.newSubscription(channel, opts)
  const ended = nextEvent(sub, 'unsubscribed')
  sub.subscribe()
  const { code } = await ended
  sdk.removeSubscription(sub)
  return code
}

describe('standalone mode from a Centrifugo file: channel names', () => {
  it('an unknown namespace is 102, a name too long or not matching channel_regex is 107, a private channel needs a token (103)', async () => {
    const alice = await connected('alice')
    expect(await refused(alice, 'nowhere:x')).toBe(102)
    await expect(alice.publish('nowhere:x', 1)).rejects.toMatchObject({ code: 102 })
    // The server API as well.
    expect((await serverApi(livedesk, 'publish', { channel: 'nowhere:x', data: 1 })).body.error).toMatchObject({ code: 102 })
    expect((await serverApi(livedesk, 'history', { channel: 'nowhere:x' })).body.error).toMatchObject({ code: 102 })
    expect(await refused(alice, `open:${'x'.repeat(300)}`)).toBe(107)
    expect(await refused(alice, 'strict:Not-Allowed')).toBe(107)
    await subscribed(alice, 'strict:fine')
    expect(await refused(alice, '$open:secret')).toBe(103)
    const token = await jwt({ sub: 'alice', channel: '$open:secret' })
    const { ctx } = await subscribed(alice, '$open:secret', { token })
    expect(ctx.channel).toBe('$open:secret')
  })
})

describe('standalone mode from a Centrifugo file: permissions', () => {
  it('allow_*_for_client: any authenticated connection, subscribed or not', async () => {
    const alice = await connected('alice')
    await alice.publish('open:a', { n: 1 })
    expect((await alice.history('open:a', { limit: 10 })).publications.map((p) => p.data)).toEqual([{ n: 1 }])
    await alice.presenceStats('open:a')
  })

  it('allow_*_for_subscriber: only once subscribed; before, 103', async () => {
    const bob = await connected('bob')
    await expect(bob.publish('members:a', { n: 1 })).rejects.toMatchObject({ code: 103 })
    await expect(bob.history('members:a', { limit: 10 })).rejects.toMatchObject({ code: 103 })
    await expect(bob.presence('members:a')).rejects.toMatchObject({ code: 103 })
    const { sub } = await subscribed(bob, 'members:a')
    const got = nextEvent(sub, 'publication')
    await bob.publish('members:a', { n: 2 })
    expect((await got).data).toEqual({ n: 2 })
    expect((await bob.history('members:a', { limit: 10 })).publications).toHaveLength(1)
    expect(Object.values((await bob.presence('members:a')).clients).map((c) => c.user)).toEqual(['bob'])
  })

  it('anonymous connections need allow_*_for_anonymous besides for_client', async () => {
    const anonymous = await connected('')
    await subscribed(anonymous, 'lobby:a')
    await expect(anonymous.publish('lobby:a', 1)).rejects.toMatchObject({ code: 103 })
    expect(await refused(anonymous, 'open:a')).toBe(103)
    const carol = await connected('carol')
    await carol.publish('lobby:a', 1)
  })

  it('allow_anonymous_connect_without_token: a connect without a token is anonymous, with only the anonymous permissions', async () => {
    const withoutToken = fromCentrifugo({ ...CENTRIFUGO_FILE, client: { ...CENTRIFUGO_FILE.client, allow_anonymous_connect_without_token: true } })
    const other = await startTestLivedesk({ ...withoutToken.options, hooks: {} })
    const noToken = newSdk(livedesk.wsUrl)
    open.push(noToken)
    const closed = nextEvent(noToken, 'disconnected')
    noToken.connect()
    expect((await closed).code).toBe(3501)
    const anonymous = newSdk(other.wsUrl)
    open.push(anonymous)
    const ready = nextEvent(anonymous, 'connected')
    anonymous.connect()
    expect((await ready).client).toEqual(expect.any(String))
    await subscribed(anonymous, 'lobby:a')
    await expect(anonymous.publish('lobby:a', 1)).rejects.toMatchObject({ code: 103 })
  })

  it('client.token.rsa_public_key: RS256 connection JWTs signed with its private key connect; HS256 ones no longer do', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256')
    const rsa = fromCentrifugo({ ...CENTRIFUGO_FILE, client: { token: { rsa_public_key: await exportSPKI(publicKey) } } })
    const other = await startTestLivedesk({ ...rsa.options, hooks: {} })
    const token = await new SignJWT({ sub: 'rita' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('1h').sign(privateKey)
    const sdk = newSdk(other.wsUrl, { token })
    open.push(sdk)
    const ready = nextEvent(sdk, 'connected')
    sdk.connect()
    await ready
    await subscribed(sdk, 'open:rsa')
    const hmac = newSdk(other.wsUrl, { token: await jwt({ sub: 'rita' }) })
    open.push(hmac)
    const closed = nextEvent(hmac, 'disconnected')
    hmac.connect()
    expect((await closed).code).toBe(3500)
  })

  it('user-limited channels: the users after # may subscribe; others (and the channel without #) get 103', async () => {
    const alice = await connected('alice')
    const carol = await connected('carol')
    await subscribed(alice, 'dm:chat#alice,bob')
    expect(await refused(carol, 'dm:chat#alice,bob')).toBe(103)
    expect(await refused(alice, 'dm:chat')).toBe(103)
  })

  it('history_max_publication_limit caps a client history call', async () => {
    const alice = await connected('alice')
    for (let i = 1; i <= 4; i++) await alice.publish('open:capped', { i })
    expect((await alice.history('open:capped', { limit: 10 })).publications.map((p) => p.data)).toEqual([{ i: 1 }, { i: 2 }])
    expect((await serverApi(livedesk, 'history', { channel: 'open:capped', limit: 10 })).body.result.publications).toHaveLength(4)
  })
})

describe('standalone mode from a Centrifugo file: positioning, recovery, join/leave, tags filter', () => {
  it('positioning and recovery: forced, allowed when asked (allow_*), or not given', async () => {
    const alice = await connected('alice')
    const plain = await subscribed(alice, 'plain:a', { positioned: true, recoverable: true })
    expect(plain.ctx).toMatchObject({ positioned: false, recoverable: false })
    const asked = await subscribed(alice, 'opt:a', { positioned: true })
    expect(asked.ctx).toMatchObject({ positioned: true, recoverable: false })
    const recoverable = await subscribed(alice, 'opt:b', { recoverable: true })
    expect(recoverable.ctx).toMatchObject({ positioned: true, recoverable: true })
    const notAsked = await subscribed(alice, 'opt:c')
    expect(notAsked.ctx).toMatchObject({ positioned: false, recoverable: false })
    const forced = await subscribed(alice, 'forced:a')
    expect(forced.ctx).toMatchObject({ positioned: true, recoverable: false })
  })

  it('history_meta_ttl of a namespace: its stream (epoch) ends that long after its last use; others keep theirs', async () => {
    const epochOf = async (channel: string) => (await serverApi(livedesk, 'history', { channel })).body.result.epoch as string
    await serverApi(livedesk, 'publish', { channel: 'shortmeta:a', data: 1 })
    await serverApi(livedesk, 'publish', { channel: 'plain:meta', data: 1 })
    const [shortEpoch, plainEpoch] = [await epochOf('shortmeta:a'), await epochOf('plain:meta')]
    // The TTL is the event awaited: nothing touches either stream meanwhile.
    await new Promise((r) => setTimeout(r, 400))
    expect(await epochOf('shortmeta:a')).not.toBe(shortEpoch)
    expect(await epochOf('plain:meta')).toBe(plainEpoch)
  })

  it('cache recovery mode: a resubscribe gets only the latest publication, recovered', async () => {
    const alice = await connected('alice')
    const { ctx } = await subscribed(alice, 'cache:a')
    expect(ctx).toMatchObject({ recoverable: true, positioned: true })
    for (let i = 1; i <= 3; i++) await serverApi(livedesk, 'publish', { channel: 'cache:a', data: { i } })
    const since = ctx.streamPosition!
    const again = await connected('alice')
    const sub = again.newSubscription('cache:a', { since })
    const pubs = collect(sub, 'publication')
    const ready = nextEvent(sub, 'subscribed')
    sub.subscribe()
    expect(await ready).toMatchObject({ wasRecovering: true, recovered: true })
    await until(() => pubs.length >= 1)
    expect(pubs.map((p) => p.data)).toEqual([{ i: 3 }])
  })

  it('join/leave: pushed to subscribers that ask (joinLeave) and may read presence; force_push_join_leave pushes to all', async () => {
    const watcher = await connected('watcher')
    const quiet = await connected('quiet')
    const asking = await subscribed(watcher, 'jl:room', { joinLeave: true })
    const notAsking = await subscribed(quiet, 'jl:room')
    const forced = await subscribed(quiet, 'jlforce:room')
    const notAskingJoins = collect(notAsking.sub, 'join')
    const joinedAsking = nextEvent(asking.sub, 'join', (j) => j.info.user === 'dave')
    const joinedForced = nextEvent(forced.sub, 'join', (j) => j.info.user === 'dave')
    const dave = await connected('dave')
    await subscribed(dave, 'jl:room')
    await subscribed(dave, 'jlforce:room')
    await joinedAsking
    await joinedForced
    // The join reached `forced` on the same connection as `notAsking` after it would have reached notAsking.
    expect(notAskingJoins).toEqual([])
  })

  it('tags filter: only matching publications arrive, the position still moves; a namespace without allow_tags_filter answers 107', async () => {
    const alice = await connected('alice')
    expect(await refused(alice, 'open:t', { tagsFilter: { key: 'kind', cmp: 'eq', val: 'a' } })).toBe(107)
    const { sub } = await subscribed(alice, 'tagged:t', { tagsFilter: { key: 'kind', cmp: 'eq', val: 'a' } })
    const pubs = collect(sub, 'publication')
    const unsubscribed = collect(sub, 'unsubscribed')
    for (const kind of ['a', 'b', 'b', 'a']) await serverApi(livedesk, 'publish', { channel: 'tagged:t', data: { kind }, tags: { kind } })
    await until(() => pubs.length >= 2)
    expect(pubs.map((p) => [p.data, p.offset])).toEqual([[{ kind: 'a' }, 1], [{ kind: 'a' }, 4]])
    expect(unsubscribed).toEqual([])
    expect(sub.state).toBe('subscribed')
    // Recovery from before the first publication brings back the matching ones only.
    const again = await connected('alice')
    const { epoch } = (await serverApi(livedesk, 'history', { channel: 'tagged:t' })).body.result
    const resub = again.newSubscription('tagged:t', { tagsFilter: { key: 'kind', cmp: 'eq', val: 'b' }, since: { offset: 0, epoch } })
    const recovered = collect(resub, 'publication')
    const ready = nextEvent(resub, 'subscribed')
    resub.subscribe()
    expect(await ready).toMatchObject({ wasRecovering: true, recovered: true })
    await until(() => recovered.length >= 2)
    expect(recovered.map((p) => [p.data, p.offset])).toEqual([[{ kind: 'b' }, 2], [{ kind: 'b' }, 3]])
  })
})

describe('the operator-chat domain beside a standalone namespace on one server', () => {
  let both: TestLivedesk
  beforeAll(async () => {
    // The file opens every channel to clients and even names the domain's `client` namespace: neither reaches it.
    const { options } = fromCentrifugo({
      client: { insecure: true, token: { hmac_secret_key: SECRET } },
      channel: {
        without_namespace: { allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
        namespaces: [
          { name: 'chat', ...STREAM, presence: true, allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true, allow_publish_for_subscriber: true, allow_publish_for_anonymous: true },
          { name: 'client', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
        ],
      },
    })
    both = await startTestLivedesk(options)
  })

  it("the seed's console gets its events while an anonymous and a JWT client use a standalone namespace; the domain's channels stay closed", async () => {
    const operator = await newOperator(both, 'Olga')
    const console_: Console = await connect(both, 'notifications', operator.token)
    open.push(console_.sdk)
    // A standalone client (insecure: anonymous) and one with a connection JWT share chat:lobby.
    const anonymous = await connected('', both.wsUrl)
    const eve = await connected('eve', both.wsUrl)
    const lobby = await subscribed(anonymous, 'chat:lobby')
    await subscribed(eve, 'chat:lobby')
    const got = nextEvent(lobby.sub, 'publication')
    await eve.publish('chat:lobby', { text: 'hi' })
    expect(await got).toMatchObject({ data: { text: 'hi' }, info: { user: 'eve' } })
    // The domain's namespaces: server-side only, whatever `insecure` and the file say.
    const client = await newClient(both)
    expect(await refused(anonymous, `operator:${operator.id}`)).toBe(103)
    expect(await refused(anonymous, `client:${client.id}`)).toBe(103)
    expect(await refused(eve, 'operators:queue')).toBe(103)
    await expect(eve.history(`client:${client.id}`, { limit: 10 })).rejects.toMatchObject({ code: 103 })
    // No domain RPC for standalone connections: 108 as Centrifugo without an RPC proxy.
    await expect(anonymous.rpc('getSessions', {})).rejects.toMatchObject({ code: 108 })
    // The domain works as before: a client's message reaches the operator's console.
    await ok(both, 'POST', `/clients/${client.id}/messages`, { text: 'help' })
    const created = await console_.next('chatMessageCreated', (e) => e.data.text === 'help', 10_000)
    expect(created.data).toMatchObject({ author: { type: 'client', id: client.id } })
  })
})

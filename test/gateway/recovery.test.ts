import { beforeAll, describe, expect, it } from 'vitest'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'

/** Lets a test hold the next connects in `authenticate` while it publishes what the client will have missed. */
function gatedAuth(channels: (user: string) => string[]) {
  let gate: Promise<void> | undefined
  let open = () => {}
  let held = 0
  return {
    hooks: {
      authenticate: async (e: { data?: unknown }) => {
        const user = (e.data as { user: string }).user
        if (gate) {
          held++
          await gate
        }
        return { user, channels: channels(user) }
      },
    },
    close() {
      held = 0
      gate = new Promise((r) => (open = r))
    },
    open() {
      gate = undefined
      open()
    },
    get held() {
      return held
    },
  }
}

const seqOf = (pubs: Array<{ data: any }>) => pubs.map((p) => p.data.seq)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

async function publishSeq(livedesk: { apiKey: string; url: string }, channel: string, from: number, to: number) {
  for (let seq = from; seq <= to; seq++) {
    const res = await serverApi(livedesk as any, 'publish', { channel, data: { seq } })
    expect(res.body.error).toBeUndefined()
  }
}

// One server for the file (a start costs seconds): `personal:*` keeps the default history, `small:*` only 10.
const auth = gatedAuth((u) => (u.startsWith('small-') ? [`small:${u}`] : u.startsWith('room-') ? [] : [`personal:${u}`]))
let livedesk: TestLivedesk
beforeAll(async () => {
  livedesk = await startTestLivedesk({
    hooks: auth.hooks,
    realtime: { namespaces: { small: { historySize: 10 }, room: { historySize: 100, allowSubscribe: true } } },
  })
})

describe('recovery of a server-side subscription', () => {
  it('delivers the 50 publications made while the client was cut off exactly once, in order, with recovered:true', async () => {
    const channel = 'personal:u1'
    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'u1' } })
    const pubs = collect(sdk, 'publication')
    const subscribed = collect(sdk, 'subscribed')
    const connecting = collect(sdk, 'connecting')
    const first = nextEvent(sdk, 'subscribed', (c) => c.channel === channel)
    sdk.connect()
    await first
    await publishSeq(livedesk, channel, 1, 3)
    await until(() => pubs.length === 3, 5_000, '3 live publications')

    auth.close()
    const reconnecting = nextEvent(sdk, 'connecting', (c) => c.code === 3011)
    await livedesk.node.disconnectUser('u1', 3011, 'force reconnect')
    await reconnecting
    await until(() => auth.held === 1, 5_000, 'the reconnect to reach authenticate')
    await publishSeq(livedesk, channel, 4, 53)
    const recovered = nextEvent(sdk, 'subscribed', (c) => c.channel === channel && c.wasRecovering)
    auth.open()
    const ctx = await recovered
    expect(ctx.recovered).toBe(true)
    expect(ctx.hasRecoveredPublications).toBe(true)
    // Live publications right after the recovery continue the stream without a gap or a repeat.
    await publishSeq(livedesk, channel, 54, 60)
    await until(() => pubs.length >= 60, 5_000, '60 publications')
    expect(seqOf(pubs)).toEqual(range(1, 60))
    expect(pubs.every((p) => p.channel === channel)).toBe(true)
    expect(pubs.map((p) => p.offset)).toEqual(range(1, 60))
    expect(subscribed.filter((s) => s.channel === channel)).toHaveLength(2)
    expect(connecting.map((c) => c.code).filter((c) => c !== 0)).toEqual([3011])
    sdk.disconnect()
  })

  it('loses nothing and repeats nothing when publications keep coming during the reconnect', async () => {
    const channel = 'personal:u2'
    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'u2' } })
    const pubs = collect(sdk, 'publication')
    const first = nextEvent(sdk, 'subscribed', (c) => c.channel === channel)
    sdk.connect()
    await first

    let seq = 0
    let stop = false
    let recovered: Promise<any> | undefined
    let seqAtCut = Infinity
    // A bounded publisher racing the disconnect, the recovery and the first live deliveries. While the client is
    // away it runs at most 200 ahead, under the 300 a recovery may return, so a slow reconnect on a loaded machine
    // tests the race, not that limit.
    const publisher = (async () => {
      while (!stop && seq < 400) {
        if (recovered && seq - seqAtCut >= 200) await recovered
        seq++
        await livedesk.node.publish(channel, { seq })
        if (seq % 5 === 0) await new Promise((r) => setImmediate(r))
      }
    })()
    await until(() => pubs.length >= 10, 5_000, 'first publications')
    recovered = nextEvent(sdk, 'subscribed', (c) => c.channel === channel && c.wasRecovering)
    seqAtCut = seq
    await livedesk.node.disconnectUser('u2', 3011, 'force reconnect')
    const ctx = await recovered
    // Keep publishing a little past the recovery so live deliveries race the recovered ones.
    const atRecovery = seq
    await until(() => seq >= Math.min(atRecovery + 30, 400), 5_000, 'publications after the recovery')
    stop = true
    await publisher
    await until(() => pubs.length >= seq, 5_000, `all ${seq} publications`)
    expect(ctx.recovered).toBe(true)
    expect(seqOf(pubs)).toEqual(range(1, seq))
    sdk.disconnect()
  })

  it('reports recovered:false and repeats nothing when history was trimmed past the client position', async () => {
    const channel = 'small:small-u1'
    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'small-u1' } })
    const pubs = collect(sdk, 'publication')
    const first = nextEvent(sdk, 'subscribed', (c) => c.channel === channel)
    sdk.connect()
    const firstCtx = await first
    expect(firstCtx.recoverable).toBe(true)
    await publishSeq(livedesk, channel, 1, 2)
    await until(() => pubs.length === 2, 5_000, '2 live publications')

    auth.close()
    const reconnecting = nextEvent(sdk, 'connecting', (c) => c.code === 3011)
    await livedesk.node.disconnectUser('small-u1', 3011, 'force reconnect')
    await reconnecting
    await until(() => auth.held === 1, 5_000, 'the reconnect to reach authenticate')
    await publishSeq(livedesk, channel, 3, 52)
    const resubscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === channel && c.wasRecovering)
    auth.open()
    const ctx = await resubscribed
    expect(ctx.recovered).toBe(false)
    expect(ctx.hasRecoveredPublications).toBe(false)
    expect(ctx.streamPosition?.offset).toBe(52)
    await publishSeq(livedesk, channel, 53, 53)
    await until(() => pubs.length >= 3, 5_000, 'the publication after the reconnect')
    expect(seqOf(pubs)).toEqual([1, 2, 53])
    sdk.disconnect()
  })
})

describe('recovery limits', () => {
  it('gives up (recovered:false, nothing replayed) past recoveryMaxPublications (300) missed publications', async () => {
    const channel = 'personal:many'
    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'many' } })
    const pubs = collect(sdk, 'publication')
    const first = nextEvent(sdk, 'subscribed', (c) => c.channel === channel)
    sdk.connect()
    await first
    await livedesk.node.publish(channel, { seq: 1 })
    await until(() => pubs.length === 1, 5_000, 'the first publication')

    auth.close()
    const reconnecting = nextEvent(sdk, 'connecting', (c) => c.code === 3011)
    await livedesk.node.disconnectUser('many', 3011, 'force reconnect')
    await reconnecting
    await until(() => auth.held === 1, 5_000, 'the reconnect to reach authenticate')
    for (let seq = 2; seq <= 302; seq++) await livedesk.node.publish(channel, { seq })
    const resubscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === channel && c.wasRecovering)
    auth.open()
    const ctx = await resubscribed
    expect(ctx.recovered).toBe(false)
    expect(ctx.streamPosition?.offset).toBe(302)
    await livedesk.node.publish(channel, { seq: 303 })
    await until(() => pubs.length >= 2, 5_000, 'the publication after the reconnect')
    expect(seqOf(pubs)).toEqual([1, 303])
    sdk.disconnect()
  })
})

describe('recovery of a client-side Subscription', () => {
  it('recovers the publications missed during a reconnect on the Subscription', async () => {
    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'room-u1' } })
    const sub = sdk.newSubscription('room:1')
    const pubs = collect(sub, 'publication')
    const subscribed = collect(sub, 'subscribed')
    const first = nextEvent(sub, 'subscribed')
    sub.subscribe()
    sdk.connect()
    expect((await first).recoverable).toBe(true)
    await publishSeq(livedesk, 'room:1', 1, 3)
    await until(() => pubs.length === 3, 5_000, '3 live publications')

    auth.close()
    const reconnecting = nextEvent(sdk, 'connecting', (c) => c.code === 3011)
    await livedesk.node.disconnectUser('room-u1', 3011, 'force reconnect')
    await reconnecting
    await until(() => auth.held === 1, 5_000, 'the reconnect to reach authenticate')
    await publishSeq(livedesk, 'room:1', 4, 53)
    const recovered = nextEvent(sub, 'subscribed', (c) => c.wasRecovering)
    auth.open()
    const ctx = await recovered
    expect(ctx.recovered).toBe(true)
    await publishSeq(livedesk, 'room:1', 54, 55)
    await until(() => pubs.length >= 55, 5_000, '55 publications')
    expect(seqOf(pubs)).toEqual(range(1, 55))
    expect(subscribed).toHaveLength(2)
    sdk.disconnect()
  })
})

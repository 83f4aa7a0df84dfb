import type { Centrifuge } from 'centrifuge'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Errors } from '../../src/protocol/codes.js'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { gatewayTransport, itOverOrderedTransports } from '../helpers/transports.js'
import { dataAuth } from './raw.js'

const messages: Array<{ user: string; data: unknown }> = []
let livedesk: TestLivedesk
beforeAll(async () => {
  livedesk = await startTestLivedesk({
    hooks: {
      ...dataAuth,
      rpc: async (ctx, method, data) => {
        if (method !== 'echo') throw Errors.methodNotFound()
        return { user: ctx.user, echoed: data }
      },
      message: (ctx, data) => void messages.push({ user: ctx.user, data }),
    },
    realtime: {
      namespaces: {
        chat: { historySize: 100, presence: true, allowSubscribe: true, allowPublish: true, allowHistory: true, allowPresence: true },
        locked: { historySize: 100, presence: true },
        party: { allowSubscribe: true, presence: true, joinLeave: true },
      },
    },
  })
})

const open: Centrifuge[] = []
afterEach(() => {
  for (const sdk of open.splice(0)) sdk.disconnect()
})

async function connected(user: string): Promise<Centrifuge> {
  const sdk = newSdk(livedesk.wsUrl, { data: { user } })
  open.push(sdk)
  const ready = nextEvent(sdk, 'connected')
  sdk.connect()
  await ready
  return sdk
}

async function subscribed(sdk: Centrifuge, channel: string) {
  const sub = sdk.newSubscription(channel)
  const ready = nextEvent(sub, 'subscribed')
  sub.subscribe()
  await ready
  return sub
}

describe('client commands through the SDK', () => {
  it('rpc: the hook answers with data; an unknown method rejects with 104', async () => {
    const sdk = await connected('alice')
    const result = await sdk.rpc('echo', { n: 7, s: 'x' })
    expect(result.data).toEqual({ user: 'alice', echoed: { n: 7, s: 'x' } })
    await expect(sdk.rpc('nope', {})).rejects.toMatchObject({ code: 104 })
    // The connection survives the refusal.
    expect((await sdk.rpc('echo', 1)).data).toEqual({ user: 'alice', echoed: 1 })
  })

  it('publish: a second subscribed SDK receives it with the publisher as info; a namespace without allowPublish answers 103', async () => {
    const alice = await connected('alice')
    const bob = await connected('bob')
    const bobSub = await subscribed(bob, 'chat:pub')
    const received = nextEvent(bobSub, 'publication')
    const result = await alice.publish('chat:pub', { text: 'hi bob' })
    expect(result).toEqual({})
    const pub = await received
    expect(pub.data).toEqual({ text: 'hi bob' })
    expect(pub.info?.user).toBe('alice')
    expect(pub.offset).toBe(1)
    await expect(alice.publish('locked:pub', { text: 'no' })).rejects.toMatchObject({ code: 103 })
    const history = await serverApi(livedesk, 'history', { channel: 'locked:pub', limit: -1 })
    expect(history.body.result.publications).toEqual([])
  })

  it('history: limit, since and reverse page through the stream; limit 0 gives only the position', async () => {
    const sdk = await connected('alice')
    for (let n = 1; n <= 5; n++) await livedesk.node.publish('chat:hist', { n })
    const ns = (r: { publications: Array<{ data: any }> }) => r.publications.map((p) => p.data.n)

    const top = await sdk.history('chat:hist', { limit: 0 })
    expect(top.publications).toEqual([])
    expect(top.offset).toBe(5)
    expect(top.epoch).toMatch(/.+/)
    expect(ns(await sdk.history('chat:hist', { limit: 2 }))).toEqual([1, 2])
    expect(ns(await sdk.history('chat:hist', { limit: -1 }))).toEqual([1, 2, 3, 4, 5])
    expect(ns(await sdk.history('chat:hist', { limit: 2, reverse: true }))).toEqual([5, 4])
    const since = { offset: 2, epoch: top.epoch }
    expect(ns(await sdk.history('chat:hist', { limit: 10, since }))).toEqual([3, 4, 5])
    expect(ns(await sdk.history('chat:hist', { limit: 10, since: { offset: 4, epoch: top.epoch }, reverse: true }))).toEqual([3, 2, 1])
    const page = await sdk.history('chat:hist', { limit: 10, since })
    expect(page.publications.map((p) => p.offset)).toEqual([3, 4, 5])
    await expect(sdk.history('chat:hist', { limit: 10, since: { offset: 2, epoch: 'another-epoch' } })).rejects.toMatchObject({ code: 112 })
    await expect(sdk.history('locked:hist', { limit: 10 })).rejects.toMatchObject({ code: 103 })
  })

  it('presence and presence_stats list the subscribers of a channel', async () => {
    const alice = await connected('alice')
    const bob = await connected('bob')
    const bob2 = await connected('bob')
    const subs = [await subscribed(alice, 'chat:room'), await subscribed(bob, 'chat:room'), await subscribed(bob2, 'chat:room')]
    const presence = await alice.presence('chat:room')
    const clients = Object.values(presence.clients)
    expect(clients.map((c) => c.user).sort()).toEqual(['alice', 'bob', 'bob'])
    for (const c of clients) expect(presence.clients[c.client]).toBe(c)
    expect(await alice.presenceStats('chat:room')).toEqual({ numClients: 3, numUsers: 2 })
    // Through the Subscription too, and after one leaves.
    subs[2].unsubscribe()
    await until(async () => (await subs[0].presenceStats()).numClients === 2, 5_000, 'presence to drop the leaver')
    expect(await subs[1].presenceStats()).toEqual({ numClients: 2, numUsers: 2 })
    await expect(alice.presence('locked:room')).rejects.toMatchObject({ code: 103 })
  })

  it('send: the data reaches the message hook with the sender, and no reply is needed', async () => {
    const sdk = await connected('carol')
    const before = messages.length
    await sdk.send({ ping: 'fire and forget' })
    await sdk.send([1, 2, 3])
    await until(() => messages.length === before + 2, 5_000, 'the message hook')
    const sent = [
      { user: 'carol', data: { ping: 'fire and forget' } },
      { user: 'carol', data: [1, 2, 3] },
    ]
    // Over emulation the two sends are two HTTP requests, handled in either order.
    if (gatewayTransport().ordered) expect(messages.slice(before)).toEqual(sent)
    else expect(messages.slice(before)).toEqual(expect.arrayContaining(sent))
    // Commands after a send are still answered: the connection is healthy.
    expect((await sdk.rpc('echo', 'after')).data).toEqual({ user: 'carol', echoed: 'after' })
  })

  it('subscribe: a channel the namespace does not open is refused with 103 and the Subscription ends', async () => {
    const sdk = await connected('erin')
    const sub = sdk.newSubscription('locked:sub')
    const unsubscribed = nextEvent(sub, 'unsubscribed')
    sub.subscribe()
    expect(await unsubscribed).toMatchObject({ code: 103 })
    expect(sub.state).toBe('unsubscribed')
    expect(livedesk.node.hub.channels.has('locked:sub')).toBe(false)
    expect(sdk.state).toBe('connected')
  })

  it('join and leave pushes reach the other subscribers of a joinLeave namespace', async () => {
    const alice = await connected('alice')
    const bob = await connected('bob')
    const aliceSub = await subscribed(alice, 'party:1')
    const joined = nextEvent(aliceSub, 'join', (c) => c.info.user === 'bob')
    const bobSub = await subscribed(bob, 'party:1')
    const join = await joined
    expect(join.info.client).toMatch(/.+/)
    const left = nextEvent(aliceSub, 'leave', (c) => c.info.user === 'bob')
    bobSub.unsubscribe()
    expect((await left).info.client).toBe(join.info.client)
  })

  it('message pushes from the server reach the SDK message event', async () => {
    const sdk = await connected('frank')
    const got = nextEvent(sdk, 'message')
    await livedesk.node.sendToUser('frank', { note: 'just for you' })
    expect((await got).data).toEqual({ note: 'just for you' })
  })

  itOverOrderedTransports('handles the commands of one connection in order', async () => {
    const sdk = await connected('dave')
    const sub = sdk.newSubscription('chat:order')
    const pubs = collect(sub, 'publication')
    sub.subscribe()
    // Published before the subscribe reply can have arrived: the subscribe is handled first.
    const publishes = Array.from({ length: 20 }, (_, i) => sdk.publish('chat:order', { i }))
    await Promise.all(publishes)
    await until(() => pubs.length === 20, 5_000, '20 publications')
    expect(pubs.map((p) => p.data.i)).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })
})

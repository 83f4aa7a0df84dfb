import type { Centrifuge } from 'centrifuge'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { dataAuth } from './raw.js'

let livedesk: TestLivedesk
beforeAll(async () => {
  livedesk = await startTestLivedesk({ hooks: dataAuth, realtime: { namespaces: { plain: { historySize: 0 } } } })
})

const open: Centrifuge[] = []
afterEach(() => {
  for (const sdk of open.splice(0)) sdk.disconnect()
})

async function client(user: string, channels: string[]): Promise<{ sdk: Centrifuge; id: string }> {
  const sdk = newSdk(livedesk.wsUrl, { data: { user, channels } })
  open.push(sdk)
  const ready = nextEvent(sdk, 'connected')
  sdk.connect()
  return { sdk, id: (await ready).client }
}

const api = async (method: string, body: unknown) => {
  const res = await serverApi(livedesk, method, body)
  expect(res.body).toEqual({ result: expect.anything() })
  return res.body.result
}

describe('server-side subscriptions at run time', () => {
  it('subscribe adds a channel (subscribed event, then its publications); unsubscribe removes it (unsubscribed event, nothing more)', async () => {
    const { sdk } = await client('u1', ['home:u1'])
    const pubs = collect(sdk, 'publication')
    await api('publish', { channel: 'topic:1', data: { before: 'subscribe' } })

    const subscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === 'topic:1')
    await api('subscribe', { user: 'u1', channel: 'topic:1' })
    const ctx = await subscribed
    // The default namespace keeps history: the channel is positioned at the current top.
    expect(ctx).toMatchObject({ channel: 'topic:1', recoverable: true, positioned: true, streamPosition: { offset: 1 } })
    await api('publish', { channel: 'topic:1', data: { n: 1 } })
    await api('publish', { channel: 'topic:1', data: { n: 2 } })
    await until(() => pubs.length === 2, 5_000, 'two publications')
    expect(pubs.map((p) => [p.channel, p.data, p.offset])).toEqual([['topic:1', { n: 1 }, 2], ['topic:1', { n: 2 }, 3]])

    const unsubscribed = nextEvent(sdk, 'unsubscribed', (c) => c.channel === 'topic:1')
    await api('unsubscribe', { user: 'u1', channel: 'topic:1' })
    await unsubscribed
    // Ordered on one connection: were the removed channel still delivered, it would come first.
    await api('publish', { channel: 'topic:1', data: { n: 3 } })
    const marker = nextEvent(sdk, 'publication', (p) => p.channel === 'home:u1')
    await api('publish', { channel: 'home:u1', data: { marker: true } })
    await marker
    expect(pubs.map((p) => p.data)).toEqual([{ n: 1 }, { n: 2 }, { marker: true }])
    expect(sdk.state).toBe('connected')
  })

  it('reaches every connection of the user, or only the one named by client; carries the subscribe data', async () => {
    const a = await client('u2', [])
    const b = await client('u2', [])
    const other = await client('u3', [])
    const otherSubscribed = collect(other.sdk, 'subscribed')

    const both = [a, b].map((c) => nextEvent(c.sdk, 'subscribed', (s) => s.channel === 'plain:all'))
    await api('subscribe', { user: 'u2', channel: 'plain:all', data: { why: 'welcome' } })
    for (const ctx of await Promise.all(both)) expect(ctx).toMatchObject({ channel: 'plain:all', data: { why: 'welcome' }, recoverable: false })

    const onlyB = nextEvent(b.sdk, 'subscribed', (s) => s.channel === 'plain:one')
    await api('subscribe', { user: 'u2', channel: 'plain:one', client: b.id })
    await onlyB
    const aPubs = collect(a.sdk, 'publication')
    const bPub = nextEvent(b.sdk, 'publication', (p) => p.channel === 'plain:one')
    await api('publish', { channel: 'plain:one', data: { to: 'b' } })
    expect((await bPub).data).toEqual({ to: 'b' })
    const aMarker = nextEvent(a.sdk, 'publication', (p) => p.channel === 'plain:all')
    await api('publish', { channel: 'plain:all', data: { to: 'all' } })
    await aMarker
    expect(aPubs.map((p) => p.channel)).toEqual(['plain:all'])
    expect(otherSubscribed).toEqual([])
  })

  it('works through the node API in process (subscribeUser / unsubscribeUser)', async () => {
    const { sdk } = await client('u4', [])
    const subscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === 'inproc:1')
    await livedesk.node.subscribeUser('u4', 'inproc:1')
    await subscribed
    const pub = nextEvent(sdk, 'publication')
    await livedesk.node.publish('inproc:1', { hello: 'node' })
    expect((await pub).data).toEqual({ hello: 'node' })
    const unsubscribed = nextEvent(sdk, 'unsubscribed', (c) => c.channel === 'inproc:1')
    await livedesk.node.unsubscribeUser('u4', 'inproc:1')
    await unsubscribed
    expect(livedesk.node.hub.channels.has('inproc:1')).toBe(false)
  })
})

/**
 * The delivery-lag histogram through the node's publication observer: publications made through the server API
 * and delivered to real SDK clients are counted once each, whatever the number of subscribers, and the node's
 * own methods are left as they are (no wrapping); over Redis, each node times the publications it made.
 */
import { randomBytes } from 'node:crypto'
import { expect, it } from 'vitest'
import { dataAuth } from '../gateway/raw.js'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { serviceUrl } from '../realtime/services.js'

/** livedesk_delivery_lag_seconds_count of this node, from GET /metrics (no sample before the first observation). */
async function lagCount(l: TestLivedesk): Promise<number> {
  const text = await (await fetch(`${l.url}/metrics`)).text()
  expect(text).toContain('# TYPE livedesk_delivery_lag_seconds histogram')
  const m = /^livedesk_delivery_lag_seconds_count\{([^}]*)\} (\d+)$/m.exec(text)
  if (!m) return 0
  expect(m[1]).toContain(`node="${l.node.config.nodeId}"`)
  return Number(m[2])
}

it('counts each publication delivered to SDK subscribers once, not per subscriber, through the node observer', async () => {
  const l = await startTestLivedesk({ hooks: dataAuth })
  expect(l.node.observePublication).toBeDefined()
  // The metric hooks into the node; it replaces none of its methods.
  expect(Object.hasOwn(l.node, 'publishJson')).toBe(false)
  expect(Object.hasOwn(l.node, 'handlePublication')).toBe(false)

  const channel = 'lag:1'
  const sdks = ['ann', 'bob'].map((user) => newSdk(l.wsUrl, { data: { user, channels: [channel] } }))
  const received = sdks.map((sdk) => collect(sdk, 'publication'))
  await Promise.all(
    sdks.map((sdk) => {
      const subscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === channel, 15_000)
      sdk.connect()
      return subscribed
    }),
  )
  const before = await lagCount(l)

  // No local subscriber: not a delivery, not counted, and not left waiting.
  expect((await serverApi(l, 'publish', { channel: 'lag:nobody', data: { n: -1 } })).status).toBe(200)
  for (let n = 0; n < 3; n++) expect((await serverApi(l, 'publish', { channel, data: { n } })).status).toBe(200)
  for (const pubs of received) await until(() => pubs.length === 3, 15_000, 'three publications at each SDK')
  await until(async () => (await lagCount(l)) >= before + 3, 15_000, 'three lag observations')

  // One more: were subscribers counted, the count would now be past before + 4.
  expect((await serverApi(l, 'publish', { channel, data: { n: 3 } })).status).toBe(200)
  for (const pubs of received) await until(() => pubs.length === 4, 15_000, 'the fourth publication at each SDK')
  await until(async () => (await lagCount(l)) >= before + 4, 15_000, 'the fourth lag observation')
  expect(await lagCount(l)).toBe(before + 4)
  expect(received.map((pubs) => pubs.map((p) => p.data.n))).toEqual([[0, 1, 2, 3], [0, 1, 2, 3]])
  for (const sdk of sdks) sdk.disconnect()
}, 60_000)

const redisUrl = serviceUrl('REDIS_URL', 'delivery lag on two nodes over Redis')
if (redisUrl) {
  it('times a publication on the node that made it only, once, when it comes back through Redis', async () => {
    const [a, b] = await Promise.all([startTestLivedesk({ hooks: dataAuth, redisUrl }), startTestLivedesk({ hooks: dataAuth, redisUrl })])
    // The observer, not a wrapper, sees publications coming back from Redis.
    for (const l of [a, b]) expect([l.node.observePublication, Object.hasOwn(l.node, 'handlePublication')]).toEqual([expect.anything(), false])
    const channel = `lag:${randomBytes(4).toString('hex')}`
    const sdks = [a, b].map((l, i) => newSdk(l.wsUrl, { data: { user: `u${i}`, channels: [channel] } }))
    const received = sdks.map((sdk) => collect(sdk, 'publication'))
    await Promise.all(
      sdks.map((sdk) => {
        const subscribed = nextEvent(sdk, 'subscribed', (c) => c.channel === channel, 15_000)
        sdk.connect()
        return subscribed
      }),
    )
    const [beforeA, beforeB] = [await lagCount(a), await lagCount(b)]

    // A channel with no subscriber on the publishing node never comes back to it through Redis: it is not held
    // waiting (held, every event of a busy node's unwatched channels stayed in memory for 10-20 s).
    for (let n = 0; n < 5; n++) expect((await serverApi(b, 'publish', { channel: `lag:nobody-${n}`, data: { n } })).status).toBe(200)
    expect(b.node.observePublication!.pending!()).toBe(0)

    for (let n = 0; n < 2; n++) expect((await serverApi(b, 'publish', { channel, data: { n } })).status).toBe(200)
    for (const pubs of received) await until(() => pubs.length === 2, 15_000, 'two publications at each node')
    await until(async () => (await lagCount(b)) >= beforeB + 2, 15_000, 'the lag of B\'s publications on B')
    expect((await serverApi(a, 'publish', { channel, data: { n: 2 } })).status).toBe(200)
    for (const pubs of received) await until(() => pubs.length === 3, 15_000, 'the third publication at each node')
    await until(async () => (await lagCount(a)) >= beforeA + 1, 15_000, 'the lag of A\'s publication on A')

    expect(await lagCount(a)).toBe(beforeA + 1)
    expect(await lagCount(b)).toBe(beforeB + 2)
    expect(received.map((pubs) => pubs.map((p) => p.data.n))).toEqual([[0, 1, 2], [0, 1, 2]])
    for (const sdk of sdks) sdk.disconnect()
  }, 60_000)
}

/**
 * Fossil delta compression (issue 17 item 4) with the real SDK, JSON and protobuf: what a subscriber that asks for
 * `delta: 'fossil'` gets in a namespace that allows it and in one that does not, the server API's `delta` flag and
 * `deltaPublish`, recovery, one encoding per channel, and deltas across two nodes on Redis.
 */
import { randomBytes } from 'node:crypto'
import { Centrifuge, type PublicationContext, type Subscription } from 'centrifuge'
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf'
import { applyDelta } from 'fossil-delta'
import WebSocket from 'ws'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { envOptions } from '../../src/config/env.js'
import { jsonCodec } from '../../src/protocol/codec.js'
import type { LivedeskOptions } from '../../src/main.js'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, nextEvent, until } from '../helpers/sdk.js'
import { serviceUrl } from '../realtime/services.js'
import { closedWithin, openRaw, type RawClient } from './raw.js'

const STREAM = { historySize: 100, historyTtlMs: 300_000, forceRecovery: true, allowSubscribe: true, allowPublish: true }

/** `dl`: delta allowed; `dp`: delta allowed and every publication published with delta; `nd`: no delta types. */
const OPTIONS: LivedeskOptions = {
  hooks: {},
  realtime: {
    insecure: true,
    namespaces: {
      dl: { ...STREAM, allowedDeltaTypes: ['fossil'] },
      dp: { ...STREAM, allowedDeltaTypes: ['fossil'], deltaPublish: true },
      nd: { ...STREAM },
      live: { historySize: 0, allowSubscribe: true, allowedDeltaTypes: ['fossil'], deltaPublish: true },
    },
  },
}

let n = 0
const channel = (ns: string) => `${ns}:delta-${randomBytes(3).toString('hex')}-${++n}`

/** A ~1 KB ticket state; each version changes a counter, a timestamp and one item's status. */
function ticket(version: number) {
  return {
    id: 'ticket-4711',
    version,
    updatedAt: `2026-11-30T12:00:${String(version % 60).padStart(2, '0')}Z`,
    subject: 'Cannot log in after password reset — café ✓',
    items: Array.from({ length: 8 }, (_, i) => ({
      id: `item-${i}`, kind: 'message', author: i % 2 ? 'operator-17' : 'client-4711',
      status: i === version % 8 ? 'read' : 'delivered', text: `message number ${i} with some ordinary support text`,
    })),
  }
}

const sdks: Centrifuge[] = []
const raws: RawClient[] = []
afterEach(() => {
  for (const c of sdks.splice(0)) c.disconnect()
  for (const r of raws.splice(0)) r.ws.close()
})

function jsonSdk(l: TestLivedesk): Centrifuge {
  const c = new Centrifuge(l.wsUrl, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300 })
  sdks.push(c)
  return c
}

function protobufSdk(l: TestLivedesk): Centrifuge {
  const c = new CentrifugeProtobuf(l.wsUrl, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300 }) as unknown as Centrifuge
  sdks.push(c)
  return c
}

/** Connects, subscribes with `delta: 'fossil'` and resolves once subscribed; publications collect as they come. */
async function subscribed(c: Centrifuge, ch: string): Promise<{ sub: Subscription; pubs: PublicationContext[] }> {
  const sub = c.newSubscription(ch, { delta: 'fossil' })
  const pubs = collect(sub, 'publication')
  sub.subscribe()
  c.connect()
  await sub.ready(10_000)
  return { sub, pubs }
}

/** A raw JSON client subscribed to `ch` (with `delta` when given); resolves with the subscribe reply. */
async function rawSubscribed(l: TestLivedesk, ch: string, delta?: string): Promise<{ raw: RawClient; reply: any }> {
  const raw = await openRaw(l.wsUrl)
  raws.push(raw)
  await raw.connect()
  raw.send(JSON.stringify({ id: 2, subscribe: { channel: ch, ...(delta ? { delta } : {}) } }))
  return { raw, reply: await raw.waitFor((line) => line.id === 2) }
}

const pushes = (raw: RawClient, ch: string) => raw.lines.filter((l) => l.push?.channel === ch && l.push.pub)
/** Bytes of a push line as the server wrote it (compact JSON, so re-serialising the parsed line gives the same size). */
const lineBytes = (line: unknown) => Buffer.byteLength(JSON.stringify(line))

/** Rebuilds the data a delta subscriber sees from raw pushes, as the SDK does, to check every delta on its own. */
function decodeRaw(lines: any[]): unknown[] {
  let prev: Uint8Array | undefined
  return lines.map((l) => {
    const bytes = Buffer.from(l.push.pub.data as string)
    prev = l.push.pub.delta ? applyDelta(prev!, bytes) : bytes
    return JSON.parse(Buffer.from(prev).toString())
  })
}

describe('fossil delta compression', () => {
  let l: TestLivedesk
  beforeAll(async () => {
    l = await startTestLivedesk(OPTIONS)
  })

  it('the JSON SDK decodes successive publications made with the API delta flag; all but the first travel as smaller deltas', async () => {
    const ch = channel('dl')
    const { sub, pubs } = await subscribed(jsonSdk(l), ch)
    const { raw: rawDelta, reply } = await rawSubscribed(l, ch, 'fossil')
    const { raw: rawPlain, reply: plainReply } = await rawSubscribed(l, ch)
    expect(reply.subscribe.delta).toBe(true)
    expect(plainReply.subscribe.delta).toBeUndefined()
    for (let v = 1; v <= 10; v++) expect((await serverApi(l, 'publish', { channel: ch, data: ticket(v), delta: true })).body).toEqual({ result: { offset: v, epoch: expect.any(String) } })
    await until(() => pubs.length === 10 && pushes(rawDelta, ch).length === 10 && pushes(rawPlain, ch).length === 10, 10_000, '10 publications each')
    expect(pubs.map((p) => p.data)).toEqual(Array.from({ length: 10 }, (_, i) => ticket(i + 1)))
    expect(sub.deltaStats()).toMatchObject({ numPublications: 10, numFullPayloads: 1, numDeltaPayloads: 9 })

    // On the wire: the first push whole (the data's JSON text as a string), then deltas; the plain subscriber gets objects.
    const deltaLines = pushes(rawDelta, ch)
    expect(deltaLines.map((p) => p.push.pub.delta === true)).toEqual([false, ...Array(9).fill(true)])
    expect(JSON.parse(deltaLines[0].push.pub.data)).toEqual(ticket(1))
    expect(decodeRaw(deltaLines)).toEqual(pubs.map((p) => p.data))
    const plainLines = pushes(rawPlain, ch)
    expect(plainLines.every((p) => typeof p.push.pub.data === 'object' && p.push.pub.delta === undefined)).toBe(true)
    const deltaBytes = deltaLines.slice(1).map(lineBytes)
    const plainBytes = plainLines.slice(1).map(lineBytes)
    for (let i = 0; i < 9; i++) expect(deltaBytes[i]).toBeLessThan(plainBytes[i]! / 4)
    console.log(`  1 KB JSON changing a little, JSON protocol: ${Math.round(plainBytes.reduce((a, b) => a + b) / 9)} B per publication push without delta, ${Math.round(deltaBytes.reduce((a, b) => a + b) / 9)} B with delta (pushes 2-10)`)
  })

  it('the protobuf SDK decodes deltas sent as bytes', async () => {
    const ch = channel('dp')
    const { sub, pubs } = await subscribed(protobufSdk(l), ch)
    // `deltaPublish`: no flag needed.
    for (let v = 1; v <= 5; v++) await serverApi(l, 'publish', { channel: ch, data: ticket(v) })
    await until(() => pubs.length === 5, 10_000, '5 publications')
    expect(pubs.map((p) => JSON.parse(Buffer.from(p.data as Uint8Array).toString()))).toEqual(Array.from({ length: 5 }, (_, i) => ticket(i + 1)))
    const stats = sub.deltaStats()
    expect(stats).toMatchObject({ numPublications: 5, numFullPayloads: 1, numDeltaPayloads: 4 })
    expect(stats.bytesReceived).toBeLessThan(stats.bytesDecoded / 3)
  })

  it('answers without delta in a namespace that does not allow it, and refuses an unknown delta type with 3501', async () => {
    const ch = channel('nd')
    const { sub, pubs } = await subscribed(jsonSdk(l), ch)
    const { raw, reply } = await rawSubscribed(l, ch, 'fossil')
    expect(reply.subscribe.delta).toBeUndefined()
    for (let v = 1; v <= 3; v++) await serverApi(l, 'publish', { channel: ch, data: ticket(v), delta: true })
    await until(() => pubs.length === 3 && pushes(raw, ch).length === 3, 10_000, '3 publications')
    expect(pubs.map((p) => p.data)).toEqual([ticket(1), ticket(2), ticket(3)])
    expect(sub.deltaStats()).toMatchObject({ numDeltaPayloads: 0 })
    expect(pushes(raw, ch).map((p) => p.push.pub.data)).toEqual([ticket(1), ticket(2), ticket(3)])

    const bad = await openRaw(l.wsUrl)
    raws.push(bad)
    await bad.connect()
    bad.send(JSON.stringify({ id: 2, subscribe: { channel: channel('dl'), delta: 'zstd' } }))
    expect((await closedWithin(bad)).code).toBe(3501)
  })

  it('sends whole publications without the API flag or history, and the API refuses a delta flag that is not a boolean', async () => {
    const ch = channel('dl')
    const { raw } = await rawSubscribed(l, ch, 'fossil')
    for (let v = 1; v <= 3; v++) await serverApi(l, 'publish', { channel: ch, data: ticket(v) })
    await until(() => pushes(raw, ch).length === 3, 10_000, '3 publications')
    expect(pushes(raw, ch).map((p) => [p.push.pub.delta, JSON.parse(p.push.pub.data)])).toEqual([[undefined, ticket(1)], [undefined, ticket(2)], [undefined, ticket(3)]])

    // Without history there is no previous publication to delta against (Centrifugo needs offsets for it).
    const liveCh = channel('live')
    const { raw: liveRaw, reply } = await rawSubscribed(l, liveCh, 'fossil')
    expect(reply.subscribe.delta).toBe(true)
    for (let v = 1; v <= 3; v++) await serverApi(l, 'publish', { channel: liveCh, data: ticket(v) })
    await until(() => pushes(liveRaw, liveCh).length === 3, 10_000, '3 publications')
    expect(pushes(liveRaw, liveCh).map((p) => [p.push.pub.delta, JSON.parse(p.push.pub.data)])).toEqual([[undefined, ticket(1)], [undefined, ticket(2)], [undefined, ticket(3)]])

    const res = await serverApi(l, 'publish', { channel: ch, data: ticket(4), delta: 'yes' })
    expect(res.body.error).toEqual({ code: 107, message: 'bad request: delta must be a boolean' })
  })

  it('recovers missed publications as a delta chain, then continues with live deltas', async () => {
    const ch = channel('dp')
    const c = jsonSdk(l)
    const { sub, pubs } = await subscribed(c, ch)
    await serverApi(l, 'publish', { channel: ch, data: ticket(1) })
    await until(() => pubs.length === 1, 10_000, 'the first publication')
    c.disconnect()
    for (let v = 2; v <= 5; v++) await serverApi(l, 'publish', { channel: ch, data: ticket(v) })
    const resubscribed = nextEvent(sub, 'subscribed', (ctx) => ctx.wasRecovering, 10_000)
    c.connect()
    expect(await resubscribed).toMatchObject({ recovered: true })
    await serverApi(l, 'publish', { channel: ch, data: ticket(6) })
    await until(() => pubs.length === 6, 10_000, '6 publications')
    expect(pubs.map((p) => p.data)).toEqual(Array.from({ length: 6 }, (_, i) => ticket(i + 1)))
    // 1 live whole; recovered 2 whole and 3-5 as deltas; 6 a live delta against 5.
    expect(sub.deltaStats()).toMatchObject({ numPublications: 6, numFullPayloads: 2, numDeltaPayloads: 4 })

    // A raw client recovering from offset 1 gets the same chain in its subscribe reply.
    const raw = await openRaw(l.wsUrl)
    raws.push(raw)
    await raw.connect()
    const epoch = (await serverApi(l, 'history', { channel: ch, limit: 0 })).body.result.epoch
    raw.send(JSON.stringify({ id: 2, subscribe: { channel: ch, delta: 'fossil', recover: true, offset: 1, epoch } }))
    const reply = (await raw.waitFor((line) => line.id === 2)).subscribe
    expect(reply).toMatchObject({ delta: true, recovered: true })
    expect(reply.publications.map((p: any) => [p.offset, p.delta === true])).toEqual([[2, false], [3, true], [4, true], [5, true], [6, true]])
    expect(decodeRaw(reply.publications.map((pub: any) => ({ push: { pub } })))).toEqual([2, 3, 4, 5, 6].map(ticket))
  })

  it('encodes a publication once per channel: whole and delta frames are shared by every delta subscriber', async () => {
    const ch = channel('dp')
    const clients = await Promise.all([rawSubscribed(l, ch, 'fossil'), rawSubscribed(l, ch, 'fossil'), rawSubscribed(l, ch, 'fossil'), rawSubscribed(l, ch)])
    await serverApi(l, 'publish', { channel: ch, data: ticket(1) })
    await until(() => clients.every(({ raw }) => pushes(raw, ch).length === 1), 10_000, 'the first publication')
    const encode = vi.spyOn(jsonCodec, 'encodePublicationPush')
    try {
      await serverApi(l, 'publish', { channel: ch, data: ticket(2) })
      await until(() => clients.every(({ raw }) => pushes(raw, ch).length === 2), 10_000, 'the second publication')
      // One whole frame and one delta frame for the three delta subscribers (the plain frame is built apart).
      expect(encode.mock.calls.filter(([c]) => c === ch).map(([, , meta]) => meta.delta === true)).toEqual([false, true])
    } finally {
      encode.mockRestore()
    }
    const [a, b, c, plain] = clients.map(({ raw }) => pushes(raw, ch)[1])
    expect(a.push.pub.delta).toBe(true)
    expect(b).toEqual(a)
    expect(c).toEqual(a)
    expect(plain.push.pub).toEqual({ data: ticket(2), offset: 2 })
  })
})

describe('delta options from the environment', () => {
  it('ALLOWED_DELTA_TYPES and DELTA_PUBLISH set the default namespace; an unknown type stops the start naming the variable', () => {
    expect(envOptions({ ALLOWED_DELTA_TYPES: 'fossil', DELTA_PUBLISH: '1' }, []).realtime?.defaultNamespace).toEqual({ allowedDeltaTypes: ['fossil'], deltaPublish: true })
    expect(envOptions({}, []).realtime?.defaultNamespace).toBeUndefined()
    expect(() => envOptions({ ALLOWED_DELTA_TYPES: 'fossil,zstd' }, [])).toThrow('ALLOWED_DELTA_TYPES: unknown delta type "zstd" (known: fossil)')
  })
})

const redisUrl = serviceUrl('REDIS_URL', 'fossil delta across two nodes on Redis')

if (redisUrl) {
  describe('fossil delta across two nodes on Redis', () => {
    let a: TestLivedesk
    let b: TestLivedesk
    beforeAll(async () => {
      ;[a, b] = await Promise.all([startTestLivedesk({ ...OPTIONS, redisUrl }), startTestLivedesk({ ...OPTIONS, redisUrl })])
    })

    it('subscribers on node A get deltas of publications made on node B, by the API and by a client', async () => {
      const ch = channel('dp')
      const json = await subscribed(jsonSdk(a), ch)
      const proto = await subscribed(protobufSdk(a), ch)
      const { raw } = await rawSubscribed(a, ch, 'fossil')
      for (let v = 1; v <= 4; v++) await serverApi(b, 'publish', { channel: ch, data: ticket(v) })
      // A client publication carries its client info (JSON with quotes) through the previous-publication payload.
      const publisher = jsonSdk(b)
      publisher.connect()
      await publisher.ready(10_000)
      const unicode = { ...ticket(5), note: 'line\nbreak "quoted" \\ émoji 😀 / slash' }
      await publisher.publish(ch, unicode)
      await serverApi(b, 'publish', { channel: ch, data: ticket(6) })
      const expected = [ticket(1), ticket(2), ticket(3), ticket(4), unicode, ticket(6)]
      await until(() => json.pubs.length === 6 && proto.pubs.length === 6 && pushes(raw, ch).length === 6, 10_000, '6 publications on node A')
      expect(json.pubs.map((p) => p.data)).toEqual(expected)
      expect(proto.pubs.map((p) => JSON.parse(Buffer.from(p.data as Uint8Array).toString()))).toEqual(expected)
      expect(json.sub.deltaStats()).toMatchObject({ numFullPayloads: 1, numDeltaPayloads: 5 })
      expect(proto.sub.deltaStats()).toMatchObject({ numFullPayloads: 1, numDeltaPayloads: 5 })
      expect(pushes(raw, ch)[4].push.pub.info).toMatchObject({ client: expect.any(String) })
      expect(decodeRaw(pushes(raw, ch))).toEqual(expected)
    })
  })
}

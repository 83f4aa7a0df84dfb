/**
 * What every Broker does, written once and run against each implementation (centrifuge's
 * `map_broker_shared_test.go` pattern). Each test uses fresh channel names and closes the brokers it made.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { Broker, BrokerPublication, ControlMessage, PublishOptions } from '../../src/realtime/broker.js'
import type { ClientInfo } from '../../src/protocol/types.js'
import { RecordingHandler, type BrokerEvent } from './recording-handler.js'

export interface BrokerContractTarget {
  name: string
  /** A new broker node. With `shared`, nodes made by one target see each other's history and traffic. */
  newBroker(): Broker
  /**
   * Nodes share state (Redis). Only such brokers must route by subscription: a single-process broker may hand
   * every publication to its node, whose hub drops channels nobody local subscribed to (as centrifuge's memory
   * broker does).
   */
  shared: boolean
}

const HISTORY: PublishOptions = { historySize: 100, historyTtlMs: 60_000, historyMetaTtlMs: 300_000 }
const NO_HISTORY: PublishOptions = { historySize: 0, historyTtlMs: 0, historyMetaTtlMs: 300_000 }
const META_TTL = HISTORY.historyMetaTtlMs

const channelName = () => `ch-${randomBytes(4).toString('hex')}`
const pubOf = (n: number, extra: Partial<BrokerPublication> = {}): BrokerPublication => ({ data: JSON.stringify({ n }), ...extra })
const numbers = (pubs: BrokerPublication[]) => pubs.map((p) => (JSON.parse(p.data) as { n: number }).n)
const offsets = (pubs: BrokerPublication[]) => pubs.map((p) => p.offset)
const info = (user: string, client: string): ClientInfo => ({ user, client, conn_info: { name: user }, chan_info: { role: 'op' } })
const isPub = (channel: string) => (e: BrokerEvent) => e.kind === 'publication' && e.channel === channel

/** Expiry is what is tested: nothing to wait on but the clock, so wait past the TTL once. */
const pastTtl = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `read` until `done` holds; bounded by `timeoutMs`. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

export function brokerContract(target: BrokerContractTarget): void {
  /** A running broker node with its recorder; closed when the test ends. */
  async function startNode(): Promise<{ broker: Broker; events: RecordingHandler }> {
    const broker = target.newBroker()
    const events = new RecordingHandler()
    await broker.run(events)
    onTestFinished(() => broker.close())
    return { broker, events }
  }

  describe(`${target.name}: history`, () => {
    it('numbers publications 1, 2, 3… under the epoch the empty stream already had', async () => {
      const { broker } = await startNode()
      const ch = channelName()
      const empty = await broker.history(ch, { limit: 0, historyMetaTtlMs: META_TTL })
      expect(empty).toEqual({ publications: [], position: { offset: 0, epoch: expect.any(String) } })
      expect(empty.position.epoch).not.toBe('')
      const positions = []
      for (let n = 1; n <= 5; n++) positions.push(await broker.publish(ch, pubOf(n), HISTORY))
      expect(positions).toEqual([1, 2, 3, 4, 5].map((offset) => ({ offset, epoch: empty.position.epoch })))
      const after = await broker.history(ch, { limit: 0, historyMetaTtlMs: META_TTL })
      expect(after).toEqual({ publications: [], position: { offset: 5, epoch: empty.position.epoch } })
    })

    it('keeps data text, info and tags exactly, oldest first', async () => {
      const { broker } = await startNode()
      const ch = channelName()
      const published: BrokerPublication[] = [
        { data: '{"text":"line one\\nline two","n":1}' },
        { data: '{ "spaced" :\n [1, 2.50, "ü"] }', info: info('u1', 'c1') },
        { data: '"plain"', tags: { kind: 'message', chat: '42' }, info: info('u2', 'c2') },
      ]
      for (const pub of published) await broker.publish(ch, pub, HISTORY)
      const { publications } = await broker.history(ch, { limit: -1, historyMetaTtlMs: META_TTL })
      expect(publications).toEqual(published.map((pub, i) => ({ ...pub, offset: i + 1 })))
    })

    it('reads since a position, with a limit, forwards and backwards', async () => {
      const { broker } = await startNode()
      const ch = channelName()
      let epoch = ''
      for (let n = 1; n <= 10; n++) epoch = (await broker.publish(ch, pubOf(n), HISTORY))!.epoch
      const read = async (opts: { since?: number; limit: number; reverse?: boolean }) => {
        const result = await broker.history(ch, {
          limit: opts.limit, reverse: opts.reverse, historyMetaTtlMs: META_TTL,
          since: opts.since === undefined ? undefined : { offset: opts.since, epoch },
        })
        expect(result.position).toEqual({ offset: 10, epoch })
        expect(numbers(result.publications)).toEqual(offsets(result.publications))
        return offsets(result.publications)
      }
      expect(await read({ limit: -1 })).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      expect(await read({ limit: 3 })).toEqual([1, 2, 3])
      expect(await read({ since: 3, limit: -1 })).toEqual([4, 5, 6, 7, 8, 9, 10])
      expect(await read({ since: 3, limit: 2 })).toEqual([4, 5])
      expect(await read({ since: 0, limit: 2 })).toEqual([1, 2])
      expect(await read({ since: 10, limit: -1 })).toEqual([])
      expect(await read({ since: 3, limit: 0 })).toEqual([])
      expect(await read({ limit: 3, reverse: true })).toEqual([10, 9, 8])
      expect(await read({ since: 5, limit: -1, reverse: true })).toEqual([4, 3, 2, 1])
      expect(await read({ since: 5, limit: 2, reverse: true })).toEqual([4, 3])
      expect(await read({ since: 1, limit: -1, reverse: true })).toEqual([])
    })

    it('trims history to historySize, newest kept', async () => {
      const { broker } = await startNode()
      const ch = channelName()
      for (let n = 1; n <= 10; n++) await broker.publish(ch, pubOf(n), { ...HISTORY, historySize: 3 })
      const { publications, position } = await broker.history(ch, { limit: -1, historyMetaTtlMs: META_TTL })
      expect(offsets(publications)).toEqual([8, 9, 10])
      expect(numbers(publications)).toEqual([8, 9, 10])
      expect(position.offset).toBe(10)
    })

    it('forgets publications after historyTtlMs but keeps the position', async () => {
      const { broker } = await startNode()
      const ch = channelName()
      const opts = { ...HISTORY, historyTtlMs: 250 }
      for (let n = 1; n <= 3; n++) await broker.publish(ch, pubOf(n), opts)
      const before = await broker.history(ch, { limit: -1, historyMetaTtlMs: META_TTL })
      expect(offsets(before.publications)).toEqual([1, 2, 3])
      const expired = await eventually(
        () => broker.history(ch, { limit: -1, historyMetaTtlMs: META_TTL }),
        (r) => r.publications.length === 0,
      )
      expect(expired.position).toEqual(before.position)
      expect(await broker.publish(ch, pubOf(4), opts)).toEqual({ offset: 4, epoch: before.position.epoch })
    })

    it('starts over with a new epoch once the stream meta outlived historyMetaTtlMs', async () => {
      const { broker } = await startNode()
      const [readFirst, publishFirst] = [channelName(), channelName()]
      // History outlives the meta on purpose: old entries must not leak into the new stream.
      const opts = { historySize: 10, historyTtlMs: 60_000, historyMetaTtlMs: 500 }
      const old = new Map<string, string>()
      for (const ch of [readFirst, publishFirst]) {
        await broker.publish(ch, pubOf(1), opts)
        const position = (await broker.publish(ch, pubOf(2), opts))!
        expect(position.offset).toBe(2)
        old.set(ch, position.epoch)
      }
      await pastTtl(700)
      const fresh = await broker.history(readFirst, { limit: -1, historyMetaTtlMs: 500 })
      expect(fresh.publications).toEqual([])
      expect(fresh.position.offset).toBe(0)
      expect(fresh.position.epoch).not.toBe(old.get(readFirst))
      expect(await broker.publish(readFirst, pubOf(3), opts)).toEqual({ offset: 1, epoch: fresh.position.epoch })
      const restarted = (await broker.publish(publishFirst, pubOf(3), opts))!
      expect(restarted.offset).toBe(1)
      expect(restarted.epoch).not.toBe(old.get(publishFirst))
      for (const ch of [readFirst, publishFirst]) {
        const { publications } = await broker.history(ch, { limit: -1, historyMetaTtlMs: 500 })
        expect(numbers(publications)).toEqual([3])
      }
    })

    it('removeHistory drops publications and keeps offset and epoch', async () => {
      const { broker } = await startNode()
      const ch = channelName()
      for (let n = 1; n <= 3; n++) await broker.publish(ch, pubOf(n), HISTORY)
      const { position } = await broker.history(ch, { limit: 0, historyMetaTtlMs: META_TTL })
      await broker.removeHistory(ch)
      expect(await broker.history(ch, { limit: -1, historyMetaTtlMs: META_TTL })).toEqual({ publications: [], position })
      expect(await broker.publish(ch, pubOf(4), HISTORY)).toEqual({ offset: 4, epoch: position.epoch })
    })

    it('keeps channels apart', async () => {
      const { broker } = await startNode()
      const [a, b] = [channelName(), channelName()]
      await broker.publish(a, pubOf(1), HISTORY)
      await broker.publish(a, pubOf(2), HISTORY)
      expect(await broker.publish(b, pubOf(3), HISTORY)).toMatchObject({ offset: 1 })
      const { publications } = await broker.history(b, { limit: -1, historyMetaTtlMs: META_TTL })
      expect(numbers(publications)).toEqual([3])
    })
  })

  describe(`${target.name}: delivery`, () => {
    it('publishes without history: no offset, no position, nothing stored', async () => {
      const { broker, events } = await startNode()
      const ch = channelName()
      await broker.subscribe(ch)
      expect(await broker.publish(ch, pubOf(1, { info: info('u', 'c') }), NO_HISTORY)).toBeNull()
      const [event] = await events.waitFor(isPub(ch))
      expect(event).toEqual({ kind: 'publication', channel: ch, pub: { data: '{"n":1}', info: info('u', 'c') }, position: null })
      const { publications, position } = await broker.history(ch, { limit: -1, historyMetaTtlMs: META_TTL })
      expect(publications).toEqual([])
      expect(position.offset).toBe(0)
    })

    it('publishes once per idempotency key and channel: a repeat returns the first position and delivers nothing', async () => {
      const { broker, events } = await startNode()
      const ch = channelName()
      const other = channelName()
      await broker.subscribe(ch)
      await broker.subscribe(other)
      const once = { ...HISTORY, idempotencyKey: 'event-1' }
      const first = await broker.publish(ch, pubOf(1), once)
      const repeat = await broker.publish(ch, pubOf(1), once)
      expect(repeat).toEqual(first)
      // The key is per channel; another key in the same channel publishes.
      expect(await broker.publish(other, pubOf(1), once)).toMatchObject({ offset: 1 })
      expect(await broker.publish(ch, pubOf(2), { ...HISTORY, idempotencyKey: 'event-2' })).toMatchObject({ offset: 2 })
      // Without history too.
      await broker.publish(ch, pubOf(3), { ...NO_HISTORY, idempotencyKey: 'event-3' })
      await broker.publish(ch, pubOf(3), { ...NO_HISTORY, idempotencyKey: 'event-3' })
      // A marker after the repeats: everything before it has arrived when it does.
      await broker.publish(ch, pubOf(99), HISTORY)
      await events.waitFor((e) => isPub(ch)(e) && e.kind === 'publication' && e.pub.data === '{"n":99}')
      expect(numbers(events.publications(ch).map((p) => p.pub))).toEqual([1, 2, 3, 99])
      const { publications } = await broker.history(ch, { limit: -1, historyMetaTtlMs: META_TTL })
      expect(numbers(publications)).toEqual([1, 2, 99])
    })

    it('forgets an idempotency key after its window', async () => {
      const { broker } = await startNode()
      const ch = channelName()
      const once = { ...HISTORY, idempotencyKey: 'k', idempotentResultTtlMs: 100 }
      expect(await broker.publish(ch, pubOf(1), once)).toMatchObject({ offset: 1 })
      await pastTtl(150)
      expect(await broker.publish(ch, pubOf(2), once)).toMatchObject({ offset: 2 })
    })

    it('hands a publication to the handler with the position publish returned', async () => {
      const { broker, events } = await startNode()
      const ch = channelName()
      await broker.subscribe(ch)
      const pub = pubOf(7, { tags: { t: '1' }, info: info('u', 'c') })
      const position = await broker.publish(ch, pub, HISTORY)
      const [event] = await events.waitFor(isPub(ch))
      expect(event).toEqual({ kind: 'publication', channel: ch, pub: { ...pub, offset: 1 }, position })
    })

    it('delivers 500 publications of a channel in offset order, in the order they were made', async () => {
      const { broker, events } = await startNode()
      const ch = channelName()
      await broker.subscribe(ch)
      const count = 500
      const calls = []
      for (let n = 1; n <= count; n++) calls.push(broker.publish(ch, pubOf(n), HISTORY))
      const positions = await Promise.all(calls)
      expect(positions.map((p) => p!.offset)).toEqual(Array.from({ length: count }, (_, i) => i + 1))
      await events.waitFor(isPub(ch), count)
      const received = events.publications(ch)
      expect(received).toHaveLength(count)
      expect(received.map((r) => r.position!.offset)).toEqual(positions.map((p) => p!.offset))
      expect(numbers(received.map((r) => r.pub))).toEqual(positions.map((p) => p!.offset))
      expect(new Set(received.map((r) => r.position!.epoch)).size).toBe(1)
    })

    it('delivers join and leave with the client info', async () => {
      const { broker, events } = await startNode()
      const ch = channelName()
      await broker.subscribe(ch)
      await broker.publishJoin(ch, info('alice', 'c1'))
      await broker.publishLeave(ch, info('alice', 'c1'))
      await events.waitFor((e) => e.kind === 'leave' && e.channel === ch)
      expect(events.of(ch)).toEqual([
        { kind: 'join', channel: ch, info: info('alice', 'c1') },
        { kind: 'leave', channel: ch, info: info('alice', 'c1') },
      ])
    })

    it('delivers control messages to the node, with no subscription needed', async () => {
      const { broker, events } = await startNode()
      const messages: ControlMessage[] = [
        { type: 'disconnect', user: 'u1', code: 3000, reason: 'test', except: ['c9'] },
        { type: 'subscribe', user: 'u1', channel: 'personal:u1', data: { x: 1 } },
        { type: 'unsubscribe', user: 'u1', client: 'c1', channel: 'personal:u1' },
        { type: 'refresh', user: 'u1', expireAt: 1_900_000_000 },
        { type: 'message', user: 'u1', data: '{"hello":true}' },
      ]
      for (const message of messages) await broker.publishControl(message)
      const received = await events.waitFor((e) => e.kind === 'control', messages.length)
      expect(received.map((e) => e.kind === 'control' && e.message)).toEqual(messages)
    })
  })

  if (!target.shared) return

  describe(`${target.name}: between nodes`, () => {
    it('delivers a publication to every subscribed node with one position', async () => {
      const [a, b] = [await startNode(), await startNode()]
      const ch = channelName()
      await a.broker.subscribe(ch)
      await b.broker.subscribe(ch)
      const position = await a.broker.publish(ch, pubOf(1), HISTORY)
      for (const node of [a, b]) {
        const [event] = await node.events.waitFor(isPub(ch))
        expect(event).toEqual({ kind: 'publication', channel: ch, pub: { data: '{"n":1}', offset: 1 }, position })
      }
    })

    it('shares history, offsets and epoch', async () => {
      const [a, b] = [await startNode(), await startNode()]
      const ch = channelName()
      const first = await a.broker.publish(ch, pubOf(1), HISTORY)
      const second = await b.broker.publish(ch, pubOf(2), HISTORY)
      expect(second).toEqual({ offset: 2, epoch: first!.epoch })
      const { publications, position } = await a.broker.history(ch, { limit: -1, historyMetaTtlMs: META_TTL })
      expect(numbers(publications)).toEqual([1, 2])
      expect(position).toEqual(second)
    })

    it('delivers join, leave and control to every node', async () => {
      const [a, b] = [await startNode(), await startNode()]
      const ch = channelName()
      await b.broker.subscribe(ch)
      await a.broker.publishJoin(ch, info('bob', 'c2'))
      await a.broker.publishLeave(ch, info('bob', 'c2'))
      const control: ControlMessage = { type: 'disconnect', user: 'bob', code: 3000, reason: 'x' }
      await a.broker.publishControl(control)
      for (const node of [a, b]) {
        await node.events.waitFor((e) => e.kind === 'control')
        expect(node.events.events.filter((e) => e.kind === 'control')).toEqual([{ kind: 'control', message: control }])
      }
      await b.events.waitFor((e) => e.kind === 'leave' && e.channel === ch)
      expect(b.events.of(ch).map((e) => e.kind)).toEqual(['join', 'leave'])
    })

    it('keeps "publish, then control" in that order on every node', async () => {
      const [a, b] = [await startNode(), await startNode()]
      const ch = channelName()
      await b.broker.subscribe(ch)
      const rounds = 50
      const calls = []
      for (let n = 1; n <= rounds; n++) {
        calls.push(a.broker.publish(ch, pubOf(n), n % 2 ? HISTORY : NO_HISTORY))
        calls.push(a.broker.publishControl({ type: 'message', user: 'u', data: String(n) }))
      }
      await Promise.all(calls)
      await b.events.waitFor((e) => e.kind === 'control', rounds)
      const order = b.events.events.map((e) =>
        e.kind === 'control' && e.message.type === 'message' ? `c${e.message.data}` : e.kind === 'publication' ? `p${numbers([e.pub])[0]}` : e.kind,
      )
      expect(order).toEqual(Array.from({ length: rounds }, (_, i) => [`p${i + 1}`, `c${i + 1}`]).flat())
    })

    it('delivers nothing of a channel the node did not subscribe to, or left', async () => {
      const [a, b] = [await startNode(), await startNode()]
      const [left, never, fence] = [channelName(), channelName(), channelName()]
      await b.broker.subscribe(left)
      await b.broker.subscribe(fence)
      await a.broker.publish(left, pubOf(1), HISTORY)
      await b.events.waitFor(isPub(left))
      await b.broker.unsubscribe(left)
      await a.broker.publish(left, pubOf(2), HISTORY)
      await a.broker.publish(left, pubOf(3), NO_HISTORY)
      await a.broker.publishJoin(left, info('u', 'c'))
      await a.broker.publish(never, pubOf(4), HISTORY)
      await a.broker.publishLeave(never, info('u', 'c'))
      // Traffic of one publisher arrives in order, so once the fence is in, anything before it would be too.
      await a.broker.publish(fence, pubOf(5), HISTORY)
      await b.events.waitFor(isPub(fence))
      expect(numbers(b.events.events.flatMap((e) => (e.kind === 'publication' ? [e.pub] : [])))).toEqual([1, 5])
      expect(b.events.events.filter((e) => e.kind === 'join' || e.kind === 'leave')).toEqual([])
    })
  })
}

import { Redis } from 'ioredis'
import { describe, expect, it, onTestFinished } from 'vitest'
import { RedisBroker } from '../../src/realtime/broker-redis.js'
import { startRedisProcess } from '../helpers/processes.js'
import { brokerContract } from './broker-contract.js'
import { RecordingHandler } from './recording-handler.js'
import { randomPrefix, serviceUrl } from './services.js'

describe('RedisBroker without Redis', () => {
  it('refuses to run, naming the address without its password and the cause', async () => {
    const broker = new RedisBroker({ url: 'redis://:secret@127.0.0.1:1' })
    const idle = { handlePublication() {}, handleJoin() {}, handleLeave() {}, handleControl() {} }
    await expect(broker.run(idle)).rejects.toThrow(/^Redis broker cannot reach redis:\/\/:\*\*\*@127\.0\.0\.1:1.*ECONNREFUSED/)
  })
})

const url = serviceUrl('REDIS_URL', 'RedisBroker')

if (url) {
  const prefix = randomPrefix('broker')
  brokerContract({ name: 'RedisBroker', newBroker: () => new RedisBroker({ url, prefix }), shared: true })

  describe('RedisBroker: Redis specifics', () => {
    async function startNode(nodePrefix = prefix) {
      const broker = new RedisBroker({ url: url!, prefix: nodePrefix })
      const events = new RecordingHandler()
      await broker.run(events)
      onTestFinished(() => broker.close())
      return { broker, events }
    }
    function admin(): Redis {
      const redis = new Redis(url!)
      onTestFinished(async () => {
        await redis.quit()
      })
      return redis
    }

    it("stores a channel as Centrifugo does: stream with offsets as ids, meta hash with epoch and top", async () => {
      const { broker } = await startNode()
      const redis = admin()
      const opts = { historySize: 2, historyTtlMs: 60_000, historyMetaTtlMs: 120_000 }
      for (let n = 1; n <= 3; n++) await broker.publish('layout', { data: String(n) }, opts)
      const position = (await broker.publish('layout', { data: '4' }, opts))!
      expect(await redis.hgetall(`${prefix}.stream.meta.layout`)).toEqual({ e: position.epoch, s: '4' })
      const entries = await redis.xrange(`${prefix}.stream.layout`, '-', '+')
      expect(entries.map(([id]) => id)).toEqual(['3-0', '4-0'])
      expect(await redis.pttl(`${prefix}.stream.layout`)).toBeGreaterThan(50_000)
      expect(await redis.pttl(`${prefix}.stream.meta.layout`)).toBeGreaterThan(110_000)
    })

    it('keeps prefixes apart', async () => {
      const a = await startNode()
      const b = await startNode(`${prefix}-other`)
      await a.broker.subscribe('same')
      await b.broker.subscribe('same')
      const opts = { historySize: 10, historyTtlMs: 60_000, historyMetaTtlMs: 120_000 }
      await a.broker.publish('same', { data: '1' }, opts)
      expect(await b.broker.publish('same', { data: '2' }, opts)).toMatchObject({ offset: 1 })
      await b.events.waitFor((e) => e.kind === 'publication')
      expect(b.events.events.map((e) => e.kind === 'publication' && e.pub.data)).toEqual(['2'])
    })

    /** Cuts every subscriber connection of this prefix, as a Redis failover or a network blip would. */
    async function cutSubscribers(redis: Redis): Promise<void> {
      const clients = (await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string
      const ids = clients.split('\n').filter((line) => line.includes(`name=${prefix}:sub `)).map((line) => /id=(\d+)/.exec(line)![1]!)
      expect(ids.length).toBeGreaterThanOrEqual(1)
      for (const id of ids) await redis.call('CLIENT', 'KILL', 'ID', id)
    }

    it('subscribes every channel again after its subscriber connection is cut', async () => {
      const a = await startNode()
      const b = await startNode()
      await b.broker.subscribe('kept')
      await cutSubscribers(admin())
      // Publications made while b is away are lost (that is what recovery is for), so publish until one arrives.
      const deadline = Date.now() + 5_000
      let n = 0
      while (!b.events.events.some((e) => e.kind === 'publication') && Date.now() < deadline) {
        await a.broker.publish('kept', { data: String(++n) }, { historySize: 0, historyTtlMs: 0, historyMetaTtlMs: 60_000 })
        await b.events.waitFor((e) => e.kind === 'publication', 1, 100).catch(() => {})
      }
      expect(b.events.events.some((e) => e.kind === 'publication')).toBe(true)
      await a.broker.publishControl({ type: 'message', user: 'u', data: 'after' })
      await b.events.waitFor((e) => e.kind === 'control')
    })

    it('hands over publications made while its subscriber connection was down, once and in order', async () => {
      const a = await startNode()
      const b = await startNode()
      const channel = `gap-${Math.random().toString(36).slice(2)}`
      const opts = { historySize: 100, historyTtlMs: 60_000, historyMetaTtlMs: 120_000 }
      const isPub = (e: { kind: string }) => e.kind === 'publication'
      await b.broker.subscribe(channel)
      for (let n = 1; n <= 3; n++) await a.broker.publish(channel, { data: String(n) }, opts)
      await b.events.waitFor(isPub, 3)
      await cutSubscribers(admin())
      // ioredis waits at least 50 ms before reconnecting: these land while b cannot hear them.
      await Promise.all(Array.from({ length: 20 }, (_, i) => a.broker.publish(channel, { data: String(i + 4) }, opts)))
      await b.events.waitFor(isPub, 23)
      await a.broker.publish(channel, { data: '24' }, opts)
      await b.events.waitFor(isPub, 24)
      const received = b.events.publications(channel)
      expect(received.map((r) => r.pub.data)).toEqual(Array.from({ length: 24 }, (_, i) => String(i + 1)))
      expect(received.map((r) => r.position!.offset)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
    })

    it('reports a broken message to onError instead of throwing in the reader', async () => {
      const errors: Error[] = []
      const broker = new RedisBroker({ url: url!, prefix, onError: (err) => errors.push(err) })
      const events = new RecordingHandler()
      await broker.run(events)
      onTestFinished(() => broker.close())
      const redis = admin()
      await redis.publish(`${prefix}.control`, 'not json')
      await broker.publishControl({ type: 'message', user: 'u', data: 'ok' })
      await events.waitFor((e) => e.kind === 'control')
      expect(errors).toHaveLength(1)
    })

    it('rejects a publish that a hung Redis does not answer within commandTimeoutMs, and publishes once it answers again', async () => {
      // A redis-server of this test's own: SIGSTOP keeps its connections open and answers nothing.
      const own = await startRedisProcess()
      const broker = new RedisBroker({ url: own.url, prefix, commandTimeoutMs: 300 })
      await broker.run(new RecordingHandler())
      onTestFinished(() => broker.close())
      const opts = { historySize: 10, historyTtlMs: 60_000, historyMetaTtlMs: 120_000 }
      await broker.publish('hung', { data: '1' }, opts)
      own.freeze()
      try {
        const began = Date.now()
        await expect(broker.publish('hung', { data: '2' }, { ...opts, idempotencyKey: 'second' })).rejects.toThrow(/timed out/)
        expect(Date.now() - began).toBeLessThan(3000)
      } finally {
        own.thaw()
      }
      // The retry with the same key: the command that timed out ran once Redis woke up, so it is not published again.
      expect(await broker.publish('hung', { data: '2' }, { ...opts, idempotencyKey: 'second' })).toMatchObject({ offset: 2 })
      expect(await broker.publish('hung', { data: '3' }, opts)).toMatchObject({ offset: 3 })
    })
  })
}

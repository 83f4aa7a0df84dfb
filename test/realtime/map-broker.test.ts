/**
 * The map broker contract (src/realtime/map-broker.ts), written once and run on every backend, as centrifuge's
 * map_broker_shared_test.go: memory, Redis, and the database (PGlite and PostgreSQL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StreamPosition } from '../../src/protocol/types.js'
import { UnrecoverablePositionError, type MapBroker, type MapChannelOptions, type MapPublication } from '../../src/realtime/map-broker.js'
import { MemoryMapBroker } from '../../src/realtime/map-broker-memory.js'
import { PostgresMapBroker } from '../../src/realtime/map-broker-postgres.js'
import { RedisMapBroker } from '../../src/realtime/map-broker-redis.js'
import { openDb, type Db } from '../../src/store/index.js'
import { startRedisProcess } from '../helpers/processes.js'
import { postgresAvailable, tempPglite, tempPostgres, type TestDatabase } from '../store/databases.js'
import { randomPrefix, serviceUrl } from './services.js'

const PERSISTENT: MapChannelOptions = { mode: 'persistent', keyTtlMs: 0, streamSize: 3, streamTtlMs: 60_000, metaTtlMs: 0 }
const EXPIRING: MapChannelOptions = { mode: 'recoverable', keyTtlMs: 200, streamSize: 100, streamTtlMs: 60_000, metaTtlMs: 600_000 }
const EPHEMERAL: MapChannelOptions = { mode: 'ephemeral', keyTtlMs: 60_000, streamSize: 0, streamTtlMs: 0, metaTtlMs: 0 }

interface Backend {
  broker: MapBroker
  /** Every change handed to this node, in order. */
  seen: Array<{ channel: string; pub: MapPublication; position: StreamPosition }>
}

let seq = 0
const channel = () => `mb:${Date.now().toString(36)}-${++seq}`

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

function contract(name: string, make: () => Promise<MapBroker>, opts: { subscribeFirst?: boolean } = {}): void {
  describe(`map broker contract: ${name}`, () => {
    let b: Backend
    beforeAll(async () => {
      const broker = await make()
      const seen: Backend['seen'] = []
      await broker.run({ handleMapPublication: (channel, pub, position) => void seen.push({ channel, pub, position }) })
      b = { broker, seen }
    })
    afterAll(() => b?.broker.close())

    const seenOf = (ch: string) => b.seen.filter((s) => s.channel === ch)

    it('keeps state and stream together: consecutive offsets, one epoch, pages by key, removals with the entry\'s tags', async () => {
      const ch = channel()
      if (opts.subscribeFirst) await b.broker.subscribe(ch)
      const first = await b.broker.readState(ch, { limit: 0 }, PERSISTENT)
      expect(first.position.offset).toBe(0)
      for (const k of ['c', 'a', 'b', 'd']) await b.broker.publish(ch, k, { data: JSON.stringify({ k }), tags: { k } }, PERSISTENT)
      const removed = await b.broker.remove(ch, 'b', {}, PERSISTENT)
      expect(removed).toEqual({ position: { offset: 5, epoch: first.position.epoch }, suppressed: false })
      expect(await b.broker.remove(ch, 'b', {}, PERSISTENT)).toMatchObject({ suppressed: true, suppressReason: 'key_not_found' })
      const keys: string[] = []
      let cursor = ''
      for (let i = 0; i < 10; i++) {
        const page = await b.broker.readState(ch, { cursor, limit: 1 }, PERSISTENT)
        expect(page.position).toEqual({ offset: 5, epoch: first.position.epoch })
        keys.push(...page.publications.map((p) => p.key))
        cursor = page.cursor
        if (!cursor) break
      }
      expect(keys.sort()).toEqual(['a', 'c', 'd'])
      const stream = await b.broker.readStream(ch, { since: { offset: 2, epoch: first.position.epoch }, limit: -1 }, PERSISTENT)
      expect(stream.publications.map((p) => [p.offset, p.key, p.removed ?? false, p.tags])).toEqual([[3, 'b', false, { k: 'b' }], [4, 'd', false, { k: 'd' }], [5, 'b', true, { k: 'b' }]])
      // The stream keeps 3: offset 1 is gone, so a client at 1 cannot catch up from it.
      await expect(b.broker.readStream(ch, { since: { offset: 1, epoch: first.position.epoch }, limit: -1 }, PERSISTENT)).rejects.toBeInstanceOf(UnrecoverablePositionError)
      await expect(b.broker.readStream(ch, { since: { offset: 4, epoch: 'other' }, limit: -1 }, PERSISTENT)).rejects.toBeInstanceOf(UnrecoverablePositionError)
      await expect(b.broker.readState(ch, { limit: 5, revision: { offset: 4, epoch: 'other' } }, PERSISTENT)).rejects.toBeInstanceOf(UnrecoverablePositionError)
      if (opts.subscribeFirst) await waitFor(() => seenOf(ch).length === 5, 'five changes')
      expect(seenOf(ch).map((s) => [s.pub.key, s.position.offset])).toEqual([['c', 1], ['a', 2], ['b', 3], ['d', 4], ['b', 5]])
    })

    it('suppresses conditional, versioned and repeated writes, and carries the previous data for deltas', async () => {
      const ch = channel()
      if (opts.subscribeFirst) await b.broker.subscribe(ch)
      expect(await b.broker.publish(ch, 'k', { data: '1', keyMode: 'if_exists' }, PERSISTENT)).toMatchObject({ suppressed: true, suppressReason: 'key_not_found' })
      expect((await b.broker.publish(ch, 'k', { data: '1', keyMode: 'if_new', version: 5 }, PERSISTENT)).suppressed).toBe(false)
      expect(await b.broker.publish(ch, 'k', { data: '2', keyMode: 'if_new' }, PERSISTENT)).toMatchObject({ suppressed: true, suppressReason: 'key_exists' })
      expect(await b.broker.publish(ch, 'k', { data: '2', version: 5 }, PERSISTENT)).toMatchObject({ suppressed: true, suppressReason: 'version' })
      expect((await b.broker.publish(ch, 'k', { data: '"new"', version: 6, useDelta: true }, PERSISTENT)).position.offset).toBe(2)
      const once = await b.broker.publish(ch, 'i', { data: '1', idempotencyKey: 'x' }, PERSISTENT)
      expect(await b.broker.publish(ch, 'i', { data: '2', idempotencyKey: 'x' }, PERSISTENT)).toEqual({ position: once.position, suppressed: true, suppressReason: 'idempotency' })
      if (opts.subscribeFirst) await waitFor(() => seenOf(ch).length === 3, 'three changes')
      expect(seenOf(ch).map((s) => [s.pub.key, s.pub.data, s.pub.prevData])).toEqual([['k', '1', undefined], ['k', '"new"', '1'], ['i', '1', undefined]])
    })

    it('removes keys past their TTL once, as a change in the stream; ephemeral changes have no offsets', async () => {
      const ch = channel()
      if (opts.subscribeFirst) await b.broker.subscribe(ch)
      const written = await b.broker.publish(ch, 'brief', { data: '1', tags: { t: 'x' } }, EXPIRING)
      await waitFor(() => seenOf(ch).some((s) => s.pub.removed), 'the expiry')
      const removal = seenOf(ch).find((s) => s.pub.removed)!
      expect(removal.pub).toMatchObject({ key: 'brief', removed: true, offset: written.position.offset + 1, tags: { t: 'x' } })
      expect((await b.broker.readState(ch, { limit: 10 }, EXPIRING)).publications).toEqual([])
      expect((await b.broker.publish(ch, 'next', { data: '2' }, EXPIRING)).position.offset).toBe(written.position.offset + 2)

      const eph = channel()
      if (opts.subscribeFirst) await b.broker.subscribe(eph)
      expect((await b.broker.publish(eph, 'e', { data: '1' }, EPHEMERAL)).position.offset).toBe(0)
      expect((await b.broker.readState(eph, { limit: 10 }, EPHEMERAL)).publications).toMatchObject([{ key: 'e', data: '1' }])
    })
  })
}

contract('memory', async () => new MemoryMapBroker({ expireIntervalMs: 20 }))

const redisUrl = serviceUrl('REDIS_URL', 'map broker contract: Redis')
if (redisUrl) contract('Redis', async () => new RedisMapBroker({ url: redisUrl, prefix: randomPrefix('map-broker'), expireIntervalMs: 20 }), { subscribeFirst: true })

describe.skipIf(!redisUrl)('map broker on a Redis that hangs', () => {
  it('rejects a publish or a read not answered within commandTimeoutMs, and works once Redis answers again', async () => {
    // A redis-server of this test's own: SIGSTOP keeps its connections open and answers nothing.
    const own = await startRedisProcess()
    const broker = new RedisMapBroker({ url: own.url, prefix: randomPrefix('map-hung'), commandTimeoutMs: 300 })
    await broker.run({ handleMapPublication: () => {} })
    try {
      const ch = channel()
      await broker.publish(ch, 'a', { data: '1' }, PERSISTENT)
      own.freeze()
      try {
        const began = Date.now()
        await expect(broker.readState(ch, { limit: 10 }, PERSISTENT)).rejects.toThrow(/timed out/)
        await expect(broker.publish(ch, 'b', { data: '2' }, PERSISTENT)).rejects.toThrow(/timed out/)
        expect(Date.now() - began).toBeLessThan(3000)
      } finally {
        own.thaw()
      }
      // The publish that timed out ran once Redis woke up: its caller was told it failed, Redis has it.
      const state = await broker.readState(ch, { limit: 10 }, PERSISTENT)
      expect(state.publications.map((p) => p.key).sort()).toEqual(['a', 'b'])
    } finally {
      await broker.close()
    }
  })
})

const databases: Array<{ db: Db; t: TestDatabase }> = []
afterAll(async () => {
  for (const { db, t } of databases.splice(0)) {
    await db.close().catch(() => {})
    await t.drop()
  }
})
async function onDatabase(t: TestDatabase): Promise<MapBroker> {
  const db = await openDb({ databaseUrl: t.databaseUrl, dataDir: t.dataDir })
  databases.push({ db, t })
  return new PostgresMapBroker({ db, expireIntervalMs: 20 })
}
contract('PGlite', async () => onDatabase(await tempPglite()))
if (await postgresAvailable()) contract('PostgreSQL', async () => onDatabase(await tempPostgres()))

describe('map broker on PGlite: state outlives a restart', () => {
  it('keeps keys, offsets and the epoch across closing and opening the database', async () => {
    const t = await tempPglite()
    try {
      let db = await openDb({ dataDir: t.dataDir })
      let broker = new PostgresMapBroker({ db })
      const ch = channel()
      const written = await broker.publish(ch, 'k', { data: '{"v":1}' }, PERSISTENT)
      await db.close()
      db = await openDb({ dataDir: t.dataDir })
      broker = new PostgresMapBroker({ db })
      const state = await broker.readState(ch, { limit: 10 }, PERSISTENT)
      expect(state.position).toEqual(written.position)
      expect(state.publications).toMatchObject([{ key: 'k', data: '{"v":1}', offset: 1 }])
      await db.close()
    } finally {
      await t.drop()
    }
  })
})

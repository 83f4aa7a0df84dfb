/**
 * Several Redis servers as one broker (REDIS_URL with two shards): the broker contract holds, and each channel
 * lives on the shard shardOf picks. Two redis-server processes of the test's own.
 */
import { Redis } from 'ioredis'
import { describe, expect, it, onTestFinished } from 'vitest'
import { RedisBroker } from '../../src/realtime/broker-redis.js'
import { shardOf } from '../../src/realtime/redis-topology.js'
import { ShardedBroker } from '../../src/realtime/sharded.js'
import { startRedisProcess } from '../helpers/processes.js'
import { brokerContract } from './broker-contract.js'
import { randomPrefix, serviceUrl } from './services.js'

// The machine's Redis tells whether redis-server is there to start two more.
const available = serviceUrl('REDIS_URL', 'ShardedBroker over two Redis servers')

if (available) {
  const shards = await Promise.all([startRedisProcess(), startRedisProcess()])
  const prefix = randomPrefix('sharded')
  const newBroker = () => new ShardedBroker(shards.map((s) => new RedisBroker({ url: s.url, prefix })))
  brokerContract({ name: 'ShardedBroker', newBroker, shared: true })

  describe('ShardedBroker: placement', () => {
    it("keeps each channel's stream on its own shard", async () => {
      const broker = newBroker()
      const idle = { handlePublication() {}, handleJoin() {}, handleLeave() {}, handleControl() {} }
      await broker.run(idle)
      onTestFinished(() => broker.close())
      const channels = Array.from({ length: 20 }, (_, i) => `place-${prefix}-${i}`)
      for (const ch of channels) await broker.publish(ch, { data: '{}' }, { historySize: 10, historyTtlMs: 60_000, historyMetaTtlMs: 60_000 })
      const admins = shards.map((s) => new Redis(s.url))
      onTestFinished(() => admins.forEach((a) => a.disconnect()))
      for (const ch of channels) {
        const home = shardOf(ch, 2)
        expect(await admins[home]!.exists(`${prefix}.stream.${ch}`)).toBe(1)
        expect(await admins[1 - home]!.exists(`${prefix}.stream.${ch}`)).toBe(0)
      }
      expect(new Set(channels.map((c) => shardOf(c, 2))).size).toBe(2)
    })
  })
}

import { Redis } from 'ioredis'
import { describe, expect, it, onTestFinished } from 'vitest'
import { RedisPresenceManager } from '../../src/realtime/presence-redis.js'
import { startRedisProcess } from '../helpers/processes.js'
import { presenceContract } from './presence-contract.js'
import { randomPrefix, serviceUrl } from './services.js'

const url = serviceUrl('REDIS_URL', 'RedisPresenceManager')

if (url) {
  const prefix = randomPrefix('presence')
  presenceContract({
    name: 'RedisPresenceManager',
    newManager: ({ ttlMs }) => new RedisPresenceManager({ url, prefix, ttlMs }),
    shared: true,
    expires: true,
  })

  describe('RedisPresenceManager: Redis specifics', () => {
    it('keeps a hash of infos and a zset of expiry times that vanish with the channel', async () => {
      const m = new RedisPresenceManager({ url, prefix, ttlMs: 30_000 })
      const redis = new Redis(url)
      onTestFinished(async () => {
        await m.close()
        await redis.quit()
      })
      const before = Date.now()
      await m.add('layout', 'c1', { user: 'u1', client: 'c1' })
      expect(await redis.hgetall(`${prefix}.presence.data.layout`)).toEqual({ c1: '{"user":"u1","client":"c1"}' })
      const expiresAt = Number(await redis.zscore(`${prefix}.presence.expire.layout`, 'c1'))
      expect(expiresAt).toBeGreaterThanOrEqual(before + 30_000)
      expect(await redis.pttl(`${prefix}.presence.data.layout`)).toBeGreaterThan(25_000)
      expect(await redis.pttl(`${prefix}.presence.expire.layout`)).toBeGreaterThan(25_000)
    })

    it('rejects a call that a hung Redis does not answer within commandTimeoutMs, and works once it answers again', async () => {
      // A redis-server of this test's own: SIGSTOP keeps its connection open and answers nothing.
      const own = await startRedisProcess()
      const m = new RedisPresenceManager({ url: own.url, prefix, commandTimeoutMs: 300 })
      onTestFinished(() => m.close())
      await m.add('hung', 'c1', { user: 'u1', client: 'c1' })
      own.freeze()
      try {
        const began = Date.now()
        await expect(m.presence('hung')).rejects.toThrow(/timed out/)
        await expect(m.add('hung', 'c2', { user: 'u2', client: 'c2' })).rejects.toThrow(/timed out/)
        expect(Date.now() - began).toBeLessThan(3000)
      } finally {
        own.thaw()
      }
      expect(Object.keys(await m.presence('hung')).sort()).toEqual(['c1', 'c2'])
    })
  })
}

import { Redis } from 'ioredis'
import { describe, expect, it, onTestFinished } from 'vitest'
import { RedisPresenceManager } from '../../src/realtime/presence-redis.js'
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
  })
}

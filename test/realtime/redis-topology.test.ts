/** REDIS_URL forms and the channel → shard mapping (Centrifugo's consistentIndex: FNV-1a 64 + jump hash). */
import { describe, expect, it } from 'vitest'
import { jumpHash, parseRedisUrl, shardOf, splitRedisUrl } from '../../src/realtime/redis-topology.js'

describe('REDIS_URL', () => {
  it('names one server, with password, db and TLS', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6391')).toEqual([{ options: { host: '127.0.0.1', port: 6391, db: 0 }, where: 'redis://127.0.0.1:6391' }])
    const [t] = parseRedisUrl('rediss://user:s%40cret@redis.example:6380/2')
    expect(t!.options).toEqual({ host: 'redis.example', port: 6380, db: 2, username: 'user', password: 's@cret', tls: {} })
    expect(t!.where).toBe('rediss://user:***@redis.example:6380/2')
  })

  it('names a Sentinel group: its sentinels and the primary it watches', () => {
    const [t] = parseRedisUrl('redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/mymaster/1')
    expect(t!.options).toEqual({ sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }], name: 'mymaster', db: 1, password: 'pw' })
    expect(t!.where).not.toContain('pw')
  })

  it('lists shards, comma-separated, of either kind', () => {
    expect(splitRedisUrl('redis://a:1, redis://b:2,redis+sentinel://s:3,t:4/m')).toEqual(['redis://a:1', 'redis://b:2', 'redis+sentinel://s:3,t:4/m'])
    expect(parseRedisUrl('redis://a:1,redis://b:2')).toHaveLength(2)
  })

  it('refuses what it cannot read, without the password', () => {
    expect(() => parseRedisUrl('http://:secret@x')).toThrow(/unknown scheme http:/)
    expect(() => parseRedisUrl('http://:secret@x')).not.toThrow(/secret/)
  })
})

describe('shard of a channel', () => {
  it('is the reference jump consistent hash (values of the paper’s C implementation)', () => {
    expect([jumpHash(1n, 1), jumpHash(42n, 57), jumpHash(256n, 1024), jumpHash(16045690984833335023n, 255)]).toEqual([0, 43, 520, 237])
  })

  it('hashes the channel name with FNV-1a 64 first, as Centrifugo does', () => {
    // Computed with the reference C implementation of FNV-1a 64 and jump hash.
    expect(['operator:abc', 'client:42', 'operators:queue', 'news'].map((c) => [shardOf(c, 2), shardOf(c, 3), shardOf(c, 16)])).toEqual([
      [0, 0, 7],
      [0, 0, 3],
      [0, 0, 10],
      [1, 2, 3],
    ])
    expect(shardOf('anything', 1)).toBe(0)
  })

  it('spreads channels evenly and moves only about 1/n of them when a shard is added', () => {
    const channels = Array.from({ length: 3000 }, (_, i) => `client:${i}`)
    const counts = [0, 0, 0]
    for (const c of channels) counts[shardOf(c, 3)]!++
    for (const n of counts) expect(n).toBeGreaterThan(850)
    const moved = channels.filter((c) => shardOf(c, 3) !== shardOf(c, 4)).length
    expect(moved / channels.length).toBeGreaterThan(0.15)
    expect(moved / channels.length).toBeLessThan(0.35)
    // Moved channels go to the new shard only.
    for (const c of channels) if (shardOf(c, 3) !== shardOf(c, 4)) expect(shardOf(c, 4)).toBe(3)
  })
})

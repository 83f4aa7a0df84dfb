/**
 * Open connections per key across every node, in Redis: per key a HASH instance → count
 * (`<prefix>.limit.conns.<key>`). Each process is one instance with a heartbeat key; counts of an instance
 * whose heartbeat expired (a crashed node) are dropped at the next acquire, so they stop counting by themselves.
 */
import type { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import type { ConnectionCounter } from './limits.js'

export interface RedisConnectionCounterOptions {
  /** An ioredis client this counter may use (it is not closed here). */
  redis: Redis
  /** @default 'livedesk' */
  prefix?: string
  /** How long an instance counts after its last heartbeat; heartbeats go every third of it. @default 15_000 */
  ttlMs?: number
  onError?: (err: unknown) => void
}

/** A key unused this long is dropped whole (its connections closed long ago or were never released). */
const KEY_TTL_MS = 24 * 3600 * 1000

// KEYS: counts hash. ARGV: instance, max, heartbeat key prefix, key TTL (ms). Returns 1 when a slot was taken.
const ACQUIRE = `
local total = 0
local fields = redis.call('hgetall', KEYS[1])
for i = 1, #fields, 2 do
  if fields[i] == ARGV[1] or redis.call('exists', ARGV[3] .. fields[i]) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('hdel', KEYS[1], fields[i])
  end
end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('hincrby', KEYS[1], ARGV[1], 1)
redis.call('pexpire', KEYS[1], ARGV[4])
return 1
`

// KEYS: counts hash. ARGV: instance.
const RELEASE = `
local n = redis.call('hincrby', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('hdel', KEYS[1], ARGV[1]) end
`

interface CounterCommands {
  livedeskConnAcquire(key: string, instance: string, max: string, heartbeatPrefix: string, keyTtl: string): Promise<number>
  livedeskConnRelease(key: string, instance: string): Promise<null>
}

export class RedisConnectionCounter implements ConnectionCounter {
  private readonly redis: Redis & CounterCommands
  private readonly prefix: string
  private readonly ttlMs: number
  private readonly instance = randomBytes(8).toString('hex')
  private readonly heartbeat: NodeJS.Timeout

  constructor(opts: RedisConnectionCounterOptions) {
    this.redis = opts.redis as Redis & CounterCommands
    this.prefix = opts.prefix ?? 'livedesk'
    this.ttlMs = opts.ttlMs ?? 15_000
    this.redis.defineCommand('livedeskConnAcquire', { numberOfKeys: 1, lua: ACQUIRE })
    this.redis.defineCommand('livedeskConnRelease', { numberOfKeys: 1, lua: RELEASE })
    const beat = () => void this.redis.set(this.heartbeatKey, '1', 'PX', this.ttlMs).catch(opts.onError ?? (() => {}))
    beat()
    this.heartbeat = setInterval(beat, Math.max(100, this.ttlMs / 3))
    this.heartbeat.unref()
  }

  async acquire(key: string, max: number): Promise<boolean> {
    const taken = await this.redis.livedeskConnAcquire(this.key(key), this.instance, String(max), `${this.prefix}.limit.alive.`, String(KEY_TTL_MS))
    return Number(taken) === 1
  }

  async release(key: string): Promise<void> {
    await this.redis.livedeskConnRelease(this.key(key), this.instance)
  }

  /** Stops the heartbeat and drops it: this process's counts stop counting at once. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat)
    await this.redis.del(this.heartbeatKey).catch(() => {})
  }

  private get heartbeatKey(): string {
    return `${this.prefix}.limit.alive.${this.instance}`
  }

  private key(key: string): string {
    return `${this.prefix}.limit.conns.${key}`
  }
}

/**
 * Presence shared by every node, on Redis: per channel a HASH client → info JSON
 * (`<prefix>.presence.data.<ch>`) and a ZSET client → expiry time in ms (`<prefix>.presence.expire.<ch>`).
 * Reads drop expired clients first, so a crashed node's clients vanish once its entries are not re-added.
 */
import { Redis } from 'ioredis'
import type { ClientInfo } from '../protocol/types.js'
import type { PresenceManager, PresenceStats } from './presence.js'
import { parseRedisUrl, REDIS_COMMAND_TIMEOUT_MS } from './redis-topology.js'

export interface RedisPresenceOptions {
  url: string
  /** @default 'livedesk' */
  prefix?: string
  /** How long an entry lives unless re-added; the node re-adds its clients well within it. @default 60_000 */
  ttlMs?: number
  /** Connection errors; ioredis reconnects by itself, so these are for logs. */
  onError?: (err: Error) => void
  /** A command not answered within this is rejected (redis-topology.ts). @default REDIS_COMMAND_TIMEOUT_MS */
  commandTimeoutMs?: number
}

// KEYS: expiry zset, data hash. ARGV: client, info JSON, expires at (ms), key TTL (ms).
const ADD_SCRIPT = `
redis.call('zadd', KEYS[1], ARGV[3], ARGV[1])
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[4])
redis.call('pexpire', KEYS[2], ARGV[4])
`

const DROP_EXPIRED = `
local expired = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1])
if #expired > 0 then
  for i = 1, #expired do redis.call('hdel', KEYS[2], expired[i]) end
  redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
end
`

// KEYS: expiry zset, data hash. ARGV: now (ms).
const GET_SCRIPT = `${DROP_EXPIRED}
return redis.call('hgetall', KEYS[2])
`

// KEYS: expiry zset, data hash. ARGV: now (ms). Returns {clients, distinct users}.
const STATS_SCRIPT = `${DROP_EXPIRED}
local users = {}
local numUsers = 0
local infos = redis.call('hvals', KEYS[2])
for i = 1, #infos do
  local user = cjson.decode(infos[i])['user']
  if user == nil or user == cjson.null then user = '' end
  if not users[user] then
    users[user] = true
    numUsers = numUsers + 1
  end
end
return {#infos, numUsers}
`

interface ScriptCommands {
  livedeskPresenceAdd(zset: string, hash: string, client: string, info: string, expireAt: string, ttl: string): Promise<null>
  livedeskPresenceGet(zset: string, hash: string, now: string): Promise<string[]>
  livedeskPresenceStats(zset: string, hash: string, now: string): Promise<[number, number]>
}

export class RedisPresenceManager implements PresenceManager {
  private readonly prefix: string
  private readonly ttlMs: number
  private readonly redis: Redis & ScriptCommands

  constructor(opts: RedisPresenceOptions) {
    this.prefix = opts.prefix ?? 'livedesk'
    this.ttlMs = opts.ttlMs ?? 60_000
    const [target, ...more] = parseRedisUrl(opts.url)
    if (more.length > 0) throw new Error('RedisPresenceManager takes one Redis; ShardedPresenceManager spreads channels over several')
    this.redis = new Redis({ ...target!.options, commandTimeout: opts.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS, connectionName: `${this.prefix}:presence` }) as Redis & ScriptCommands
    this.redis.on('error', opts.onError ?? (() => {}))
    this.redis.defineCommand('livedeskPresenceAdd', { numberOfKeys: 2, lua: ADD_SCRIPT })
    this.redis.defineCommand('livedeskPresenceGet', { numberOfKeys: 2, lua: GET_SCRIPT })
    this.redis.defineCommand('livedeskPresenceStats', { numberOfKeys: 2, lua: STATS_SCRIPT })
  }

  async add(channel: string, client: string, info: ClientInfo): Promise<void> {
    const ttl = Math.max(1, Math.ceil(this.ttlMs))
    await this.redis.livedeskPresenceAdd(
      this.expireKey(channel), this.dataKey(channel), client, JSON.stringify(info), String(Date.now() + ttl), String(ttl),
    )
  }

  async remove(channel: string, client: string): Promise<void> {
    await this.redis.multi().zrem(this.expireKey(channel), client).hdel(this.dataKey(channel), client).exec()
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    const flat = await this.redis.livedeskPresenceGet(this.expireKey(channel), this.dataKey(channel), String(Date.now()))
    const result: Record<string, ClientInfo> = {}
    for (let i = 0; i + 1 < flat.length; i += 2) result[flat[i]!] = JSON.parse(flat[i + 1]!) as ClientInfo
    return result
  }

  async stats(channel: string): Promise<PresenceStats> {
    const [numClients, numUsers] = await this.redis.livedeskPresenceStats(this.expireKey(channel), this.dataKey(channel), String(Date.now()))
    return { numClients: Number(numClients), numUsers: Number(numUsers) }
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit()
    } catch {
      this.redis.disconnect()
    }
  }

  private expireKey(channel: string): string {
    return `${this.prefix}.presence.expire.${channel}`
  }

  private dataKey(channel: string): string {
    return `${this.prefix}.presence.data.${channel}`
  }
}

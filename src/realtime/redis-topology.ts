/**
 * What REDIS_URL names: one Redis server, a Sentinel group (failover follows the elected primary), or several of
 * either, comma-separated, sharded by channel with Centrifugo's jump consistent hash (so a channel lands on the
 * same shard as it would in Centrifugo with the same shard list).
 *
 *   redis://[:password@]host:port[/db]                       one server (rediss:// for TLS)
 *   redis+sentinel://[:password@]host:port[,host:port…]/name[/db]   a Sentinel group watching primary `name`
 *   redis://a:6379,redis://b:6379                            two shards
 */
import type { RedisOptions } from 'ioredis'

/**
 * A command not answered within this is rejected, so its caller can answer or retry: a Redis that hangs, or a path
 * that drops packets without closing the connection, would otherwise hold it until TCP gives up (minutes).
 * Centrifugo bounds its Redis calls the same way (`io_timeout`).
 */
export const REDIS_COMMAND_TIMEOUT_MS = 5000

export interface RedisTarget {
  /** ioredis options: host/port, or sentinels and the primary's name. */
  options: RedisOptions
  /** For messages: the address without its password. */
  where: string
}

/** The shards REDIS_URL lists, in order, each as its own URL. */
export function splitRedisUrl(url: string): string[] {
  const parts = url.split(/,\s*(?=rediss?(?:\+sentinel)?:\/\/)/).map((s) => s.trim()).filter(Boolean)
  if (parts.length === 0) throw new Error('REDIS_URL is empty')
  return parts
}

/** The shards REDIS_URL lists, in order. */
export function parseRedisUrl(url: string): RedisTarget[] {
  return splitRedisUrl(url).map(parseOne)
}

function parseOne(url: string): RedisTarget {
  const sentinel = /^(rediss?)\+sentinel:\/\/(?:([^@/]*)@)?([^/]+)\/([^/?]+)(?:\/(\d+))?/.exec(url)
  if (sentinel) {
    const [, scheme, auth, hosts, name, db] = sentinel
    const password = auth ? decodeURIComponent(auth.includes(':') ? auth.slice(auth.indexOf(':') + 1) : auth) : undefined
    const sentinels = hosts!.split(',').map((h) => {
      const [host, port] = h.split(':')
      if (!host) throw new Error(`REDIS_URL: a sentinel address is empty in ${redact(url)}`)
      return { host, port: port ? Number(port) : 26379 }
    })
    const options: RedisOptions = { sentinels, name, db: db ? Number(db) : 0 }
    if (password) options.password = password
    if (scheme === 'rediss') options.tls = {}
    return { options, where: `sentinel ${hosts} (${name})` }
  }
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new Error(`REDIS_URL: not a redis:// or redis+sentinel:// address: ${redact(url)}`)
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`REDIS_URL: unknown scheme ${u.protocol} in ${redact(url)}`)
  const options: RedisOptions = { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379, db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0 }
  if (u.username) options.username = decodeURIComponent(u.username)
  if (u.password) options.password = decodeURIComponent(u.password)
  if (u.protocol === 'rediss:') options.tls = {}
  return { options, where: redact(url) }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@').replace(/\/\/([^:@/]+)@/, '//***@')
}

const MASK = (1n << 64n) - 1n

function fnv1a64(s: string): bigint {
  let h = 0xcbf29ce484222325n
  for (const byte of Buffer.from(s)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & MASK
  return h
}

/** Lamping and Veach's jump consistent hash: a bucket in [0, buckets) that moves for 1/n of keys when n grows. */
export function jumpHash(key: bigint, buckets: number): number {
  let b = -1
  let j = 0
  while (j < buckets) {
    b = j
    key = (key * 2862933555777941757n + 1n) & MASK
    j = Math.floor((b + 1) * (2 ** 31 / (Number(key >> 33n) + 1)))
  }
  return b
}

/** The shard of a channel: Centrifugo's `consistentIndex` (FNV-1a 64 of the name, then jump hash). */
export function shardOf(channel: string, shards: number): number {
  return shards <= 1 ? 0 : jumpHash(fnv1a64(channel), shards)
}

/**
 * The gateway's limits on what one peer may take: sockets per process, per IP and per user, connect attempts
 * per IP, subscriptions and commands per connection. Counts several nodes must agree on (per IP, per user) live
 * in Redis when the node has one (limits-redis.ts), else in this process; per-connection counts are local.
 */
import { readFileSync } from 'node:fs'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { Disconnects } from '../protocol/codes.js'
import type { RealtimeConfig } from './config.js'

/** At most `points` per `windowMs` (whole seconds where Redis counts); `points` 0 turns the limit off. */
export interface RateLimit {
  points: number
  windowMs: number
}

/**
 * Open connections per key (an IP, a user) across every node. `acquire` takes a slot unless `max` are taken;
 * `release` gives it back. A node that dies without releasing stops counting once its heartbeat expires.
 */
export interface ConnectionCounter {
  acquire(key: string, max: number): Promise<boolean>
  release(key: string): Promise<void>
  close(): Promise<void>
}

/** One process's counts. */
export class MemoryConnectionCounter implements ConnectionCounter {
  private readonly counts = new Map<string, number>()

  async acquire(key: string, max: number): Promise<boolean> {
    const n = this.counts.get(key) ?? 0
    if (n >= max) return false
    this.counts.set(key, n + 1)
    return true
  }

  async release(key: string): Promise<void> {
    const n = (this.counts.get(key) ?? 0) - 1
    if (n > 0) this.counts.set(key, n)
    else this.counts.delete(key)
  }

  async close(): Promise<void> {
    this.counts.clear()
  }
}

/** Where shared counts live: Redis (an ioredis client, several nodes) or this process. */
export interface LimitStore {
  counter: ConnectionCounter
  /** An ioredis client for rate-limiter-flexible; absent: memory. */
  redis?: unknown
  /** Key prefix in Redis. @default 'livedesk' */
  prefix?: string
}

/** A refusal the caller answers in its own protocol: how long until a retry may pass. */
export interface Refusal {
  retryAfterMs: number
}

/**
 * A rate limit by key (rate-limiter-flexible): in Redis when there is one, with a per-node memory limiter
 * standing in while Redis is unreachable, so an outage neither blocks everyone nor lets everyone through.
 */
export class Throttle {
  private readonly limiter?: RateLimiterAbstract

  constructor(name: string, rate: RateLimit, store: Pick<LimitStore, 'redis' | 'prefix'>) {
    if (rate.points <= 0) return
    // Redis keeps windows in whole seconds (EX).
    const duration = Math.max(1, Math.ceil(rate.windowMs / 1000))
    const base = { keyPrefix: `${store.prefix ?? 'livedesk'}.limit.${name}`, points: rate.points, duration }
    const memory = new RateLimiterMemory(base)
    this.limiter = store.redis
      ? new RateLimiterRedis({
          ...base,
          storeClient: store.redis,
          // A key that used its points is refused from memory for the rest of its window: a flood costs Redis nothing.
          inMemoryBlockOnConsumed: rate.points,
          insuranceLimiter: memory,
        })
      : memory
  }

  /** Counts one for `key`; a refusal when the key is past its points in this window. */
  async take(key: string): Promise<Refusal | undefined> {
    if (!this.limiter) return undefined
    try {
      await this.limiter.consume(key)
      return undefined
    } catch (res) {
      if (res instanceof RateLimiterRes) return { retryAfterMs: Math.max(1, res.msBeforeNext) }
      throw res
    }
  }
}

/**
 * Commands of one connection in fixed windows. Past `points` a command is refused (111 too many requests);
 * a connection that goes on to twice `points` in one window is cut (3013), as it ignores the refusals.
 */
export class CommandBudget {
  private windowStart = 0
  private used = 0

  constructor(private readonly rate: RateLimit) {}

  take(now = Date.now()): 'ok' | 'refuse' | 'disconnect' {
    if (this.rate.points <= 0) return 'ok'
    if (now - this.windowStart >= this.rate.windowMs) {
      this.windowStart = now
      this.used = 0
    }
    this.used++
    if (this.used <= this.rate.points) return 'ok'
    return this.used > 2 * this.rate.points ? 'disconnect' : 'refuse'
  }
}

/** Files a process keeps open besides sockets: database and Redis connections, PGlite's files, logs. */
const RESERVED_FILES = 128
/** Sockets kept for plain HTTP (/health, the API) when WebSockets reach their cap. */
const HTTP_SOCKETS = 128

/** The soft limit on open files (Linux), or undefined where it cannot be read. */
export function openFilesLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/**
 * The default cap on WebSocket connections: what the open-files limit leaves after plain HTTP sockets and the
 * process's own files, so a flood is refused (503) before accept() starts failing for /health; 10 000 where
 * the limit is unknown.
 */
export function defaultMaxConnections(files = openFilesLimit()): number {
  return files === undefined ? 10_000 : Math.max(16, files - RESERVED_FILES - HTTP_SOCKETS)
}

/** The cap on all TCP connections of the HTTP server: the WebSocket cap plus room for plain HTTP. */
export function maxServerConnections(maxWebSockets: number): number {
  return maxWebSockets + HTTP_SOCKETS
}

/** What the WebSocket upgrade answers when a limit refuses a socket. */
export interface UpgradeRefusal {
  status: 429 | 503
  retryAfterSec: number
  reason: string
}

/** The gateway's limits, owned by the node; the transport asks at the upgrade, the client at connect and per command. */
export class GatewayLimits {
  private readonly connects: Throttle
  private readonly emulations: Throttle
  private readonly counter: ConnectionCounter

  constructor(
    private readonly config: RealtimeConfig,
    store: LimitStore = { counter: new MemoryConnectionCounter() },
  ) {
    this.counter = store.counter
    this.connects = new Throttle('connects', config.connectsPerIp, store)
    this.emulations = new Throttle('emulation', config.emulationPerIp, store)
  }

  /**
   * At the upgrade, before any other work: 503 past the process's cap (as Centrifugo's connection_limit), 429
   * past the IP's connect rate or open connections. An admitted socket holds its IP's slot until `releaseSocket`.
   */
  async admitSocket(ip: string | undefined, openSockets: number): Promise<UpgradeRefusal | undefined> {
    const { maxConnections, connectionsPerIp } = this.config
    if (maxConnections > 0 && openSockets >= maxConnections) return { status: 503, retryAfterSec: 1, reason: 'connection limit' }
    if (ip === undefined) return undefined
    const refused = await this.connects.take(ip)
    if (refused) return { status: 429, retryAfterSec: Math.ceil(refused.retryAfterMs / 1000), reason: 'too many connection attempts' }
    if (connectionsPerIp > 0 && !(await this.shared(() => this.counter.acquire(`ip:${ip}`, connectionsPerIp)))) {
      return { status: 429, retryAfterSec: 1, reason: 'too many connections from this address' }
    }
    return undefined
  }

  /** Before an emulation request is read: 429 past the IP's emulation rate. A rate that cannot be read (Redis away) falls back to memory. */
  async admitEmulation(ip: string | undefined): Promise<UpgradeRefusal | undefined> {
    if (ip === undefined) return undefined
    const refused = await this.emulations.take(ip)
    if (refused) return { status: 429, retryAfterSec: Math.ceil(refused.retryAfterMs / 1000), reason: 'too many emulation requests' }
    return undefined
  }

  /** The admitted socket of `ip` closed. */
  releaseSocket(ip: string | undefined): void {
    if (ip !== undefined && this.config.connectionsPerIp > 0) void this.counter.release(`ip:${ip}`).catch(() => {})
  }

  /** At connect, once the user is known: throws 3504 connection limit past the user's connections (anonymous '' is not counted). */
  async admitUser(user: string): Promise<void> {
    const max = this.config.connectionsPerUser
    if (max <= 0 || user === '') return
    if (!(await this.shared(() => this.counter.acquire(`user:${user}`, max)))) throw Disconnects.connectionLimit
  }

  /** A connection admitted by `admitUser` closed. */
  releaseUser(user: string): void {
    if (this.config.connectionsPerUser > 0 && user !== '') void this.counter.release(`user:${user}`).catch(() => {})
  }

  /** Whether one connection may hold `count` subscriptions. */
  subscriptionsAllowed(count: number): boolean {
    return this.config.maxSubscriptions <= 0 || count <= this.config.maxSubscriptions
  }

  /** The command budget of a new connection. */
  commandBudget(): CommandBudget {
    return new CommandBudget(this.config.commandRate)
  }

  close(): Promise<void> {
    return this.counter.close()
  }

  /** A shared count that cannot be read (Redis away) admits: an outage must not lock everyone out; the process cap still holds. */
  private async shared(acquire: () => Promise<boolean>): Promise<boolean> {
    try {
      return await acquire()
    } catch {
      return true
    }
  }
}

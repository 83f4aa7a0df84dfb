/** The single-process map broker: state, stream and fan-out in this process (centrifuge `map_broker_memory.go`). */
import type { StreamPosition } from '../protocol/types.js'
import {
  DEFAULT_MAP_IDEMPOTENT_RESULT_TTL_MS, UnrecoverablePositionError, hasStream,
  type MapBroker, type MapBrokerEventHandler, type MapChannelOptions, type MapPublication, type MapPublishOptions,
  type MapRemoveOptions, type MapStateResult, type MapStreamResult, type MapUpdateResult,
} from './map-broker.js'
import { newEpoch } from './epoch.js'

interface Entry {
  pub: MapPublication
  /** 0: never. */
  expiresAt: number
  version?: number
  versionEpoch?: string
}

interface Channel {
  epoch: string
  top: number
  state: Map<string, Entry>
  /** The state's keys in order, for paging; dropped when a key is added or removed. */
  sortedKeys?: string[]
  /** Ascending by offset, trimmed to the stream size. */
  stream: Array<{ pub: MapPublication; expiresAt: number }>
  /** Infinity: never. */
  metaExpiresAt: number
  /** The options of the last write, for the expiry sweep's removals. */
  chOpts?: MapChannelOptions
}

export interface MemoryMapBrokerOptions {
  /** How often expired keys are removed (and their removals published). @default 1_000 (Centrifugo's second) */
  expireIntervalMs?: number
}

/** The index of the first key after `cursor` in sorted `keys`. */
function firstAfter(keys: string[], cursor: string): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (keys[mid]! <= cursor) lo = mid + 1
    else hi = mid
  }
  return lo
}

export class MemoryMapBroker implements MapBroker {
  private handler?: MapBrokerEventHandler
  private readonly channels = new Map<string, Channel>()
  /** `channel \0 idempotency key` → the first write's position. */
  private readonly results = new Map<string, { position: StreamPosition; expiresAt: number }>()
  private timer?: NodeJS.Timeout
  private readonly expireIntervalMs: number

  constructor(opts: MemoryMapBrokerOptions = {}) {
    this.expireIntervalMs = opts.expireIntervalMs ?? 1_000
  }

  async run(handler: MapBrokerEventHandler): Promise<void> {
    this.handler = handler
    this.timer = setInterval(() => this.expire(), this.expireIntervalMs)
    this.timer.unref()
  }

  async subscribe(): Promise<void> {}
  async unsubscribe(): Promise<void> {}

  async publish(channel: string, key: string, opts: MapPublishOptions, chOpts: MapChannelOptions): Promise<MapUpdateResult> {
    const now = Date.now()
    const ch = this.channel(channel, now, chOpts)
    const seen = this.seen(channel, opts.idempotencyKey, now)
    if (seen) return { position: seen, suppressed: true, suppressReason: 'idempotency' }
    const existing = ch.state.get(key)
    const live = existing && (existing.expiresAt === 0 || existing.expiresAt > now) ? existing : undefined
    const position = { offset: ch.top, epoch: ch.epoch }
    if (hasStream(chOpts) && opts.version && live?.version !== undefined &&
      (opts.versionEpoch ?? '') === (live.versionEpoch ?? '') && opts.version <= live.version) {
      return { position, suppressed: true, suppressReason: 'version' }
    }
    if (opts.keyMode === 'if_new' && live) {
      if (opts.refreshTtlOnSuppress && chOpts.keyTtlMs > 0) live.expiresAt = now + chOpts.keyTtlMs
      return { position, suppressed: true, suppressReason: 'key_exists' }
    }
    if (opts.keyMode === 'if_exists' && !live) return { position, suppressed: true, suppressReason: 'key_not_found' }
    const pub: MapPublication = { key, data: opts.data }
    if (opts.info) pub.info = opts.info
    if (opts.tags && Object.keys(opts.tags).length) pub.tags = opts.tags
    const result = this.append(channel, ch, pub, chOpts, now)
    if (!existing) ch.sortedKeys = undefined
    ch.state.set(key, {
      pub, expiresAt: chOpts.keyTtlMs > 0 ? now + chOpts.keyTtlMs : 0,
      version: opts.version || undefined, versionEpoch: opts.version ? opts.versionEpoch ?? '' : undefined,
    })
    this.remember(channel, opts, result.position, now)
    this.handler?.handleMapPublication(channel, opts.useDelta && live ? { ...pub, prevData: live.pub.data } : pub, result.position)
    return result
  }

  async remove(channel: string, key: string, opts: MapRemoveOptions, chOpts: MapChannelOptions): Promise<MapUpdateResult> {
    const now = Date.now()
    const ch = this.channel(channel, now, chOpts)
    const seen = this.seen(channel, opts.idempotencyKey, now)
    if (seen) return { position: seen, suppressed: true, suppressReason: 'idempotency' }
    const existing = ch.state.get(key)
    if (!existing) return { position: { offset: ch.top, epoch: ch.epoch }, suppressed: true, suppressReason: 'key_not_found' }
    const result = this.removeNow(channel, ch, key, existing, chOpts, now)
    this.remember(channel, opts, result.position, now)
    return result
  }

  private removeNow(channel: string, ch: Channel, key: string, existing: Entry, chOpts: MapChannelOptions, now: number): MapUpdateResult {
    ch.state.delete(key)
    ch.sortedKeys = undefined
    const pub: MapPublication = { key, data: '', removed: true }
    if (existing.pub.tags) pub.tags = existing.pub.tags
    const result = this.append(channel, ch, pub, chOpts, now)
    this.handler?.handleMapPublication(channel, pub, result.position)
    return result
  }

  /** Gives the change its offset in stream modes; ephemeral changes have none. */
  private append(_channel: string, ch: Channel, pub: MapPublication, chOpts: MapChannelOptions, now: number): MapUpdateResult {
    if (hasStream(chOpts)) {
      ch.top += 1
      pub.offset = ch.top
      ch.stream.push({ pub, expiresAt: now + chOpts.streamTtlMs })
      if (ch.stream.length > chOpts.streamSize) ch.stream.splice(0, ch.stream.length - chOpts.streamSize)
    }
    return { position: { offset: ch.top, epoch: ch.epoch }, suppressed: false }
  }

  async readState(channel: string, opts: { cursor?: string; limit: number; revision?: StreamPosition }, chOpts: MapChannelOptions): Promise<MapStateResult> {
    const now = Date.now()
    const ch = this.channel(channel, now, chOpts)
    const position = { offset: ch.top, epoch: ch.epoch }
    if (opts.revision && opts.revision.epoch !== ch.epoch) throw new UnrecoverablePositionError()
    if (opts.limit === 0) return { publications: [], position, cursor: '' }
    const keys = (ch.sortedKeys ??= [...ch.state.keys()].sort())
    let i = opts.cursor ? firstAfter(keys, opts.cursor) : 0
    const page: MapPublication[] = []
    let last = ''
    for (; i < keys.length && (opts.limit < 0 || page.length < opts.limit); i++) {
      const e = ch.state.get(keys[i]!)!
      // An expired key waits for the sweep's removal; it is no longer state.
      if (e.expiresAt !== 0 && e.expiresAt <= now) continue
      page.push(e.pub)
      last = keys[i]!
    }
    return { publications: page, position, cursor: i < keys.length ? last : '' }
  }

  async readStream(channel: string, opts: { since?: StreamPosition; limit: number }, chOpts: MapChannelOptions): Promise<MapStreamResult> {
    const now = Date.now()
    const ch = this.channel(channel, now, chOpts)
    const position = { offset: ch.top, epoch: ch.epoch }
    const since = opts.since
    if (since?.epoch && since.epoch !== ch.epoch) throw new UnrecoverablePositionError()
    if (opts.limit === 0) return { publications: [], position }
    if (since && since.offset > ch.top) throw new UnrecoverablePositionError()
    if (since && since.offset === ch.top) return { publications: [], position }
    let pubs = ch.stream.filter((i) => i.expiresAt > now).map((i) => i.pub)
    if (since) {
      pubs = pubs.filter((p) => p.offset! > since.offset)
      // The next change after `since` is no longer kept: the client cannot catch up from the stream.
      if (pubs.length === 0 || pubs[0]!.offset !== since.offset + 1) throw new UnrecoverablePositionError()
    }
    if (opts.limit > 0) pubs = pubs.slice(0, opts.limit)
    return { publications: pubs, position }
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    this.handler = undefined
  }

  /** The channel, created with a new epoch when missing or when its meta expired; each use extends the meta TTL. */
  private channel(name: string, now: number, chOpts: MapChannelOptions): Channel {
    let ch = this.channels.get(name)
    if (!ch || ch.metaExpiresAt <= now) {
      ch = { epoch: newEpoch(), top: 0, state: new Map(), stream: [], metaExpiresAt: Infinity }
      this.channels.set(name, ch)
    }
    ch.chOpts = chOpts
    ch.metaExpiresAt = chOpts.metaTtlMs > 0 ? now + chOpts.metaTtlMs : Infinity
    return ch
  }

  private seen(channel: string, idempotencyKey: string | undefined, now: number): StreamPosition | undefined {
    if (!idempotencyKey) return undefined
    const r = this.results.get(`${channel}\0${idempotencyKey}`)
    return r && r.expiresAt > now ? r.position : undefined
  }

  private remember(channel: string, opts: { idempotencyKey?: string; idempotentResultTtlMs?: number }, position: StreamPosition, now: number): void {
    if (!opts.idempotencyKey) return
    this.results.set(`${channel}\0${opts.idempotencyKey}`, { position, expiresAt: now + (opts.idempotentResultTtlMs ?? DEFAULT_MAP_IDEMPOTENT_RESULT_TTL_MS) })
  }

  /** Removes expired keys, publishing each removal; forgets channels whose meta expired and whose state is empty. */
  private expire(): void {
    const now = Date.now()
    for (const [name, ch] of this.channels) {
      for (const [key, entry] of ch.state) {
        if (entry.expiresAt !== 0 && entry.expiresAt <= now && ch.chOpts) this.removeNow(name, ch, key, entry, ch.chOpts, now)
      }
      if (ch.metaExpiresAt <= now) this.channels.delete(name)
    }
    for (const [key, r] of this.results) if (r.expiresAt <= now) this.results.delete(key)
  }
}

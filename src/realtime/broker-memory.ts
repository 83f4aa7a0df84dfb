/** The single-process broker: history in memory, traffic handed straight to this node's handler. */
import type { ClientInfo, StreamPosition } from '../protocol/types.js'
import {
  DEFAULT_IDEMPOTENT_RESULT_TTL_MS,
  type Broker, type BrokerEventHandler, type BrokerPublication, type ControlMessage, type HistoryOptions, type HistoryResult, type PublishOptions,
} from './broker.js'
import { newEpoch } from './epoch.js'

/**
 * Kept compact, because a node keeps up to historySize publications per channel for an hour and an idempotent result
 * per publish for five minutes: every object kept is one more for each mark-compact to visit, and at thousands of
 * publications a second those visits were the delivery stalls (1.9 million heap objects after 70 s at 2,342
 * messages/s). So kept publications are their data, 64 to a string (DataLog), a result is its key (a number when the
 * key is an integer, as the domain's are), and offsets and expiry times are numbers in arrays, which V8 keeps unboxed.
 */
interface Stream {
  epoch: string
  top: number
  /** History, oldest first: the data of publications `top - data.length + 1` … `top` (offsets have no gaps). */
  data: DataLog
  /** When each of `data` leaves history (ms), ascending while the channel's TTL stays the same. */
  expiries: number[]
  /** info and tags, by offset, of the publications in history that have them (most have none). */
  extras?: Map<number, Pick<BrokerPublication, 'info' | 'tags'>>
  /** When the epoch and top are forgotten if nothing is published. */
  metaExpiresAt: number
  /** The last versioned publication's `version` and `versionEpoch` (PublishOptions.version). */
  version?: number
  versionEpoch?: string
}

/** One channel's idempotent results, oldest first: key → offset (-1: published without a position). */
interface ChannelResults {
  /** The epoch of the results, but those in `olderEpochs` (made before the stream started over). */
  epoch: string
  olderEpochs?: Map<ResultKey, string>
  offsets: Map<ResultKey, number>
  keys: ResultKey[]
  expiries: number[]
}

/** An idempotency key as kept: a canonical integer (the domain's outbox ids) as a number, no string kept; else the string. */
type ResultKey = string | number
const INTEGER_KEY = /^(?:0|[1-9]\d{0,14})$/
const resultKeyOf = (key: string): ResultKey => (INTEGER_KEY.test(key) ? Number(key) : key)

/**
 * `s` flattened: JSON.stringify and `+` leave long strings as trees of parts, which every mark-compact walks part by
 * part as long as the string is kept (300,000 kept envelopes: 79 ms against 17 ms flat). Converting a string to a
 * number flattens it in place (the `flatstr` idiom); the next GC then keeps only the flat copy.
 */
function flattened(s: string): string {
  Number(s)
  return s
}

/** Publications per chunk of a DataLog. */
const CHUNK = 64

/**
 * The data of a stream's history. Publications are kept one by one (flattened) until CHUNK of them are joined into
 * one string, with where each ends: a busy channel's 1,000 publications are then ~32 heap objects, not 1,000.
 */
class DataLog {
  /** Full chunks, oldest first; the first `skip` publications of the first one have left history. */
  private sealed: Array<{ text: string; ends: number[] }> = []
  private skip = 0
  /** The newest publications, fewer than CHUNK. */
  private open: string[] = []
  length = 0

  push(data: string): void {
    this.open.push(flattened(data))
    this.length++
    if (this.open.length < CHUNK) return
    const ends: number[] = []
    let end = 0
    for (const d of this.open) ends.push((end += d.length))
    this.sealed.push({ text: this.open.join(''), ends })
    this.open = []
  }

  /** The data of the `i`-th kept publication, oldest first. */
  at(i: number): string {
    const j = i + this.skip
    const c = Math.floor(j / CHUNK)
    if (c >= this.sealed.length) return this.open[j - this.sealed.length * CHUNK]!
    const { text, ends } = this.sealed[c]!
    const w = j - c * CHUNK
    return text.slice(w === 0 ? 0 : ends[w - 1], ends[w])
  }

  /** Forgets the `count` oldest publications. */
  drop(count: number): void {
    this.length -= count
    let skip = this.skip + count
    const chunks = Math.min(Math.floor(skip / CHUNK), this.sealed.length)
    dropFirst(this.sealed, chunks)
    skip -= chunks * CHUNK
    if (this.sealed.length === 0) {
      dropFirst(this.open, skip)
      skip = 0
    }
    this.skip = skip
  }
}

export class MemoryBroker implements Broker {
  private handler?: BrokerEventHandler
  private readonly streams = new Map<string, Stream>()
  private readonly results = new Map<string, ChannelResults>()
  private sweepTimer?: NodeJS.Timeout

  async run(handler: BrokerEventHandler): Promise<void> {
    this.handler = handler
    // Forget expired streams now and then so that memory follows live channels only.
    this.sweepTimer = setInterval(() => this.sweep(), 60_000)
    this.sweepTimer.unref()
  }

  async subscribe(): Promise<void> {}
  async unsubscribe(): Promise<void> {}

  async publish(channel: string, pub: BrokerPublication, opts: PublishOptions): Promise<StreamPosition | null> {
    if (opts.idempotencyKey === undefined) return this.publishNow(channel, pub, opts)
    const now = Date.now()
    const key = resultKeyOf(opts.idempotencyKey)
    let results = this.results.get(channel)
    if (results) expireResults(results, now)
    const seen = results?.offsets.get(key)
    if (results && seen !== undefined) return seen < 0 ? null : { offset: seen, epoch: results.olderEpochs?.get(key) ?? results.epoch }
    const position = this.publishNow(channel, pub, opts)
    if (!results) this.results.set(channel, (results = { epoch: position?.epoch ?? '', offsets: new Map(), keys: [], expiries: [] }))
    if (position && position.epoch !== results.epoch) {
      // The stream started over: what was kept before still answers with its own epoch, as a Redis result key does.
      for (const kept of results.keys) if (!results.olderEpochs?.has(kept)) (results.olderEpochs ??= new Map()).set(kept, results.epoch)
      results.epoch = position.epoch
    }
    results.offsets.set(key, position?.offset ?? -1)
    results.keys.push(key)
    results.expiries.push(now + (opts.idempotentResultTtlMs ?? DEFAULT_IDEMPOTENT_RESULT_TTL_MS))
    return position
  }

  private publishNow(channel: string, pub: BrokerPublication, opts: PublishOptions): StreamPosition | null {
    if (opts.historySize <= 0) {
      this.handler?.handlePublication(channel, pub, null)
      return null
    }
    const now = Date.now()
    const stream = this.stream(channel, now, opts.historyMetaTtlMs)
    if (opts.version) {
      // centrifuge's historyHub.add: an out-of-order version of the same epoch is dropped.
      if (stream.version !== undefined && (!opts.versionEpoch || opts.versionEpoch === stream.versionEpoch) && opts.version <= stream.version) {
        return { offset: stream.top, epoch: stream.epoch }
      }
      stream.version = opts.version
      stream.versionEpoch = opts.versionEpoch ?? ''
    }
    const n = stream.data.length
    const prev = opts.useDelta && n > 0 && stream.expiries[n - 1]! > now ? publicationAt(stream, n - 1) : undefined
    stream.top += 1
    const stored: BrokerPublication = { data: pub.data, offset: stream.top, info: pub.info, tags: pub.tags }
    stream.data.push(pub.data)
    stream.expiries.push(now + opts.historyTtlMs)
    if (pub.info !== undefined || pub.tags !== undefined) (stream.extras ??= new Map()).set(stream.top, { info: pub.info, tags: pub.tags })
    if (stream.data.length > opts.historySize) dropOldest(stream, stream.data.length - opts.historySize)
    const position = { offset: stream.top, epoch: stream.epoch }
    this.handler?.handlePublication(channel, stored, position, prev)
    return position
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    this.handler?.handleJoin(channel, info)
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    this.handler?.handleLeave(channel, info)
  }

  async publishControl(message: ControlMessage): Promise<void> {
    this.handler?.handleControl(message)
  }

  async history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    const now = Date.now()
    const stream = this.stream(channel, now, opts.historyMetaTtlMs)
    const position = { offset: stream.top, epoch: stream.epoch }
    if (opts.limit === 0) return { publications: [], position }
    let live: BrokerPublication[] = []
    for (let i = 0; i < stream.data.length; i++) if (stream.expiries[i]! > now) live.push(publicationAt(stream, i))
    if (opts.since) {
      const after = opts.since.offset
      live = opts.reverse ? live.filter((p) => p.offset! < after) : live.filter((p) => p.offset! > after)
    }
    if (opts.reverse) live.reverse()
    if (opts.limit > 0) live = live.slice(0, opts.limit)
    return { publications: live, position }
  }

  async removeHistory(channel: string): Promise<void> {
    const stream = this.streams.get(channel)
    if (stream) dropOldest(stream, stream.data.length)
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer)
    this.handler = undefined
  }

  /** The channel's stream, created with a new epoch when missing or expired; each use extends its meta TTL (0: never expires), as in Redis. */
  private stream(channel: string, now: number, metaTtlMs: number): Stream {
    let stream = this.streams.get(channel)
    if (!stream || stream.metaExpiresAt <= now) {
      stream = { epoch: newEpoch(), top: 0, data: new DataLog(), expiries: [], metaExpiresAt: 0 }
      this.streams.set(channel, stream)
    }
    stream.metaExpiresAt = metaTtlMs > 0 ? now + metaTtlMs : Infinity
    return stream
  }

  private sweep(): void {
    const now = Date.now()
    for (const [channel, stream] of this.streams) {
      if (stream.metaExpiresAt <= now) {
        this.streams.delete(channel)
        continue
      }
      let expired = 0
      while (expired < stream.expiries.length && stream.expiries[expired]! <= now) expired++
      if (expired > 0) dropOldest(stream, expired)
    }
    for (const [channel, results] of this.results) {
      expireResults(results, now)
      if (results.keys.length === 0) this.results.delete(channel)
    }
  }
}

/** The publication at index `i` of the stream's history. */
function publicationAt(stream: Stream, i: number): BrokerPublication {
  const offset = stream.top - (stream.data.length - 1 - i)
  const extra = stream.extras?.get(offset)
  return { data: stream.data.at(i), offset, info: extra?.info, tags: extra?.tags }
}

/** Drops the `count` oldest publications of the stream's history. */
function dropOldest(stream: Stream, count: number): void {
  const first = stream.top - stream.data.length + 1
  stream.data.drop(count)
  dropFirst(stream.expiries, count)
  if (stream.extras) {
    for (let offset = first; offset < first + count; offset++) stream.extras.delete(offset)
    if (stream.extras.size === 0) stream.extras = undefined
  }
}

/** Forgets the channel's results that expired (the oldest first; a longer TTL before a shorter one holds the latter back). */
function expireResults(results: ChannelResults, now: number): void {
  let expired = 0
  while (expired < results.expiries.length && results.expiries[expired]! <= now) {
    const key = results.keys[expired++]!
    results.offsets.delete(key)
    results.olderEpochs?.delete(key)
  }
  if (expired === 0) return
  if (results.olderEpochs?.size === 0) results.olderEpochs = undefined
  dropFirst(results.keys, expired)
  dropFirst(results.expiries, expired)
}

/** Removes the first `count` items. shift() is O(1) on V8's arrays (left-trimming); splice(0, 1) moved them all, ~4 µs at 1000. */
function dropFirst(items: unknown[], count: number): void {
  if (count === 1) items.shift()
  else if (count > 1) items.splice(0, count)
}

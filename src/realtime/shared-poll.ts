/**
 * Shared poll subscriptions (centrifuge `shared_poll.go`, `client_keyed.go`, `client_shared_poll.go`; Centrifugo's
 * `OnTrack` and `shared_poll_refresh` proxy). A connection subscribes with `type: 4`, then tracks keys with signed
 * batches (`sub_refresh` type 1) and untracks them (type 2). Each channel with tracked keys on this node has one
 * poller that asks the namespace's refresh proxy for the tracked keys in batches every `refresh_interval` and fans
 * out the changed items to the connections tracking them, each getting only versions newer than it holds.
 *
 * Several nodes: each node polls the keys its own connections track (as Centrifugo OSS without `publish_enabled`);
 * no state is shared, so a connection that moves to another node re-tracks there, and the backend is asked once
 * per node per channel per interval.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Logger } from 'pino'
import type { Codec, EncodedMessage } from '../protocol/codec.js'
import { Errors, SubscriptionType, UnsubscribeCode } from '../protocol/codes.js'
import type { Publication, SubRefreshRequest, SubRefreshResult } from '../protocol/types.js'
import type { SharedPollNamespaceOptions } from './channel-rules.js'
import { namespaceOf, type RealtimeConfig } from './config.js'
import { callProxy, valueOf } from './proxy/http.js'
import type { ProxyConfig, ProxyEndpoint } from './proxy/config.js'

/** `sub_refresh.type` of a shared poll track and untrack (centrifuge `typeTrack`, `typeUntrack`). */
export const SubRefreshType = { Track: 1, Untrack: 2 } as const

/** Centrifugo accepts a track signature this long after its expiry (`gracePeriodSeconds`). */
const SIGNATURE_GRACE_SEC = 5
/** centrifuge's defaults for a namespace `shared_poll` block that leaves them out. */
const DEFAULTS = { refreshIntervalMs: 10_000, refreshBatchSize: 1000, maxKeysPerConnection: 5000, channelShutdownDelayMs: 1000, trackExpiredExtraDelayMs: 25_000 }
/** Versionless epochs are 8 characters, as centrifuge's `epoch.Generate`. */
const newEpoch = (): string => randomBytes(6).toString('base64url').slice(0, 8)

/** What a shared poll session needs of its connection. */
export interface SharedPollClient {
  readonly id: string
  readonly user: string | undefined
  readonly codec: Codec
  enqueue(message: EncodedMessage): void
}

/** One item of a refresh proxy answer (Centrifugo's `SharedPollRefreshResultItem`, HTTP JSON form). */
interface RefreshItem {
  key?: string
  data?: unknown
  b64data?: string
  version?: number | string
  removed?: boolean
}

interface Entry {
  /** Last version from the backend, or the synthetic one (versionless). */
  version: number
  /** Versionless: the JSON text of the last data, to see a change. */
  dataText?: string
  /** A subscriber joined holding no version: the next poll asks for it from 0 and sends what it gets. */
  needsBroadcast: boolean
}

/** Per connection and key: the version it holds and when its track signature expires (unix seconds, 0: never). */
interface KeyState {
  version: number
  expireAt: number
}

/** One channel's poller on this node. */
class PollChannel {
  readonly entries = new Map<string, Entry>()
  /** Key → the sessions tracking it here. */
  readonly subscribers = new Map<string, Set<SharedPollSession>>()
  /** Versionless: the node's epoch; versioned: the publisher's, from the backend's answers ('' before one). */
  epoch = ''
  private timer?: NodeJS.Timeout
  private shutdownTimer?: NodeJS.Timeout
  private polling = false
  private readonly notified = new Set<string>()
  private notifyScheduled = false
  closed = false

  constructor(readonly name: string, readonly opts: Required<Omit<SharedPollNamespaceOptions, 'proxyName' | 'mode' | 'publishEnabled'>> & { versionless: boolean }, readonly proxy: ProxyEndpoint, private readonly owner: SharedPollNode) {}

  /** Registers a key; whether it is new here and the version the channel holds for it. */
  track(key: string): { isNew: boolean; version: number } {
    clearTimeout(this.shutdownTimer)
    this.shutdownTimer = undefined
    let entry = this.entries.get(key)
    const isNew = !entry
    if (!entry) this.entries.set(key, (entry = { version: 0, needsBroadcast: false }))
    if (!this.timer && !this.polling) this.schedule()
    return { isNew, version: entry.version }
  }

  addSubscriber(key: string, session: SharedPollSession): void {
    let set = this.subscribers.get(key)
    if (!set) this.subscribers.set(key, (set = new Set()))
    set.add(session)
  }

  /** Drops a session's interest in a key; the key goes when nobody here tracks it, the channel after its shutdown delay. */
  removeSubscriber(key: string, session: SharedPollSession): void {
    const set = this.subscribers.get(key)
    if (set) {
      set.delete(session)
      if (set.size > 0) return
      this.subscribers.delete(key)
    }
    this.entries.delete(key)
    if (this.entries.size === 0) this.scheduleShutdown()
  }

  /** Asks the backend for these keys now (a new key, or a key a subscriber joined without data). */
  notify(keys: string[], needsBroadcast: boolean): void {
    for (const key of keys) {
      const entry = this.entries.get(key)
      if (!entry) continue
      if (needsBroadcast) entry.needsBroadcast = true
      this.notified.add(key)
    }
    if (this.notifyScheduled || this.notified.size === 0) return
    this.notifyScheduled = true
    setImmediate(() => {
      this.notifyScheduled = false
      const keys = [...this.notified].filter((k) => this.entries.has(k))
      this.notified.clear()
      if (keys.length && !this.closed) void this.poll(keys)
    })
  }

  private schedule(): void {
    if (this.closed) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.cycle()
    }, this.opts.refreshIntervalMs)
    this.timer.unref()
  }

  private async cycle(): Promise<void> {
    if (this.closed || this.entries.size === 0) return
    this.polling = true
    try {
      this.expireTracks()
      await this.poll([...this.entries.keys()].sort())
    } finally {
      this.polling = false
      if (this.entries.size > 0) this.schedule()
    }
  }

  /** Silently drops keys whose track signature expired past `track_expired_extra_delay` (centrifuge `checkTrackExpiration`). */
  private expireTracks(): void {
    const deadline = Date.now() / 1000 - this.opts.trackExpiredExtraDelayMs / 1000
    const sessions = new Set<SharedPollSession>()
    for (const set of this.subscribers.values()) for (const s of set) sessions.add(s)
    for (const s of sessions) s.expire(this.name, deadline)
  }

  /**
   * Calls the refresh proxy for `keys` in batches of `refresh_batch_size`, one after another. A notified poll may run
   * beside the timer's: versions only move forward, so an answer that arrives late changes nothing.
   */
  private async poll(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length && !this.closed; i += this.opts.refreshBatchSize) {
      const chunk = keys.slice(i, i + this.opts.refreshBatchSize).filter((k) => this.entries.has(k))
      if (chunk.length === 0) continue
      // Versioned: the version held, so the backend may leave out what did not change; none (Go's omitempty 0) for a
      // key a subscriber needs whole. Versionless: keys only.
      const items = chunk.map((key) => {
        const e = this.entries.get(key)!
        const version = this.opts.versionless || e.needsBroadcast ? 0 : e.version
        return version > 0 ? { key, version } : { key }
      })
      let result: { items?: RefreshItem[]; epoch?: string } | undefined
      try {
        // The proxy's `timeout` bounds each call (Centrifugo's HTTP client timeout, 1 s unless set).
        result = await callProxy<{ items?: RefreshItem[]; epoch?: string }>(this.proxy, { channel: this.name, items }, undefined)
      } catch (err) {
        this.owner.log.warn({ err: (err as Error).message, channel: this.name }, 'shared poll refresh error')
        continue
      }
      if (this.closed) return
      // Whatever the backend answers, a poller never throws: a malformed answer is logged and the next cycle comes.
      if (result !== undefined && (typeof result !== 'object' || result === null || (result.items !== undefined && !Array.isArray(result.items)))) {
        this.owner.log.warn({ channel: this.name }, 'shared poll refresh: result.items is not a list')
        continue
      }
      try {
        this.apply(result?.items ?? [], typeof result?.epoch === 'string' ? result.epoch : '')
      } catch (err) {
        this.owner.log.warn({ err: (err as Error).message, channel: this.name }, 'shared poll refresh: bad answer')
      }
    }
  }

  /** centrifuge `applyRefreshResponse`: changed items go to the keys' subscribers, removed ones end the key. */
  private apply(items: RefreshItem[], respEpoch: string): void {
    if (!this.opts.versionless && respEpoch !== this.epoch) {
      // A publisher epoch flip: what subscribers hold is void; they resubscribe and track from 0.
      const hadEpoch = this.epoch !== ''
      this.epoch = respEpoch
      if (hadEpoch) {
        const sessions = new Set<SharedPollSession>()
        for (const set of this.subscribers.values()) for (const s of set) sessions.add(s)
        for (const e of this.entries.values()) Object.assign(e, { version: 0, needsBroadcast: false, dataText: undefined })
        for (const s of sessions) s.unsubscribeByServer(this.name, UnsubscribeCode.InsufficientState, 'insufficient state')
      }
    }
    for (const item of items) {
      if (typeof item?.key !== 'string') continue
      const entry = this.entries.get(item.key)
      if (!entry) continue
      if (item.removed) {
        this.broadcast(item.key, { key: item.key, removed: true } as Publication, 0)
        for (const s of this.subscribers.get(item.key) ?? []) s.dropKey(this.name, item.key)
        this.subscribers.delete(item.key)
        this.entries.delete(item.key)
        continue
      }
      const data = valueOf(item.data, item.b64data) ?? null
      const version = versionOf(item.version)
      if (this.opts.versionless && version === 0) {
        const text = JSON.stringify(data)
        if (entry.version > 0 && text === entry.dataText) {
          if (entry.needsBroadcast) {
            entry.needsBroadcast = false
            this.broadcast(item.key, { key: item.key, data, version: entry.version } as Publication, entry.version)
          }
          continue
        }
        entry.needsBroadcast = false
        entry.dataText = text
        entry.version = this.owner.nextVersion()
        this.broadcast(item.key, { key: item.key, data, version: entry.version } as Publication, entry.version)
        continue
      }
      if (version <= entry.version) {
        if (entry.needsBroadcast && entry.version > 0 && version === entry.version) {
          entry.needsBroadcast = false
          this.broadcast(item.key, { key: item.key, data, version } as Publication, version)
        }
        continue
      }
      entry.needsBroadcast = false
      entry.version = version
      this.broadcast(item.key, { key: item.key, data, version } as Publication, version)
    }
  }

  /** One encoding per codec; each subscriber gets it only if newer than the version it holds (0: a removal, to all). */
  private broadcast(key: string, pub: Publication, version: number): void {
    const subs = this.subscribers.get(key)
    if (!subs?.size) return
    const frames = new Map<Codec, EncodedMessage>()
    for (const s of subs) {
      if (!s.advance(this.name, key, version)) continue
      let frame = frames.get(s.codec)
      if (!frame) frames.set(s.codec, (frame = s.codec.encodePush({ channel: this.name, pub })))
      s.enqueue(frame)
    }
  }

  private scheduleShutdown(): void {
    clearTimeout(this.shutdownTimer)
    this.shutdownTimer = setTimeout(() => {
      if (this.entries.size === 0) this.close()
    }, this.opts.channelShutdownDelayMs)
    this.shutdownTimer.unref()
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    clearTimeout(this.shutdownTimer)
    this.owner.forget(this)
  }
}

/** This node's shared poll channels, and the track signature check. */
export class SharedPollNode {
  private readonly channels = new Map<string, PollChannel>()
  /**
   * Versionless channels all keep the node's epoch, and their synthetic versions come from one counter of the node:
   * a channel state made again after its shutdown never hands out a version a returning client already holds.
   */
  private readonly nodeEpoch = newEpoch()
  private versionCounter = 0

  constructor(private readonly config: RealtimeConfig, private readonly proxy: ProxyConfig | undefined, readonly log: Logger) {
    // A shared poll namespace naming a proxy that is not there stops the start, as in Centrifugo.
    for (const [name, ns] of Object.entries(config.namespaces)) {
      if (ns.subscriptionType !== 'shared_poll') continue
      const proxyName = ns.sharedPoll?.proxyName ?? 'default'
      if (!this.endpoint(proxyName)) throw new Error(`realtime.namespaces.${name}.sharedPoll.proxyName: no proxy named "${proxyName}" in proxy.named (Centrifugo's proxies[])`)
    }
  }

  private endpoint(name: string): ProxyEndpoint | undefined {
    return this.proxy?.named && Object.hasOwn(this.proxy.named, name) ? this.proxy.named[name] : undefined
  }

  /** The namespace's shared poll options, or undefined when the channel is not a shared poll channel. */
  options(channel: string): { poll: SharedPollNamespaceOptions; proxy: ProxyEndpoint } | undefined {
    const ns = namespaceOf(this.config, channel)
    if (ns.subscriptionType !== 'shared_poll') return undefined
    const poll = ns.sharedPoll ?? {}
    const proxy = this.endpoint(poll.proxyName ?? 'default')
    if (!proxy) return undefined
    return { poll, proxy }
  }

  /** The `epoch` of a subscribe reply: versionless channels' server epoch, versioned ones' publisher epoch ('' before one). */
  epoch(channel: string, poll: SharedPollNamespaceOptions): string {
    const pc = this.channels.get(channel)
    if (pc) return pc.epoch
    return isVersionless(poll) ? this.nodeEpoch : ''
  }

  channel(channel: string): PollChannel | undefined {
    const found = this.channels.get(channel)
    if (found && !found.closed) return found
    const o = this.options(channel)
    if (!o) return undefined
    const p = o.poll
    const pc = new PollChannel(channel, {
      refreshIntervalMs: positive(p.refreshIntervalMs, DEFAULTS.refreshIntervalMs),
      refreshBatchSize: positive(p.refreshBatchSize, DEFAULTS.refreshBatchSize),
      maxKeysPerConnection: positive(p.maxKeysPerConnection, DEFAULTS.maxKeysPerConnection),
      channelShutdownDelayMs: positive(p.channelShutdownDelayMs, DEFAULTS.channelShutdownDelayMs),
      trackExpiredExtraDelayMs: positive(p.trackExpiredExtraDelayMs, DEFAULTS.trackExpiredExtraDelayMs),
      versionless: isVersionless(p),
    }, o.proxy, this)
    if (pc.opts.versionless) pc.epoch = this.nodeEpoch
    this.channels.set(channel, pc)
    return pc
  }

  nextVersion(): number {
    return ++this.versionCounter
  }

  existing(channel: string): PollChannel | undefined {
    const pc = this.channels.get(channel)
    return pc && !pc.closed ? pc : undefined
  }

  forget(pc: PollChannel): void {
    if (this.channels.get(pc.name) === pc) this.channels.delete(pc.name)
  }

  /** Centrifugo's track signature: `iat:exp:hex(HMAC-SHA256(iat\0exp\0user\0channel\0hex(sha256(keys joined by \0))))`. */
  verifySignature(signature: string, channel: string, keys: string[], user: string): { ok: boolean; expiry: number } {
    const secret = this.config.sharedPollHmacSecret
    const parts = signature.split(':')
    if (!secret || parts.length !== 3) return { ok: false, expiry: 0 }
    const [iat, exp, mac] = parts
    const keysHash = createHash('sha256').update(keys.join('\x00')).digest('hex')
    const expected = createHmac('sha256', secret).update(`${iat}\x00${exp}\x00${user}\x00${channel}\x00${keysHash}`).digest('hex')
    const ok = mac.length === expected.length && timingSafeEqual(Buffer.from(mac), Buffer.from(expected))
    const expiry = /^-?\d+$/.test(exp) ? Number(exp) : 0
    return { ok, expiry }
  }

  /** The channels polled here now (metrics, tests). */
  get channelCount(): number {
    return this.channels.size
  }

  /** Whether this node polls the channel now. */
  isPolling(channel: string): boolean {
    return this.existing(channel) !== undefined
  }

  close(): void {
    for (const pc of [...this.channels.values()]) pc.close()
  }
}

/** A backend's uint64 version: a JSON number, or a decimal string as protojson writes one; anything else is 0. */
function versionOf(v: unknown): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : 0
}

function positive(v: number | undefined, dflt: number): number {
  return v !== undefined && v > 0 ? v : dflt
}

function isVersionless(p: SharedPollNamespaceOptions): boolean {
  return !p.mode || p.mode === 'versionless'
}

/** One connection's shared poll subscriptions and tracked keys (centrifuge `keyedState`). */
export class SharedPollSession {
  private readonly subs = new Map<string, Map<string, KeyState>>()

  constructor(private readonly client: SharedPollClient & { unsubscribeSharedPoll(channel: string, code: number, reason: string): void }, private readonly node: SharedPollNode) {}

  get codec(): Codec {
    return this.client.codec
  }

  get size(): number {
    return this.subs.size
  }

  has(channel: string): boolean {
    return this.subs.has(channel)
  }

  enqueue(frame: EncodedMessage): void {
    this.client.enqueue(frame)
  }

  /** A shared poll subscribe, after authorization: the reply (`type` 4, the epoch; delta is not negotiated). */
  subscribe(channel: string): { type: number; epoch?: string } {
    const o = this.node.options(channel)
    if (!o) throw Errors.notAvailable()
    if (this.subs.has(channel)) throw Errors.alreadySubscribed()
    this.subs.set(channel, new Map())
    const epoch = this.node.epoch(channel, o.poll)
    return epoch ? { type: SubscriptionType.SharedPoll, epoch } : { type: SubscriptionType.SharedPoll }
  }

  /** `sub_refresh` of type 1 (track) or 2 (untrack). */
  subRefresh(req: SubRefreshRequest): SubRefreshResult {
    const keys = this.subs.get(req.channel)
    if (!keys) throw Errors.permissionDenied()
    return req.type === SubRefreshType.Track ? this.track(req, keys) : this.untrack(req.channel, req.untrack ?? [], keys, true)
  }

  private track(req: SubRefreshRequest, keys: Map<string, KeyState>): SubRefreshResult {
    const channel = req.channel
    const batches = Array.isArray(req.track) ? req.track : []
    // Deduplicated, the last batch naming a key giving its version and expiry.
    const flat = new Map<string, { version: number; batch: number }>()
    batches.forEach((b, i) => {
      for (const it of Array.isArray(b?.items) ? b.items : []) {
        if (typeof it?.key !== 'string') throw Errors.badRequest()
        flat.set(it.key, { version: typeof it.version === 'number' && it.version > 0 ? it.version : 0, batch: i })
      }
    })
    if (flat.size === 0) throw Errors.badRequest()
    const o = this.node.options(channel)
    if (!o) throw Errors.notAvailable()
    const inlineUntrack = new Set(req.untrack ?? [])
    let count = keys.size
    for (const k of flat.keys()) if (!keys.has(k) && !inlineUntrack.has(k)) count++
    for (const k of inlineUntrack) if (keys.has(k)) count--
    if (count > positive(o.poll.maxKeysPerConnection, DEFAULTS.maxKeysPerConnection)) throw Errors.limitExceeded()
    // Every batch's signature must hold for its full key set (Centrifugo's OnTrack): invalid 103, expired 109.
    const now = Date.now() / 1000
    const expiries = batches.map((b) => {
      const { ok, expiry } = this.node.verifySignature(typeof b.signature === 'string' ? b.signature : '', channel, (b.items ?? []).map((it) => it.key), this.client.user ?? '')
      if (!ok) throw Errors.permissionDenied()
      if (expiry > 0 && expiry + SIGNATURE_GRACE_SEC < now) throw Errors.tokenExpired()
      return expiry
    })
    // Made only for a request that passed every check: a refused one leaves no poller behind.
    const pc = this.node.channel(channel)
    if (!pc) throw Errors.notAvailable()
    const cold: string[] = []
    const warm: string[] = []
    let minExpireAt = 0
    for (const [key, { version, batch }] of flat) {
      const held = pc.track(key)
      if (held.isNew && version === 0) cold.push(key)
      else if ((!held.isNew && version === 0) || held.version > version) warm.push(key)
      const expireAt = expiries[batch]
      keys.set(key, { version, expireAt })
      if (expireAt > 0 && (minExpireAt === 0 || expireAt < minExpireAt)) minExpireAt = expireAt
    }
    // Joined before the reply is queued, with no await in between: no poll answer can come between them.
    for (const key of flat.keys()) pc.addSubscriber(key, this)
    pc.notify(cold, false)
    pc.notify(warm, true)
    if (inlineUntrack.size) this.untrack(channel, [...inlineUntrack], keys, false)
    const result: SubRefreshResult = {}
    if (minExpireAt > 0) {
      result.expires = true
      const ttl = Math.floor(minExpireAt - Date.now() / 1000)
      if (ttl > 0) result.ttl = ttl
    }
    return result
  }

  private untrack(channel: string, untrack: string[], keys: Map<string, KeyState>, checked: boolean): SubRefreshResult {
    if (checked && (!Array.isArray(untrack) || untrack.length === 0)) throw Errors.badRequest()
    const pc = this.node.existing(channel)
    for (const key of untrack) {
      if (typeof key !== 'string' || !keys.delete(key)) continue
      pc?.removeSubscriber(key, this)
    }
    return {}
  }

  /** Whether a publication of `version` goes to this connection for the key; moves the version it holds (0: a removal). */
  advance(channel: string, key: string, version: number): boolean {
    const ks = this.subs.get(channel)?.get(key)
    if (!ks) return false
    if (version === 0) return true
    if (version <= ks.version) return false
    ks.version = version
    return true
  }

  /** The backend removed the key: the connection no longer tracks it. */
  dropKey(channel: string, key: string): void {
    this.subs.get(channel)?.delete(key)
  }

  /** Drops keys whose signature expired before `deadline` (unix seconds), without telling the client. */
  expire(channel: string, deadline: number): void {
    const keys = this.subs.get(channel)
    if (!keys) return
    const pc = this.node.existing(channel)
    for (const [key, ks] of keys) {
      if (ks.expireAt > 0 && ks.expireAt < deadline) {
        keys.delete(key)
        pc?.removeSubscriber(key, this)
      }
    }
  }

  unsubscribeByServer(channel: string, code: number, reason: string): void {
    this.unsubscribe(channel)
    this.client.unsubscribeSharedPoll(channel, code, reason)
  }

  /** Ends a subscription and its tracked keys; safe for a channel not subscribed. */
  unsubscribe(channel: string): void {
    const keys = this.subs.get(channel)
    if (!keys) return
    this.subs.delete(channel)
    const pc = this.node.existing(channel)
    for (const key of keys.keys()) pc?.removeSubscriber(key, this)
  }

  close(): void {
    for (const channel of [...this.subs.keys()]) this.unsubscribe(channel)
  }
}

/**
 * One connection's map subscriptions (centrifuge `client_map.go`): the SDK walks a state phase (pages of the keyed
 * state, phase 2), a stream phase (changes since the state's position, phase 1) and the live phase (0), where the
 * server subscribes the connection, reads what it still missed and answers; changes arriving meanwhile wait in
 * `pending` until that answer is written, so the client sees no gap and no duplicate.
 */
import { isUtf8 } from 'node:buffer'
import type { EncodedMessage } from '../protocol/codec.js'
import { Disconnects, Errors, SubscriptionType, UnsubscribeCode } from '../protocol/codes.js'
import type { ClientInfo, StreamPosition, SubscribeRequest, SubscribeResult } from '../protocol/types.js'
import { UnrecoverablePositionError, type MapPublication } from './map-broker.js'
import { mapPageSize, type SubscriptionTypeName } from './map-config.js'
import { dataForm, toMapPublication, type MapChannel, type MapNode, type MapSubscriber } from './map-node.js'
import { fossilDelta } from './delta.js'
import { placePublication } from './recovery.js'
import { filterError, matchesFilter, type FilterNode } from './tags-filter.js'

/** What a map session needs of its connection. */
export interface MapSessionClient {
  readonly id: string
  readonly user: string | undefined
  readonly codec: MapSubscriber['codec']
  clientInfo(): ClientInfo
  enqueue(message: EncodedMessage): void
}

const Phase = { Live: 0, Stream: 1, State: 2 } as const
/** `SubscribeResult.type` of a map subscription. */
const RESULT_TYPE_MAP = 1
const TYPE_NAMES: Record<number, SubscriptionTypeName> = {
  [SubscriptionType.Map]: 'map', [SubscriptionType.MapClients]: 'map_clients', [SubscriptionType.MapUsers]: 'map_users',
}

/** A subscribe between its first request and going live. */
interface CatchUp {
  mc: MapChannel
  startedAt: number
  /** The position of the first state page: later pages and the stream catch-up start from it. */
  epoch: string
  offset: number
  offsetCaptured: boolean
  /** The stream top when the stream phase began: within one page of it, the subscribe goes live. */
  streamStart?: number
  filter?: FilterNode
}

interface LiveSub {
  mc: MapChannel
  offset: number
  epoch: string
  /** Changes that arrived while the live answer was being prepared; delivered right after it. */
  pending: Array<{ pub: MapPublication; position: StreamPosition; frame: EncodedMessage }> | null
  filter?: FilterNode
  presenceChannel?: string
  /** The map users presence channel this subscription counts in (map-presence.ts). */
  usersPresenceChannel?: string
  /** The info its presence entry and join carry (namespace `presence` / `join_leave`); the leave repeats it. */
  joinedAs?: ClientInfo
  /** Fossil deltas negotiated: live changes come as deltas against each key's previous data. */
  delta: boolean
}

export class MapSession implements MapSubscriber {
  private readonly catchUps = new Map<string, CatchUp>()
  private readonly subs = new Map<string, LiveSub>()
  /** Channels with a phase request in flight: one at a time per channel (centrifuge's pagination lock). */
  private readonly busy = new Set<string>()
  private closed = false

  constructor(private readonly client: MapSessionClient, private readonly maps: MapNode) {}

  get codec() {
    return this.client.codec
  }

  wantsDelta(channel: string): boolean {
    return this.subs.get(channel)?.delta ?? false
  }

  /** Whether the request's `delta` is one the namespace allows (Centrifugo's `allowed_delta_types`). */
  private deltaAllowed(req: SubscribeRequest, mc: MapChannel): boolean {
    return !!req.delta && (mc.ns.allowedDeltaTypes as readonly string[] | undefined)?.includes(req.delta) === true
  }

  /** A next page of a subscribe under way (a state cursor, or the stream or live phase after it). */
  isContinuation(req: SubscribeRequest): boolean {
    return this.catchUps.has(req.channel) && (!!req.cursor || req.phase !== Phase.State)
  }

  /** True when the channel has a live map subscription. */
  has(channel: string): boolean {
    return this.subs.has(channel)
  }

  get size(): number {
    return this.subs.size
  }

  /**
   * A map subscribe request of any phase. `authorize` runs for the first request of a subscribe only (the
   * continuation of a catch-up was authorized with it); it throws to refuse.
   */
  async subscribe(req: SubscribeRequest, authorize: () => Promise<void>): Promise<SubscribeResult> {
    const channel = req.channel
    if ((req.phase !== undefined && !Number.isInteger(req.phase)) || (req.cursor !== undefined && typeof req.cursor !== 'string') ||
      (req.limit !== undefined && !Number.isInteger(req.limit))) throw Errors.badRequest()
    const mc = this.maps.channel(channel)
    // Centrifugo: a subscription type the namespace does not serve is 103.
    if (!mc || mc.type !== TYPE_NAMES[req.type ?? 0]) throw Errors.permissionDenied()
    if (this.subs.has(channel)) throw Errors.alreadySubscribed()
    if (this.busy.has(channel)) throw Errors.badRequest()
    this.busy.add(channel)
    try {
      const phase = req.phase ?? Phase.Live
      const catchUp = this.catchUps.get(channel)
      const continuation = catchUp && (req.cursor || phase !== Phase.State)
      if (req.cursor && !catchUp) throw Errors.permissionDenied()
      if (continuation) {
        if (Date.now() - catchUp.startedAt > (mc.map.subscribeCatchUpTimeoutMs ?? 5_000)) {
          this.catchUps.delete(channel)
          throw Disconnects.slow
        }
      } else {
        await authorize()
      }
      if (this.closed) return {}
      switch (phase) {
        case Phase.State: return await this.statePhase(req, mc)
        case Phase.Stream: return await this.streamPhase(req, mc)
        case Phase.Live: return await this.livePhase(req, mc)
        default: throw Errors.badRequest()
      }
    } catch (err) {
      if (err instanceof UnrecoverablePositionError) {
        this.catchUps.delete(channel)
        throw Errors.unrecoverablePosition()
      }
      this.catchUps.delete(channel)
      throw err
    } finally {
      this.busy.delete(channel)
    }
  }

  private filterOf(req: SubscribeRequest, mc: MapChannel): FilterNode | undefined {
    if (req.tf === undefined || req.tf === null) return undefined
    if (!mc.ns.allowTagsFilter || filterError(req.tf)) throw Errors.badRequest()
    return req.tf as FilterNode
  }

  private async statePhase(req: SubscribeRequest, mc: MapChannel): Promise<SubscribeResult> {
    const channel = req.channel
    let catchUp = this.catchUps.get(channel)
    if (!req.cursor || !catchUp) {
      // A fresh state request replaces a catch-up the client gave up on (it restarts after an epoch change).
      catchUp = { mc, startedAt: Date.now(), epoch: '', offset: 0, offsetCaptured: false, filter: this.filterOf(req, mc) }
      this.catchUps.set(channel, catchUp)
    }
    const limit = mapPageSize(req.limit, mc.map)
    const revision = (req.offset ?? 0) > 0 || req.epoch ? { offset: req.offset ?? 0, epoch: req.epoch ?? '' } : undefined
    const page = await this.maps.broker.readState(channel, { cursor: req.cursor || undefined, limit, revision }, mc.chOpts)
    if (!req.cursor) {
      catchUp.epoch = page.position.epoch
      catchUp.offset = page.position.offset
      catchUp.offsetCaptured = true
    }
    let pubs = page.publications
    // Entries changed after the first page come with the stream catch-up: not twice.
    if (revision) pubs = pubs.filter((p) => (p.offset ?? 0) <= revision.offset)
    if (catchUp.filter) pubs = pubs.filter((p) => matchesFilter(catchUp!.filter!, p.tags))
    const frozen = req.cursor && catchUp.offsetCaptured ? { offset: catchUp.offset, epoch: catchUp.epoch } : page.position
    if (page.cursor === '') {
      if (!mc.positioned) return this.goLive(req, mc, catchUp, { since: frozen, statePubs: pubs, recovery: false })
      const top = (await this.maps.broker.readStream(channel, { limit: 0 }, mc.chOpts)).position
      if (frozen.offset + limit >= top.offset) return this.goLive(req, mc, catchUp, { since: frozen, statePubs: pubs, recovery: false })
    }
    const result: SubscribeResult = { type: RESULT_TYPE_MAP, phase: Phase.State, epoch: page.position.epoch, offset: frozen.offset }
    if (page.cursor) result.cursor = page.cursor
    const form = dataForm(this.client.codec, this.deltaAllowed(req, mc))
    if (pubs.length) result.state = pubs.map((x) => toMapPublication(x, form))
    return result
  }

  private async streamPhase(req: SubscribeRequest, mc: MapChannel): Promise<SubscribeResult> {
    const channel = req.channel
    if (!mc.positioned) {
      this.catchUps.delete(channel)
      throw Errors.badRequest()
    }
    let catchUp = this.catchUps.get(channel)
    if (!catchUp) {
      // Only a recovering client may start with the stream phase (it has the state from before).
      if (!req.recover) throw Errors.permissionDenied()
      catchUp = { mc, startedAt: Date.now(), epoch: req.epoch ?? '', offset: req.offset ?? 0, offsetCaptured: false, filter: this.filterOf(req, mc) }
      this.catchUps.set(channel, catchUp)
    }
    if (req.epoch && catchUp.epoch && req.epoch !== catchUp.epoch) throw new UnrecoverablePositionError()
    if (catchUp.streamStart === undefined) catchUp.streamStart = (await this.maps.broker.readStream(channel, { limit: 0 }, mc.chOpts)).position.offset
    const limit = mapPageSize(req.limit, mc.map)
    const since = { offset: req.offset ?? 0, epoch: req.epoch ?? '' }
    if (since.offset + limit >= catchUp.streamStart) return this.goLive(req, mc, catchUp, { since, recovery: true })
    const page = await this.maps.broker.readStream(channel, { since, limit }, mc.chOpts)
    // The next page starts after the last change sent, not at the stream top (which may be further on).
    const offset = page.publications.length ? page.publications[page.publications.length - 1]!.offset! : since.offset
    let pubs = page.publications
    if (catchUp.filter) pubs = pubs.filter((p) => matchesFilter(catchUp!.filter!, p.tags))
    const result: SubscribeResult = { type: RESULT_TYPE_MAP, phase: Phase.Stream, epoch: page.position.epoch, offset }
    const form = dataForm(this.client.codec, this.deltaAllowed(req, mc))
    if (pubs.length) result.publications = pubs.map((x) => toMapPublication(x, form))
    return result
  }

  private async livePhase(req: SubscribeRequest, mc: MapChannel): Promise<SubscribeResult> {
    const catchUp = this.catchUps.get(req.channel)
    if (catchUp && req.epoch && catchUp.epoch && req.epoch !== catchUp.epoch) throw new UnrecoverablePositionError()
    return this.goLive(req, mc, catchUp, { since: { offset: req.offset ?? 0, epoch: req.epoch ?? '' }, recovery: true })
  }

  /**
   * Subscribes the connection, then reads the changes after `since` that it has not seen: anything published from
   * here on is either in that read or arrives live after it (offsets tell the two apart, in `releasePending`).
   */
  private async goLive(
    req: SubscribeRequest, mc: MapChannel, catchUp: CatchUp | undefined,
    p: { since: StreamPosition; statePubs?: MapPublication[]; recovery: boolean },
  ): Promise<SubscribeResult> {
    const channel = req.channel
    const filter = req.tf !== undefined && req.tf !== null ? this.filterOf(req, mc) : catchUp?.filter
    const delta = this.deltaAllowed(req, mc)
    const form = dataForm(this.client.codec, delta)
    const sub: LiveSub = { mc, offset: 0, epoch: '', pending: [], filter, delta }
    this.catchUps.delete(channel)
    this.subs.set(channel, sub)
    try {
      await this.maps.addSubscriber(channel, this)
    } catch (err) {
      this.subs.delete(channel)
      throw err
    }
    try {
      const result: SubscribeResult = { type: RESULT_TYPE_MAP }
      let position = p.since
      if (mc.positioned) {
        const max = mc.map.liveTransitionMaxPublicationLimit || mc.map.maxPageSize || 1000
        const read = await this.maps.broker.readStream(channel, { since: p.since, limit: max + 1 }, mc.chOpts)
        if ((p.recovery || p.since.epoch) && p.since.epoch !== read.position.epoch) throw new UnrecoverablePositionError()
        // Too far behind to catch up in one answer: the client starts again from the state.
        if (read.publications.length > max) throw new UnrecoverablePositionError()
        position = read.position
        const last = read.publications[read.publications.length - 1]?.offset ?? 0
        if (last > position.offset) position = { offset: last, epoch: position.epoch }
        const pubs = filter ? read.publications.filter((x) => matchesFilter(filter, x.tags)) : read.publications
        if (pubs.length) result.publications = delta ? this.recoveredWithDelta(pubs) : pubs.map((x) => toMapPublication(x, form))
        result.recoverable = true
      }
      sub.offset = position.offset
      sub.epoch = position.epoch
      result.epoch = position.epoch
      result.offset = position.offset
      if (p.statePubs?.length) result.state = p.statePubs.map((x) => toMapPublication(x, form))
      if (delta) result.delta = true
      if (p.recovery) {
        if (req.recover) {
          result.was_recovering = true
          result.recovered = true
        }
      }
      if (mc.ns.clientPublishDebounceIntervalMs) result.publish_debounce = mc.ns.clientPublishDebounceIntervalMs
      if (mc.ns.mapClientsPresenceChannelPrefix) {
        sub.presenceChannel = mc.ns.mapClientsPresenceChannelPrefix + channel
        await this.maps.addClientPresence(sub.presenceChannel, this.client.clientInfo())
      }
      if (mc.ns.mapUsersPresenceChannelPrefix && this.client.user) {
        sub.usersPresenceChannel = mc.ns.mapUsersPresenceChannelPrefix + channel
        await this.maps.keeper.addUser(sub.usersPresenceChannel, this.client.user, this.client.id)
      }
      if (mc.ns.presence || mc.ns.joinLeave) {
        sub.joinedAs = this.client.clientInfo()
        await this.maps.keeper.joined(channel, sub.joinedAs, mc.ns)
      }
      if (this.closed || this.subs.get(channel) !== sub) throw Errors.internal()
      return result
    } catch (err) {
      if (this.subs.get(channel) === sub) this.subs.delete(channel)
      await this.cleanup(channel, sub).catch(() => {})
      throw err
    }
  }

  /**
   * Recovered changes for a delta subscriber (centrifuge `makeRecoveredMapPubsDeltaFossil`): per key, the first
   * whole and each next one a delta against the one before it when smaller (and, over JSON, valid UTF-8).
   */
  private recoveredWithDelta(pubs: MapPublication[]) {
    const form = dataForm(this.client.codec, true)
    const last = new Map<string, string>()
    return pubs.map((pub) => {
      const out = toMapPublication(pub, form)
      const prev = last.get(pub.key)
      if (pub.removed) last.delete(pub.key)
      else last.set(pub.key, pub.data)
      if (prev === undefined || pub.removed || pub.data === '') return out
      const patch = fossilDelta(prev, pub.data)
      if (!patch || (!this.client.codec.binary && !isUtf8(patch))) return out
      out.data = this.client.codec.binary ? patch : patch.toString('utf8')
      out.delta = true
      return out
    })
  }

  /** Delivers what arrived while the live answer was being prepared (called once the answer is queued). */
  releasePending(channel: string): void {
    const sub = this.subs.get(channel)
    if (!sub?.pending) return
    const pending = sub.pending
    sub.pending = null
    for (const x of pending) this.deliverMap(channel, x.pub, x.position, x.frame)
  }

  /** A change of a subscribed channel: dropped when already sent, and a gap or new epoch resubscribes the client. */
  deliverMap(channel: string, pub: MapPublication, position: StreamPosition, frame: EncodedMessage): void {
    const sub = this.subs.get(channel)
    if (!sub) return
    if (sub.pending) return void sub.pending.push({ pub, position, frame })
    if (sub.mc.positioned && pub.offset) {
      const placement = placePublication(sub, pub.offset, position.epoch)
      if (placement === 'duplicate') return
      if (placement === 'lost') return this.lostPosition(channel)
      sub.offset = pub.offset
    }
    if (sub.filter && !matchesFilter(sub.filter, pub.tags)) return
    this.client.enqueue(frame)
  }

  deliverJoinLeave(channel: string, frame: EncodedMessage): void {
    // Before the subscribe answer the SDK would drop it.
    if (this.subs.get(channel)?.pending === null) this.client.enqueue(frame)
  }

  resync(channel: string): void {
    this.lostPosition(channel)
  }

  private lostPosition(channel: string): void {
    void this.unsubscribe(channel).catch(() => {})
    this.client.enqueue(this.client.codec.encodePush({ channel, unsubscribe: { code: UnsubscribeCode.InsufficientState, reason: 'insufficient state' } }))
  }

  /** Ends a map subscription or an unfinished catch-up; safe for a channel not subscribed. */
  async unsubscribe(channel: string): Promise<void> {
    this.catchUps.delete(channel)
    const sub = this.subs.get(channel)
    if (!sub) return
    this.subs.delete(channel)
    await this.cleanup(channel, sub)
  }

  private async cleanup(channel: string, sub: LiveSub): Promise<void> {
    await this.maps.removeSubscriber(channel, this)
    if (sub.presenceChannel) await this.maps.removeClientPresence(sub.presenceChannel, this.client.id)
    if (sub.usersPresenceChannel) this.maps.keeper.removeUser(sub.usersPresenceChannel, this.client.user ?? '', this.client.id)
    if (sub.joinedAs) await this.maps.keeper.left(channel, sub.joinedAs, sub.mc.ns)
    if (sub.mc.map.removeClientOnUnsubscribe) await this.maps.remove(channel, this.client.id)
  }

  /** A client's map publish or removal (`publish` with `type: 1`), with Centrifugo's permissions and `client_key`. */
  async publish(req: { channel: string; key?: string; data?: unknown; removed?: boolean }, insecure: boolean): Promise<unknown> {
    const mc = this.maps.channel(req.channel)
    if (!mc || (req.key !== undefined && typeof req.key !== 'string')) throw Errors.badRequest()
    const m = mc.map
    const user = this.client.user ?? ''
    const identified = user !== '' || (req.removed ? m.allowRemoveForAnonymous : m.allowPublishForAnonymous)
    const subscribed = this.subs.has(req.channel)
    const allowed = req.removed
      ? (m.allowRemoveForClient && identified) || (m.allowRemoveForSubscriber && subscribed && identified) || insecure
      : (m.allowPublishForClient && identified) || (m.allowPublishForSubscriber && subscribed && identified) || insecure
    if (!allowed) throw Errors.permissionDenied()
    let key = req.key ?? ''
    if (m.clientKey === 'client_id') key = this.client.id
    else if (m.clientKey === 'user_id') {
      if (user === '') throw Errors.permissionDenied()
      key = user
    }
    if (!key) throw Errors.badRequest()
    if (req.removed) {
      await this.maps.remove(req.channel, key)
      return {}
    }
    if (req.data === undefined) throw Errors.badRequest()
    await this.maps.publish(req.channel, key, { data: JSON.stringify(req.data), info: this.client.clientInfo() })
    return {}
  }

  /** The connection closed: every map subscription ends (presence entries removed). */
  async close(): Promise<void> {
    this.closed = true
    this.catchUps.clear()
    const subs = [...this.subs]
    this.subs.clear()
    await Promise.all(subs.map(([channel, sub]) => this.cleanup(channel, sub)))
  }
}

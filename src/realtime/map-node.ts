/**
 * Map subscriptions on this node (centrifuge `client_map.go`): which namespaces are maps, writes from the server API
 * and from clients, the local subscribers of each map channel and the fan-out of the map broker's changes to them,
 * and map client presence (`map_clients_presence_channel_prefix`); map users presence and the namespace's presence and
 * join/leave on map channels are kept by map-presence.ts. One `MapSession` per connection runs its subscribe phases
 * (map-session.ts).
 */
import { isUtf8 } from 'node:buffer'
import type { Logger } from 'pino'
import { jsonCodec, type Codec, type EncodedMessage } from '../protocol/codec.js'
import { Errors } from '../protocol/codes.js'
import type { ClientInfo, Publication, Push, StreamPosition } from '../protocol/types.js'
import { namespaceOf, type NamespaceOptions, type RealtimeConfig } from './config.js'
import type {
  MapBroker, MapBrokerEventHandler, MapChannelOptions, MapPublication, MapPublishOptions, MapRemoveOptions, MapUpdateResult,
} from './map-broker.js'
import { resolveMapChannelOptions, type MapNamespaceOptions, type SubscriptionTypeName } from './map-config.js'
import { fossilDelta } from './delta.js'
import { MapPresenceKeeper } from './map-presence.js'
import type { PresenceManager } from './presence.js'
import type { Broker } from './broker.js'

/** A map channel's options: its namespace, the namespace's `map` block and the storage options derived from it. */
export interface MapChannel {
  type: SubscriptionTypeName
  ns: NamespaceOptions
  map: MapNamespaceOptions
  chOpts: MapChannelOptions
  /** Changes have offsets and subscribers recover (recoverable and persistent modes). */
  positioned: boolean
}

/** A local subscriber of a map channel: gets each change with the frame already encoded for its codec. */
export interface MapSubscriber {
  readonly codec: Codec
  /** The subscription negotiated fossil deltas: its frames carry data as deltas or (JSON) as JSON strings. */
  wantsDelta(channel: string): boolean
  deliverMap(channel: string, pub: MapPublication, position: StreamPosition, frame: EncodedMessage): void
  /** A join or leave push of the channel (namespace `force_push_join_leave`), encoded for this subscriber's codec. */
  deliverJoinLeave(channel: string, frame: EncodedMessage): void
  /** The broker's fan-out was interrupted: changes may be missing, so the client must resubscribe (unsubscribe 2500). */
  resync(channel: string): void
}

/**
 * How a change's data travels: `value` the JSON value (JSON protocol), `string` its JSON text as a string (JSON
 * protocol with deltas: the SDK keeps the exact text as the delta base), `bytes` its JSON text as bytes (protobuf).
 */
export type DataForm = 'value' | 'string' | 'bytes'

export const dataForm = (codec: Codec, delta: boolean): DataForm => (codec.binary ? 'bytes' : delta ? 'string' : 'value')

const MAP_TYPES = new Set<SubscriptionTypeName>(['map', 'map_clients', 'map_users'])

/** A map change as it appears in a subscribe result, its data in the form the subscriber reads. */
export function toMapPublication(pub: MapPublication, form: DataForm = 'value'): Publication {
  const out = { key: pub.key } as Publication
  // An entry without data (a presence entry, a removal) has no `data`, except as a delta base, where it is `null`.
  if (pub.data !== '') out.data = form === 'value' ? JSON.parse(pub.data) : form === 'string' ? pub.data : Buffer.from(pub.data)
  else if (form === 'string') out.data = 'null'
  if (pub.offset) out.offset = pub.offset
  if (pub.removed) out.removed = true
  if (pub.info) out.info = pub.info
  if (pub.tags && Object.keys(pub.tags).length) out.tags = pub.tags
  return out
}

/**
 * A change as a publication push, encoded once per codec for all local subscribers. For delta subscribers (`delta`
 * given) the data is the fossil `patch` against the key's previous data when there is one that the codec can carry,
 * else whole (as a JSON string over JSON).
 */
export function encodeMapPush(codec: Codec, channel: string, pub: MapPublication, delta?: { patch: Buffer | null }): EncodedMessage {
  // The JSON SDK reads a delta back from a JSON string as UTF-8: a patch that is not valid UTF-8 goes whole.
  const patch = delta?.patch && (codec.binary || isUtf8(delta.patch)) ? delta.patch : null
  if (codec === jsonCodec) {
    let out = `{"push":{"channel":${JSON.stringify(channel)},"pub":{`
    const fields: string[] = []
    if (patch) fields.push(`"data":${JSON.stringify(patch.toString('utf8'))}`)
    else if (delta) fields.push(`"data":${JSON.stringify(pub.data === '' ? 'null' : pub.data)}`)
    else if (pub.data !== '') fields.push(`"data":${pub.data}`)
    if (pub.info) fields.push(`"info":${JSON.stringify(pub.info)}`)
    if (pub.offset) fields.push(`"offset":${pub.offset}`)
    if (pub.tags && Object.keys(pub.tags).length) fields.push(`"tags":${JSON.stringify(pub.tags)}`)
    if (patch) fields.push('"delta":true')
    fields.push(`"key":${JSON.stringify(pub.key)}`)
    if (pub.removed) fields.push('"removed":true')
    out += fields.join(',')
    return out + '}}}'
  }
  const wire: Record<string, unknown> = { key: pub.key }
  // Bytes pass to the protobuf codec unchanged: the publisher's JSON text is the payload.
  if (patch) {
    wire.data = patch
    wire.delta = true
  } else if (pub.data !== '') wire.data = Buffer.from(pub.data)
  if (pub.offset) wire.offset = pub.offset
  if (pub.removed) wire.removed = true
  if (pub.info) wire.info = pub.info
  if (pub.tags && Object.keys(pub.tags).length) wire.tags = pub.tags
  return codec.encodePush({ channel, pub: wire as unknown as Publication })
}

export interface MapNodeOptions {
  broker: MapBroker
  config: RealtimeConfig
  log: Logger
  /** The channels' ordinary presence, kept for map subscriptions in namespaces with `presence`. */
  presence?: PresenceManager
  /** Join/leave of map subscriptions in namespaces with `join_leave`; subscribed per channel to push them. */
  joinLeave?: Pick<Broker, 'publishJoin' | 'publishLeave' | 'subscribe' | 'unsubscribe'>
}

export class MapNode implements MapBrokerEventHandler {
  readonly broker: MapBroker
  private readonly config: RealtimeConfig
  private readonly log: Logger
  private readonly subscribers = new Map<string, Set<MapSubscriber>>()
  /** Map client presence entries this node keeps alive: presence channel → client id → info. */
  private readonly presence = new Map<string, Map<string, ClientInfo>>()
  private readonly joinLeave?: MapNodeOptions['joinLeave']
  private readonly resolved = new WeakMap<NamespaceOptions, MapChannel | null>()
  private presenceTimer?: NodeJS.Timeout
  /** Map users presence and the namespaces' presence and join/leave on map channels (map-presence.ts). */
  readonly keeper: MapPresenceKeeper

  constructor(opts: MapNodeOptions) {
    this.broker = opts.broker
    this.config = opts.config
    this.log = opts.log
    this.joinLeave = opts.joinLeave
    this.keeper = new MapPresenceKeeper({ maps: this, presence: opts.presence, joinLeave: opts.joinLeave, log: opts.log })
    // A contradictory map block stops the start, naming the namespace, instead of failing each subscribe.
    for (const [name, ns] of Object.entries(opts.config.namespaces)) {
      try {
        this.channel(`${name}:`)
      } catch (err) {
        throw new Error(`realtime.namespaces.${name}.map: ${(err as Error).message}`)
      }
      if (ns.mapClientsPresenceChannelPrefix && !this.channel(`${ns.mapClientsPresenceChannelPrefix}x`)) {
        throw new Error(`realtime.namespaces.${name}.mapClientsPresenceChannelPrefix: "${ns.mapClientsPresenceChannelPrefix}" is not in a map namespace`)
      }
      // As Centrifugo's config check: map users entries go only by key TTL, so a persistent map_users namespace is refused.
      if (ns.subscriptionType === 'map_users' && this.channel(`${name}:`)?.chOpts.mode === 'persistent') {
        throw new Error(`realtime.namespaces.${name}.map.mode: a map_users namespace needs expiring keys (ephemeral or recoverable), its entries are removed only by key TTL`)
      }
      // As Centrifugo's config check: the prefix must resolve to a `map_users` namespace.
      if (ns.mapUsersPresenceChannelPrefix && this.channel(`${ns.mapUsersPresenceChannelPrefix}x`)?.type !== 'map_users') {
        throw new Error(`realtime.namespaces.${name}.mapUsersPresenceChannelPrefix: "${ns.mapUsersPresenceChannelPrefix}" is not in a map_users namespace`)
      }
    }
  }

  async run(): Promise<void> {
    await this.broker.run(this)
    // Presence entries are re-added well within their key TTL, so only the entries of a dead node expire.
    this.presenceTimer = setInterval(() => void this.refreshPresence(), Math.max(100, this.config.presenceTtlMs / 3))
    this.presenceTimer.unref()
  }

  /** The channel's map options, or undefined when its namespace is not a map namespace. Throws 100 on a misconfigured one. */
  channel(channel: string): MapChannel | undefined {
    const ns = namespaceOf(this.config, channel)
    let mc = this.resolved.get(ns)
    if (mc === undefined) {
      mc = null
      if (ns.subscriptionType && MAP_TYPES.has(ns.subscriptionType)) {
        const map = ns.map ?? { mode: 'ephemeral', keyTtlMs: 60_000 }
        const chOpts = resolveMapChannelOptions(map)
        mc = { type: ns.subscriptionType, ns, map, chOpts, positioned: chOpts.mode !== 'ephemeral' }
      }
      this.resolved.set(ns, mc)
    }
    return mc ?? undefined
  }

  /** The map channel or error 107 (Centrifugo's answer to a map write on a namespace that is not a map). */
  private mapChannel(channel: string): MapChannel {
    const mc = this.channel(channel)
    if (!mc) throw Errors.badRequest()
    return mc
  }

  /** Sets a key (server API `map_publish`, client map publish); `data` is JSON text. */
  publish(channel: string, key: string, opts: MapPublishOptions): Promise<MapUpdateResult> {
    const mc = this.mapChannel(channel)
    if (!key) throw Errors.badRequest()
    if (!mc.positioned && opts.version) throw Errors.badRequest()
    const useDelta = opts.useDelta || mc.ns.deltaPublish
    return this.broker.publish(channel, key, useDelta ? { ...opts, useDelta } : opts, mc.chOpts)
  }

  /** Removes a key (server API `map_remove`, client map remove). */
  remove(channel: string, key: string, opts: MapRemoveOptions = {}): Promise<MapUpdateResult> {
    const mc = this.mapChannel(channel)
    if (!key) throw Errors.badRequest()
    return this.broker.remove(channel, key, opts, mc.chOpts)
  }

  // ---- local subscribers -------------------------------------------------------------------------

  /** Adds a local subscriber; subscribes the broker on the channel's first one (rolled back if that fails). */
  async addSubscriber(channel: string, sub: MapSubscriber): Promise<void> {
    let set = this.subscribers.get(channel)
    const first = !set
    if (!set) this.subscribers.set(channel, (set = new Set()))
    set.add(sub)
    if (!first) return
    const pushes = this.pushesJoinLeave(channel)
    try {
      await this.broker.subscribe(channel)
      if (pushes) await this.joinLeave!.subscribe(channel)
    } catch (err) {
      set.delete(sub)
      if (set.size === 0) this.subscribers.delete(channel)
      if (pushes) await this.broker.unsubscribe(channel).catch(() => {})
      throw err
    }
  }

  async removeSubscriber(channel: string, sub: MapSubscriber): Promise<void> {
    const set = this.subscribers.get(channel)
    if (!set?.delete(sub) || set.size > 0) return
    this.subscribers.delete(channel)
    await this.broker.unsubscribe(channel)
    if (this.pushesJoinLeave(channel)) await this.joinLeave!.unsubscribe(channel)
  }

  /**
   * Map subscribers get the channel's join/leave pushes when its namespace has `join_leave` and
   * `force_push_join_leave` (Centrifugo sets PushJoinLeave of a map subscription from the latter only). This node
   * then also subscribes the ordinary broker to the channel, which carries join/leave.
   */
  private pushesJoinLeave(channel: string): boolean {
    const ns = this.channel(channel)?.ns
    return !!(this.joinLeave && ns?.joinLeave && ns.forcePushJoinLeave)
  }

  /** A join or leave of a map channel from the ordinary broker (node.handleJoin / handleLeave). */
  handleJoinLeave(channel: string, push: Push): void {
    const set = this.subscribers.get(channel)
    if (!set || !this.pushesJoinLeave(channel)) return
    const frames = new Map<string, EncodedMessage>()
    for (const sub of set) {
      let frame = frames.get(sub.codec.name)
      if (frame === undefined) frames.set(sub.codec.name, (frame = sub.codec.encodePush(push)))
      sub.deliverJoinLeave(channel, frame)
    }
  }

  /** Local map subscribers per channel (server API `channels`). */
  channelCounts(): Record<string, { num_clients: number }> {
    const out: Record<string, { num_clients: number }> = {}
    for (const [channel, set] of this.subscribers) out[channel] = { num_clients: set.size }
    return out
  }

  handleMapPublication(channel: string, pub: MapPublication, position: StreamPosition): void {
    const set = this.subscribers.get(channel)
    if (!set) return
    const frames = new Map<string, EncodedMessage>()
    let delta: { patch: Buffer | null } | undefined
    for (const sub of set) {
      const wantsDelta = sub.wantsDelta(channel)
      const name = wantsDelta ? `${sub.codec.name}+delta` : sub.codec.name
      let frame = frames.get(name)
      if (frame === undefined) {
        // The patch is computed once per change, for the first delta subscriber.
        if (wantsDelta) delta ??= { patch: pub.prevData !== undefined && !pub.removed && pub.data !== '' ? fossilDelta(pub.prevData, pub.data) : null }
        frames.set(name, (frame = encodeMapPush(sub.codec, channel, pub, wantsDelta ? delta : undefined)))
      }
      sub.deliverMap(channel, pub, position, frame)
    }
  }

  // ---- map client presence -----------------------------------------------------------------------

  /** Adds the client to a presence map (key: its client id) unless it is there; refreshed until `removeClientPresence`. */
  async addClientPresence(presenceChannel: string, info: ClientInfo): Promise<void> {
    let entries = this.presence.get(presenceChannel)
    if (!entries) this.presence.set(presenceChannel, (entries = new Map()))
    entries.set(info.client, info)
    await this.publishPresence(presenceChannel, info)
  }

  async removeClientPresence(presenceChannel: string, client: string): Promise<void> {
    const entries = this.presence.get(presenceChannel)
    entries?.delete(client)
    if (entries?.size === 0) this.presence.delete(presenceChannel)
    if (!this.channel(presenceChannel)) return
    await this.remove(presenceChannel, client)
  }

  private async publishPresence(presenceChannel: string, info: ClientInfo): Promise<void> {
    // A prefix pointing at a namespace that is not `map_clients` is a configuration error: say so, once per write.
    if (!this.channel(presenceChannel)) return void this.log.warn({ channel: presenceChannel }, 'map clients presence channel is not in a map namespace')
    await this.publish(presenceChannel, info.client, { data: '', info, keyMode: 'if_new', refreshTtlOnSuppress: true })
  }

  private async refreshPresence(): Promise<void> {
    const writes: Array<Promise<void>> = []
    for (const [channel, entries] of this.presence) {
      for (const info of entries.values()) writes.push(this.publishPresence(channel, info).catch((err) => this.log.warn({ err }, 'map presence refresh failed')))
      if (writes.length >= 500) await Promise.all(writes.splice(0))
    }
    await Promise.all(writes)
    await this.keeper.refresh()
  }

  /**
   * The broker's subscriber connection came back (changes published meanwhile never reached this node): the local
   * subscribers of those channels resubscribe, with recovery where the channel has a stream and from the state otherwise.
   */
  handleMapSubscriptionsLost(channels: string[]): void {
    for (const channel of channels) for (const sub of [...(this.subscribers.get(channel) ?? [])]) sub.resync(channel)
  }

  async close(): Promise<void> {
    clearInterval(this.presenceTimer)
    await this.broker.close()
  }
}

/**
 * The gateway node: owns the hub, the broker and presence, publishes, fans broker traffic out to local
 * connections, and applies node-to-node control messages. Knows nothing of what the channels mean.
 */
import type { Logger } from 'pino'
import { encodePublicationPush, encodePush, jsonCodec, type Codec, type EncodedMessage } from '../protocol/codec.js'
import { Disconnect, Disconnects, Errors } from '../protocol/codes.js'
import type { ClientInfo, HistoryRequest, Push, StreamPosition } from '../protocol/types.js'
import type { Broker, BrokerEventHandler, BrokerPublication, ControlMessage } from './broker.js'
import { Client, toPublication, type PublicationFrames } from './client.js'
import type { ClientNode } from './client-node.js'
import { namespaceOf, type RealtimeConfig } from './config.js'
import { DeltaFrames } from './delta.js'
import type { RealtimeHooks, ServerSubscriptionOptions } from './hooks.js'
import { NodeRegistry, type NodeInfo } from './node-registry.js'
import { Surveys } from './survey.js'
import { Hub } from './hub.js'
import { tokenKeyOf } from './jwt.js'
import { checkNamespaceKnown } from './channel-rules.js'
import { GatewayLimits, type LimitStore } from './limits.js'
import type { MapBroker } from './map-broker.js'
import { MemoryMapBroker } from './map-broker-memory.js'
import { MapNode } from './map-node.js'
import type { ProxyConfig } from './proxy/config.js'
import { SharedPollNode } from './shared-poll.js'
import type { PresenceManager } from './presence.js'
import type { Transport, TransportInfo } from './transport.js'

export interface NodeOptions {
  config: RealtimeConfig
  broker: Broker
  presence: PresenceManager
  hooks?: RealtimeHooks
  log: Logger
  version?: string
  /** Where per-IP and per-user counts live; absent: this process. */
  limitStore?: LimitStore
  /** State, stream and fan-out of map subscriptions; absent: in this process (MemoryMapBroker). */
  mapBroker?: MapBroker
  /** The named proxies shared poll namespaces refresh through (`shared_poll.proxy_name`). */
  proxy?: ProxyConfig
}

export interface PublishOptions {
  skipHistory?: boolean
  /** A repeat with the same key within the broker's window publishes nothing (Centrifugo's `idempotency_key`). */
  idempotencyKey?: string
  tags?: Record<string, string>
  info?: ClientInfo
  /** Publish with delta (the server API's `delta`); the namespace's `deltaPublish` turns it on for every publication. */
  delta?: boolean
  /** Centrifugo's `version`/`version_epoch`: an out-of-order publication is dropped (broker.ts PublishOptions). */
  version?: number
  versionEpoch?: string
}

/** Plain counters read by the metrics endpoint; the hot path only increments numbers. */
export interface NodeStats {
  connects: number
  publications: number
  deliveries: number
  frames: number
  slowDisconnects: number
  errors: number
  /** Emulation requests this node received (applied here or passed on to the node holding the session). */
  emulationRequests: number
}

/**
 * Sees each publication once, never per subscriber (src/http/observability.ts times the delivery lag with it).
 * Called synchronously on the hot path: keep it cheap, and do not throw.
 */
export interface PublicationObserver {
  /** A publication made on this node to a channel with subscribers here, before the broker has it (a memory broker hands it back at once). */
  published(channel: string, pub: BrokerPublication): void
  /** A publication back from the broker (made on any node), its frames queued to this node's `subscribers` (0: none here). */
  fannedOut(channel: string, pub: BrokerPublication, subscribers: number): void
  /** Publications published and not yet fanned out here. */
  pending?(): number
}

/** The largest history page a client or the server API may ask for. */
const HISTORY_MAX_LIMIT = 1000

export class Node implements BrokerEventHandler, ClientNode {
  readonly hub = new Hub()
  readonly config: RealtimeConfig
  readonly broker: Broker
  readonly presenceManager: PresenceManager
  readonly hooks: RealtimeHooks
  readonly log: Logger
  readonly version: string
  readonly limits: GatewayLimits
  /** Map subscriptions: map namespaces, writes, local map subscribers. */
  readonly maps: MapNode
  /** The cluster's nodes for the server API's `info`. */
  readonly nodes: NodeRegistry
  /** Questions to every node (the server API's `channels`). */
  readonly surveys: Surveys
  /** Shared poll subscriptions: one poller per channel with keys tracked on this node. */
  readonly sharedPoll: SharedPollNode
  /** Imported once: importing the HMAC key for every verification was the largest cost of a JWT connect. */
  readonly hmacKey?: Promise<CryptoKey>
  /** Set by whoever measures the node (src/http/observability.ts); absent: no timing. */
  observeCommand?: (transport: string, method: string, startedAt: number) => void
  /** Set by whoever measures the node's publications (src/http/observability.ts); absent: no cost but one check. */
  observePublication?: PublicationObserver
  readonly stats: NodeStats = { connects: 0, publications: 0, deliveries: 0, frames: 0, slowDisconnects: 0, errors: 0, emulationRequests: 0 }
  private readonly dirty: Client[] = []
  private flushScheduled = false
  private pingTimer?: NodeJS.Timeout
  private pongTimer?: NodeJS.Timeout
  private presenceTimer?: NodeJS.Timeout
  private closing = false

  constructor(opts: NodeOptions) {
    this.config = opts.config
    this.broker = opts.broker
    this.presenceManager = opts.presence
    this.hooks = opts.hooks ?? {}
    this.log = opts.log
    this.version = opts.version ?? '0.1.0'
    this.limits = new GatewayLimits(opts.config, opts.limitStore)
    this.maps = new MapNode({ broker: opts.mapBroker ?? new MemoryMapBroker({ expireIntervalMs: opts.config.mapExpireIntervalMs }), config: opts.config, log: opts.log, presence: opts.presence, joinLeave: opts.broker })
    this.sharedPoll = new SharedPollNode(opts.config, opts.proxy, opts.log)
    this.nodes = new NodeRegistry({
      self: () => this.info(), publish: (info) => this.broker.publishControl({ type: 'node', info }),
      intervalMs: opts.config.nodeInfoIntervalMs, log: opts.log,
    })
    this.surveys = new Surveys({
      nodeId: opts.config.nodeId, otherNodes: () => this.nodes.list().slice(1).map((n) => n.uid),
      publish: (msg) => this.broker.publishControl(msg), answer: () => this.channels(), timeoutMs: opts.config.surveyTimeoutMs, log: opts.log,
    })
    // The HS256 secret or the public key of connection and subscription JWTs (jwt.ts).
    this.hmacKey = tokenKeyOf(opts.config)
  }

  async run(): Promise<void> {
    await this.broker.run(this)
    await this.maps.run()
    this.nodes.start()
    if (this.config.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => this.pingAll(), this.config.pingIntervalMs)
      this.pingTimer.unref()
    }
    // Presence entries are re-added well within their TTL, so only a dead node's clients expire.
    this.presenceTimer = setInterval(() => void this.refreshPresence(), Math.max(100, this.config.presenceTtlMs / 3))
    this.presenceTimer.unref()
  }

  /** A new socket. Returns the client so the transport can feed it frames and closes. */
  accept(transport: Transport, info: TransportInfo, codec: Codec = jsonCodec): Client {
    return new Client(this, transport, info, codec)
  }

  get isClosing(): boolean {
    return this.closing
  }

  // ---- publishing --------------------------------------------------------------------------

  /** Publishes `data` (any JSON value) to a channel; resolves with its stream position when the channel keeps history. */
  async publish(channel: string, data: unknown, opts: PublishOptions = {}): Promise<Partial<StreamPosition>> {
    return this.publishJson(channel, JSON.stringify(data), opts)
  }

  /** Like `publish` with data already serialised as JSON text. */
  async publishJson(channel: string, dataJson: string, opts: PublishOptions = {}): Promise<Partial<StreamPosition>> {
    checkNamespaceKnown(this.config, channel)
    const ns = namespaceOf(this.config, channel)
    const pub: BrokerPublication = { data: dataJson }
    if (opts.info) pub.info = opts.info
    if (opts.tags) pub.tags = opts.tags
    // Only a channel with subscribers here comes back to be fanned out on this node: over Redis, one without never would.
    if (this.hub.channels.has(channel)) this.observePublication?.published(channel, pub)
    const position = await this.broker.publish(channel, pub, {
      historySize: opts.skipHistory ? 0 : ns.historySize,
      historyTtlMs: ns.historyTtlMs,
      historyMetaTtlMs: ns.historyMetaTtlMs ?? this.config.historyMetaTtlMs,
      idempotencyKey: opts.idempotencyKey,
      useDelta: opts.delta === true || ns.deltaPublish,
      version: opts.version,
      versionEpoch: opts.versionEpoch,
    })
    this.stats.publications++
    return position ?? {}
  }

  // ---- broker traffic (every node, this one included) ---------------------------------------

  handlePublication(channel: string, pub: BrokerPublication, position: StreamPosition | null, prev?: BrokerPublication): void {
    const subscribers = this.hub.channels.get(channel)
    if (!subscribers) {
      this.observePublication?.fannedOut(channel, pub, 0)
      return
    }
    // Encoded once per channel: every subscriber gets the same bytes.
    const meta = { offset: position?.offset, info: pub.info, tags: pub.tags }
    const frame = Buffer.from(encodePublicationPush(channel, pub.data, meta))
    const offset = position?.offset ?? 0
    const epoch = position?.epoch
    // Other codecs (protobuf) encode lazily, once per channel, only when one of their clients subscribes.
    let other: OtherEncodings<Buffer> | undefined
    const plain = (codec: Codec) => codec === jsonCodec ? frame : encodedFor(other ??= new Map(), codec, (c) => c.encodePublicationPush(channel, pub.data, meta) as Buffer)
    // Delta subscribers share one whole and one delta frame per codec; deltas need positions (history), as in Centrifugo.
    let deltas: DeltaFrames | undefined
    const frames: PublicationFrames = {
      plain,
      delta: (codec) => (deltas ??= new DeltaFrames(channel, pub, meta, position ? prev : undefined, plain)).of(codec),
    }
    for (const client of subscribers) client.deliverPublication(channel, pub.tags, offset, epoch, frames)
    this.stats.deliveries += subscribers.size
    this.observePublication?.fannedOut(channel, pub, subscribers.size)
  }

  handleJoin(channel: string, info: ClientInfo): void {
    const push: Push = { channel, join: { info } }
    this.broadcastPush(channel, encodePush(push), push)
    this.maps.handleJoinLeave(channel, push)
  }

  handleLeave(channel: string, info: ClientInfo): void {
    const push: Push = { channel, leave: { info } }
    this.broadcastPush(channel, encodePush(push), push)
    this.maps.handleJoinLeave(channel, push)
  }

  private broadcastPush(channel: string, frame: string, push: Push): void {
    const subscribers = this.hub.channels.get(channel)
    if (!subscribers) return
    let other: OtherEncodings<EncodedMessage> | undefined
    for (const client of subscribers) {
      if (!client.pushesJoinLeave(channel)) continue
      client.enqueue(client.codec === jsonCodec ? frame : encodedFor(other ??= new Map(), client.codec, (c) => c.encodePush(push)))
    }
  }

  handleControl(msg: ControlMessage): void {
    if (msg.type === 'emulation') {
      if (msg.node === this.config.nodeId) this.hub.sessions.get(msg.session)?.handleFrame(msg.binary ? Buffer.from(msg.data, 'base64') : msg.data)
      return
    }
    if (msg.type === 'node') return this.nodes.handle(msg.info)
    if (msg.type === 'survey' || msg.type === 'survey_reply') return this.surveys.handle(msg)
    // Centrifugo's `session`: only the connection with that session id (emulated and unidirectional ones have one).
    const session = msg.type === 'message' ? undefined : msg.session
    const targets = this.hub.userClients(msg.user, msg.client).filter((c) => !session || c.session === session)
    for (const client of targets) {
      switch (msg.type) {
        case 'disconnect':
          if (!msg.except?.includes(client.id)) client.disconnect(new Disconnect(msg.code, msg.reason))
          break
        case 'subscribe':
          client.subscribeByServer(msg.channel, msg.data, msg.options).catch((err) => this.log.warn({ err }, 'server subscribe failed'))
          break
        case 'unsubscribe':
          client.unsubscribeByServer(msg.channel)
          break
        case 'refresh':
          if (msg.expired) client.disconnect(Disconnects.expired)
          else {
            if (msg.info !== undefined) client.updateInfo(msg.info)
            try {
              client.applyExpiry(msg.expireAt)
            } catch {
              client.disconnect(Disconnects.expired)
            }
          }
          break
        case 'message':
          // msg.data is JSON text: the protobuf codec sends it as those bytes.
          client.enqueue(client.codec === jsonCodec ? `{"push":{"message":{"data":${msg.data}}}}` : client.codec.encodePush({ message: { data: Buffer.from(msg.data) } }))
          break
      }
    }
  }

  // ---- user-level commands (all nodes) -----------------------------------------------------

  subscribeUser(user: string, channel: string, opts: { client?: string; session?: string; data?: unknown; options?: ServerSubscriptionOptions } = {}): Promise<void> {
    return this.broker.publishControl({ type: 'subscribe', user, channel, client: opts.client, session: opts.session, data: opts.data, options: opts.options })
  }

  unsubscribeUser(user: string, channel: string, opts: { client?: string; session?: string } = {}): Promise<void> {
    return this.broker.publishControl({ type: 'unsubscribe', user, channel, client: opts.client, session: opts.session })
  }

  /** Closes the user's connections on every node; each writes its queued pushes before the close frame. */
  disconnectUser(user: string, code: number, reason: string, opts: { client?: string; session?: string; except?: string[] } = {}): Promise<void> {
    return this.broker.publishControl({ type: 'disconnect', user, code, reason, client: opts.client, session: opts.session, except: opts.except })
  }

  refreshUser(user: string, opts: { client?: string; session?: string; expireAt?: number; expired?: boolean; info?: unknown }): Promise<void> {
    return this.broker.publishControl({ type: 'refresh', user, ...opts })
  }

  sendToUser(user: string, data: unknown, opts: { client?: string } = {}): Promise<void> {
    return this.broker.publishControl({ type: 'message', user, client: opts.client, data: JSON.stringify(data) })
  }

  /**
   * Commands from the emulation endpoint for a session: applied here when this node holds it, else passed on
   * through the broker to the node named in the request. False when this node was named and has no such session.
   */
  async emulate(req: { node: string; session: string; data: string | Buffer }): Promise<boolean> {
    this.stats.emulationRequests++
    if (req.node !== this.config.nodeId) {
      const { node, session, data } = req
      // Protobuf commands (a Buffer) cross the broker's JSON control channel as base64.
      await this.broker.publishControl(typeof data === 'string' ? { type: 'emulation', node, session, data } : { type: 'emulation', node, session, data: data.toString('base64'), binary: true })
      return true
    }
    const client = this.hub.sessions.get(req.session)
    client?.handleFrame(req.data)
    return client !== undefined
  }

  // ---- reads ---------------------------------------------------------------------------------

  presence(channel: string): Promise<Record<string, ClientInfo>> {
    if (!namespaceOf(this.config, channel).presence) throw Errors.notAvailable()
    return this.presenceManager.presence(channel)
  }

  presenceStats(channel: string) {
    if (!namespaceOf(this.config, channel).presence) throw Errors.notAvailable()
    return this.presenceManager.stats(channel)
  }

  /** A history page in protocol shape: `{ publications, epoch, offset }`. */
  async historyResult(channel: string, req: Omit<HistoryRequest, 'channel'>) {
    checkNamespaceKnown(this.config, channel)
    const ns = namespaceOf(this.config, channel)
    if (ns.historySize <= 0) throw Errors.notAvailable()
    const limit = req.limit === undefined || req.limit === null ? 0 : Math.min(req.limit < 0 ? HISTORY_MAX_LIMIT : req.limit, HISTORY_MAX_LIMIT)
    let since: StreamPosition | undefined
    if (req.since) since = { offset: req.since.offset ?? 0, epoch: req.since.epoch ?? '' }
    const h = await this.broker.history(channel, { since, limit, reverse: req.reverse, historyMetaTtlMs: ns.historyMetaTtlMs ?? this.config.historyMetaTtlMs })
    if (since?.epoch && since.epoch !== h.position.epoch) throw Errors.unrecoverablePosition()
    return { publications: h.publications.map(toPublication), epoch: h.position.epoch, offset: h.position.offset }
  }

  removeHistory(channel: string): Promise<void> {
    return this.broker.removeHistory(channel)
  }

  /** Channels with at least one subscriber on any node, with their subscriber counts summed over the nodes (Centrifugo's survey). */
  async clusterChannels(): Promise<Record<string, { num_clients: number }>> {
    const out: Record<string, { num_clients: number }> = {}
    for (const answer of (await this.surveys.ask('channels')).values()) {
      if (typeof answer !== 'object' || answer === null) continue
      for (const [channel, v] of Object.entries(answer as Record<string, { num_clients?: number }>)) {
        const n = typeof v?.num_clients === 'number' ? v.num_clients : 0
        out[channel] = { num_clients: (out[channel]?.num_clients ?? 0) + n }
      }
    }
    return out
  }

  /** Channels with at least one subscriber on this node, with their local subscriber counts. */
  channels(): Record<string, { num_clients: number }> {
    const out: Record<string, { num_clients: number }> = {}
    for (const [channel, set] of this.hub.channels) out[channel] = { num_clients: set.size }
    return Object.assign(out, this.maps.channelCounts())
  }

  info(): NodeInfo {
    return {
      uid: this.config.nodeId,
      name: this.config.nodeId,
      version: this.version,
      num_clients: this.hub.clients.size,
      num_users: this.hub.users.size,
      num_channels: this.hub.channels.size,
      num_subs: this.hub.numSubscriptions(),
      uptime: Math.round(process.uptime()),
    }
  }

  // ---- subscriber bookkeeping (called by clients) ------------------------------------------

  async addSubscriber(channel: string, client: Client): Promise<void> {
    if (!this.hub.addSubscriber(channel, client)) return
    try {
      await this.broker.subscribe(channel)
    } catch (err) {
      this.hub.removeSubscriber(channel, client)
      throw err
    }
  }

  async removeSubscriber(channel: string, client: Client): Promise<void> {
    if (this.hub.removeSubscriber(channel, client)) await this.broker.unsubscribe(channel)
  }

  addClient(client: Client, user: string): void {
    this.hub.addClient(client, user)
  }

  removeClient(client: Client): void {
    this.hub.removeClient(client, client.user)
  }

  // ---- writing and liveness ----------------------------------------------------------------

  /**
   * Clients with queued messages are flushed together once this event-loop turn's I/O callbacks have run
   * (setImmediate): what arrived in one poll (a publish loop, several POST /api/publish requests, a chunk
   * of Redis messages) goes out coalesced, one write per client.
   */
  scheduleFlush(client: Client): void {
    this.dirty.push(client)
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(this.flushAll)
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false
    const dirty = this.dirty.splice(0)
    for (const client of dirty) {
      try {
        client.flush()
      } catch (err) {
        // One broken socket must not stop the others' writes.
        this.log.warn({ err, client: client.id }, 'write failed')
        client.disconnect(Disconnects.writeError)
      }
    }
  }

  private pingAll(): void {
    for (const client of this.hub.clients.values()) client.ping()
    clearTimeout(this.pongTimer)
    this.pongTimer = setTimeout(() => this.checkPongs(), this.config.pongTimeoutMs)
    this.pongTimer.unref()
  }

  private checkPongs(): void {
    const deadline = Date.now() - this.config.pongTimeoutMs
    for (const client of this.hub.clients.values()) {
      if (client.pingSentAt && client.pingSentAt <= deadline) client.disconnect(Disconnects.noPong)
    }
  }

  private async refreshPresence(): Promise<void> {
    const adds: Array<Promise<void>> = []
    for (const [channel, set] of this.hub.channels) {
      if (!namespaceOf(this.config, channel).presence) continue
      for (const client of set) adds.push(this.presenceManager.add(channel, client.id, client.clientInfo()).catch(() => {}))
      // Bounded batches: a node with many clients does not flood the presence store at once.
      if (adds.length >= 500) await Promise.all(adds.splice(0))
    }
    await Promise.all(adds)
  }

  /** Closes every connection with 3001 shutdown (the SDK reconnects), then the broker and presence. */
  async shutdown(): Promise<void> {
    this.closing = true
    clearInterval(this.pingTimer)
    clearTimeout(this.pongTimer)
    clearInterval(this.presenceTimer)
    this.nodes.stop()
    for (const client of [...this.hub.clients.values()]) client.disconnect(Disconnects.shutdown)
    await this.broker.close()
    await this.maps.close()
    this.sharedPoll.close()
    await this.presenceManager.close()
    await this.limits.close()
  }
}

/** One fan-out's encodings for codecs other than JSON, by codec name. */
type OtherEncodings<T> = Map<string, T>

function encodedFor<T>(cache: OtherEncodings<T>, codec: Codec, encode: (codec: Codec) => T): T {
  let encoded = cache.get(codec.name)
  if (encoded === undefined) cache.set(codec.name, (encoded = encode(codec)))
  return encoded
}

/**
 * One connection's state machine: command dispatch in arrival order, subscriptions with recovery,
 * and the write queue that coalesces what is due into one frame.
 */
import { randomUUID } from 'node:crypto'
import { jsonCodec, type Codec, type DecodedCommand, type EncodedMessage } from '../protocol/codec.js'
import { Disconnect, Disconnects, Errors, PublishType, ReplyError, SubscribeFlag, SubscriptionType, UnsubscribeCode } from '../protocol/codes.js'
import type {
  ClientInfo, Command, CommandMethod, ConnectResult, HistoryRequest, Publication, SubscribeRecoveryRequest, SubscribeResult,
} from '../protocol/types.js'
import type { BrokerPublication } from './broker.js'
import { namespaceOf, type NamespaceOptions } from './config.js'
import { checkChannelName, isPrivateChannel, isUserLimitedChannel, namespaceAllows, userAllowed } from './channel-rules.js'
import { recoverCache, streamFlags, tagsFilterOf, visiblePublications } from './stream-options.js'
import { matchesFilter, type FilterNode } from './tags-filter.js'
import type { ChannelOperation, ConnectingReply, ConnectionContext, ServerSubscriptionOptions, SubscribeOverride, SubscribingReply } from './hooks.js'
import { withOverride } from './subscribe-override.js'
import { verifyConnectionToken, verifySubscriptionToken } from './jwt.js'
import type { CommandBudget } from './limits.js'
import { isDeltaType, recoveredWithDelta, type DeltaType } from './delta.js'
import type { ClientNode } from './client-node.js'
import { MapSession } from './map-session.js'
import { SharedPollSession, SubRefreshType } from './shared-poll.js'
import { isRecovered, placePublication } from './recovery.js'
import type { Transport, TransportInfo } from './transport.js'
import { WriteQueue } from './write-queue.js'

interface Subscription {
  serverSide: boolean
  /** Offsets are checked for gaps and duplicates; on for channels with history. */
  positioned: boolean
  offset: number
  epoch: string
  /** Pushes that arrived while the subscribe was being answered; flushed right after the reply. */
  pending: Array<{ frame: Buffer; offset: number; epoch?: string; delta?: Buffer }> | null
  /** The delta encoding this subscription uses (delta.ts), and whether the client holds a base for the next delta. */
  delta?: DeltaType
  deltaBase?: boolean
  expireTimer?: NodeJS.Timeout
  /** Refreshed by the gateway through `hooks.subRefresh` at its expiry (Centrifugo's sub_refresh proxy), not by the client. */
  refreshByServer?: boolean
  /** Presence and join/leave of this subscription, its namespace's unless overridden (Centrifugo's `override`). */
  presence?: boolean
  joinLeave?: boolean
  /** The subscriber's `chan_info`. */
  channelInfo?: unknown
  /** The subscriber's tags filter (`tf`): other publications only move its position. */
  tagsFilter?: FilterNode
  /** Join/leave pushes reach this subscription (stream-options.ts). */
  pushJoinLeave?: boolean
}

/** Placed for a publication the subscriber's tags filter drops: the position moves, nothing is written. */
const FILTERED_OUT = Buffer.alloc(0)

/** One publication's frames, built at most once per codec by the node and shared by its subscribers. */
export interface PublicationFrames {
  plain(codec: Codec): Buffer
  /** The whole frame and the delta against the channel's previous publication, for delta subscribers. */
  delta(codec: Codec): { whole: Buffer; delta: Buffer }
}

type State = 'connecting' | 'connected' | 'closed'

const MAX_TIMER_SEC = 2_000_000
/** The longest delay a Node timer holds (about 24.8 days); longer waits are re-armed in steps. */
const MAX_TIMEOUT_MS = 2_147_483_647

/** Publications as they appear in a result; data is parsed back from the broker's raw JSON. */
export function toPublication(pub: BrokerPublication): Publication {
  const out: Publication = { data: JSON.parse(pub.data) }
  if (pub.offset) out.offset = pub.offset
  if (pub.info) out.info = pub.info
  if (pub.tags && Object.keys(pub.tags).length) out.tags = pub.tags
  return out
}

export class Client {
  readonly id = randomUUID()
  private state: State = 'connecting'
  private connectSeen = false
  private ctx?: ConnectionContext
  private readonly subs = new Map<string, Subscription>()
  /** Centrifugo's session id: how emulation requests find this connection (emulated transports only). */
  readonly session?: string
  private readonly writes: WriteQueue
  private chain: Promise<void> = Promise.resolve()
  private staleTimer?: NodeJS.Timeout
  private expireTimer?: NodeJS.Timeout
  /** Set by authentication through a connection JWT: refresh then expects a JWT too. */
  private authenticatedByJwt = false
  /** Set when the hook asked to refresh this connection itself at expiry (Centrifugo's refresh proxy). */
  private refreshByServer = false
  /** When the last unanswered ping was sent (ms), or 0. */
  pingSentAt = 0
  private readonly commandBudget: CommandBudget
  /** Map subscriptions (map-session.ts), made on the first map subscribe. */
  private mapSession?: MapSession
  /** Shared poll subscriptions (shared-poll.ts), made on the first shared poll subscribe. */
  private sharedPollSession?: SharedPollSession

  constructor(
    private readonly node: ClientNode,
    private readonly transport: Transport,
    private readonly info: TransportInfo,
    /** The wire format chosen at the handshake; fan-out shares one encoding per codec. */
    readonly codec: Codec = jsonCodec,
  ) {
    // Centrifugo gives emulated and unidirectional connections a session id.
    if (transport.capabilities.emulation || !transport.capabilities.bidirectional) this.session = randomUUID()
    this.writes = new WriteQueue(transport, node.config, () => node.scheduleFlush(this), codec.joinMessages)
    this.staleTimer = setTimeout(() => this.disconnect(Disconnects.stale), node.config.staleCloseDelayMs)
    this.commandBudget = node.limits.commandBudget()
  }

  get user(): string | undefined {
    return this.ctx?.user
  }

  get isConnected(): boolean {
    return this.state === 'connected'
  }

  get channels(): string[] {
    return [...this.subs.keys()]
  }

  clientInfo(channelInfo?: unknown): ClientInfo {
    const info: ClientInfo = { user: this.ctx?.user ?? '', client: this.id }
    if (this.ctx?.info !== undefined) info.conn_info = this.ctx.info
    if (channelInfo !== undefined) info.chan_info = channelInfo
    return info
  }

  // ---- incoming ----------------------------------------------------------------------------

  /** A frame from the socket: newline-joined JSON commands or length-delimited protobuf ones, handled strictly in order. */
  handleFrame(frame: string | Buffer): void {
    if (this.state === 'closed') return
    const decoded = this.codec.decodeCommands(frame)
    if (!decoded.ok) {
      this.node.log.debug({ client: this.id, error: decoded.error }, 'bad frame')
      this.disconnect(Disconnects.badRequest)
      return
    }
    this.chain = this.chain.then(() => this.handleCommands(decoded.commands))
  }

  /** A binary frame: commands for a protobuf connection, the wrong protocol for a JSON one. */
  handleBinary(frame: Buffer): void {
    if (this.codec.binary) this.handleFrame(frame)
    else this.disconnect(Disconnects.inappropriateProtocol)
  }

  private async handleCommands(commands: DecodedCommand[]): Promise<void> {
    for (const cmd of commands) {
      if (this.state === 'closed') return
      if (cmd.kind === 'pong') {
        this.pingSentAt = 0
        continue
      }
      // The pages of a map subscribe are one subscribe: only its first request counts (its catch-up has a deadline).
      const budget = cmd.method === 'subscribe' && this.mapSession?.isContinuation(cmd.command.subscribe!) ? 'ok' : this.commandBudget.take()
      if (budget === 'disconnect') return this.disconnect(Disconnects.tooManyRequests)
      if (budget === 'refuse') { this.enqueue(this.codec.encodeError(cmd.id, Errors.tooManyRequests().toJSON())); continue }
      if (cmd.method === 'connect') {
        if (this.connectSeen) return this.disconnect(Disconnects.badRequest)
        this.connectSeen = true
        const ok = await this.run(cmd.id, 'connect', () => this.connect(cmd.command))
        if (!ok) return // after a failed connect the rest of the frame is ignored
        continue
      }
      if (this.state !== 'connected') return this.disconnect(Disconnects.badRequest)
      // A subscribe reply must be written before the pushes that waited for it.
      const after = cmd.method === 'subscribe' ? () => this.releasePending(cmd.command.subscribe!.channel) : undefined
      await this.run(cmd.id, cmd.method, () => this.dispatch(cmd.method, cmd.command), after)
    }
  }

  /** Runs one command; a ReplyError becomes an error reply, a Disconnect closes, anything else is error 100. */
  private async run(id: number, method: CommandMethod, fn: () => Promise<unknown>, after?: () => void): Promise<boolean> {
    const startedAt = performance.now()
    try {
      const result = await fn()
      if (method !== 'send' && method !== 'connect' && this.state !== 'closed') this.enqueue(this.codec.encodeReply(id, method, result ?? {}))
      after?.()
      return true
    } catch (err) {
      if (this.state === 'closed') return false
      if (err instanceof Disconnect) {
        this.disconnect(err)
      } else if (err instanceof ReplyError) {
        if (method !== 'send') this.enqueue(this.codec.encodeError(id, err.toJSON()))
      } else {
        this.node.log.error({ err, client: this.id, method }, 'command failed')
        this.node.stats.errors++
        if (method !== 'send') this.enqueue(this.codec.encodeError(id, Errors.internal().toJSON()))
      }
      return false
    } finally {
      this.node.observeCommand?.(this.transport.name, method, startedAt)
    }
  }

  private dispatch(method: CommandMethod, cmd: Command): Promise<unknown> {
    switch (method) {
      case 'subscribe': return this.subscribe(cmd.subscribe!)
      case 'unsubscribe': return this.unsubscribe(cmd.unsubscribe!.channel)
      case 'publish': return cmd.publish!.type === PublishType.Map ? this.mapPublish(cmd.publish!) : this.publish(cmd.publish!.channel, cmd.publish!.data)
      case 'presence': return this.presence(cmd.presence!.channel)
      case 'presence_stats': return this.presenceStats(cmd.presence_stats!.channel)
      case 'history': return this.history(cmd.history!)
      case 'rpc': return this.rpc(cmd.rpc!.method ?? '', cmd.rpc!.data)
      case 'send': return this.send(cmd.send!.data)
      case 'refresh': return this.refresh(cmd.refresh!.token)
      case 'sub_refresh': return cmd.sub_refresh!.type === SubRefreshType.Track || cmd.sub_refresh!.type === SubRefreshType.Untrack
        ? Promise.resolve().then(() => this.sharedPollTrack(cmd.sub_refresh!))
        : this.subRefresh(cmd.sub_refresh!.channel, cmd.sub_refresh!.token)
      case 'ping': return Promise.resolve({})
      default: return Promise.reject(Disconnects.badRequest)
    }
  }

  // ---- connect -----------------------------------------------------------------------------

  private async connect(cmd: Command): Promise<void> {
    const req = cmd.connect!
    let reply: ConnectingReply
    if (req.token) {
      const claims = await verifyConnectionToken(req.token, this.node.hmacKey)
      // A token without `sub` is an anonymous connection, as in Centrifugo unless it is told to refuse them.
      if (claims.user === '' && this.node.config.disallowAnonymousConnectionTokens) throw Disconnects.permissionDenied
      reply = { user: claims.user, expireAt: this.node.config.insecure ? 0 : claims.expireAt, channels: claims.channels, info: claims.info }
      this.authenticatedByJwt = true
    } else if (this.node.hooks.authenticate) {
      reply = await this.node.hooks.authenticate({
        client: this.id, transport: this.transport.name, data: req.data, name: req.name, version: req.version,
        headers: req.headers, remoteAddress: this.info.remoteAddress, userAgent: this.info.userAgent,
        transportHeaders: this.info.headers, protocol: this.codec.binary ? 'protobuf' : 'json',
      })
    } else if (this.node.config.insecure || this.node.config.allowAnonymousConnectWithoutToken) {
      reply = { user: '' }
    } else {
      throw Disconnects.badRequest
    }
    if (this.state === 'closed') return
    const nowSec = Date.now() / 1000
    if (reply.expireAt && reply.expireAt <= nowSec) throw Errors.tokenExpired()
    if (!this.node.limits.subscriptionsAllowed(new Set(reply.channels ?? []).size)) throw Disconnects.channelLimit
    await this.node.limits.admitUser(reply.user)
    if ((this.state as State) === 'closed') return this.node.limits.releaseUser(reply.user)
    clearTimeout(this.staleTimer)
    this.staleTimer = undefined
    this.ctx = { client: this.id, user: reply.user, info: reply.info, meta: reply.meta }
    this.refreshByServer = reply.refreshByServer === true && !!this.node.hooks.refresh
    this.node.addClient(this, reply.user)
    try {
      await this.completeConnect(cmd.id!, reply, req.subs, nowSec)
    } catch (err) {
      // Authentication passed but the subscriptions could not be set up: let the SDK reconnect.
      this.node.log.error({ err, client: this.id }, 'connect failed after authentication')
      this.disconnect(Disconnects.internal)
    }
  }

  private async completeConnect(id: number, reply: ConnectingReply, recovery: Record<string, SubscribeRecoveryRequest> | undefined, nowSec: number): Promise<void> {

    const result: ConnectResult = { client: this.id, version: this.node.version, ping: 0, pong: false, node: this.node.config.nodeId }
    if (this.node.config.pingIntervalMs > 0) {
      result.ping = Math.max(1, Math.round(this.node.config.pingIntervalMs / 1000))
      // A unidirectional client cannot answer.
      result.pong = this.transport.capabilities.bidirectional
    } else {
      delete result.ping
      delete result.pong
    }
    if (reply.data !== undefined) result.data = reply.data
    // Emulated transports: the SDK sends later commands to the emulation endpoint with this session and node.
    if (this.session) result.session = this.session
    // Timers (ours and the SDK's) overflow past 2^31 ms, about 24 days: longer expiries are not advertised.
    if (reply.expireAt && !this.refreshByServer && reply.expireAt - nowSec < MAX_TIMER_SEC) {
      result.expires = true
      result.ttl = Math.max(1, Math.round(reply.expireAt - nowSec))
    }
    // Not advertised or not, the connection ends at its expiry.
    if (reply.expireAt) this.scheduleExpiry(reply.expireAt)
    const channels = [...new Set(reply.channels ?? [])]
    if (channels.length) {
      result.subs = {}
      for (const channel of channels) {
        const so = reply.subsOptions?.[channel]
        result.subs[channel] = await this.addSubscription(channel, true, recovery?.[channel], { expireAt: so?.expireAt, channelInfo: so?.channelInfo, override: so?.override })
        if (reply.subsData?.[channel] !== undefined) result.subs[channel]!.data = reply.subsData[channel]
        if (this.state === 'closed') return
      }
    }
    this.state = 'connected'
    this.node.stats.connects++
    this.enqueue(this.codec.encodeReply(id, 'connect', result))
    for (const channel of channels) this.releasePending(channel)
    this.node.hooks.connected?.(this.ctx!, channels)
  }

  private scheduleExpiry(expireAt: number): void {
    clearTimeout(this.expireTimer)
    // A client refreshes before its expiry and gets a grace; the gateway refreshes itself right at it.
    const ms = expireAt * 1000 - Date.now() + (this.refreshByServer ? 0 : this.node.config.expiredCloseDelayMs)
    this.expireTimer = ms > MAX_TIMEOUT_MS
      ? setTimeout(() => this.scheduleExpiry(expireAt), MAX_TIMEOUT_MS)
      : setTimeout(() => (this.refreshByServer ? void this.refreshOnServer() : this.disconnect(Disconnects.expired)), Math.max(0, ms))
  }

  /** Centrifugo's server-side refresh: the hook gives a new expiry, or `expired` (3005), or throws (a Disconnect closes with it). */
  private async refreshOnServer(): Promise<void> {
    if (this.state !== 'connected') return
    try {
      const r = await this.node.hooks.refresh!(this.ctx!, '')
      if ((this.state as State) !== 'connected') return
      if (r.expired || (r.expireAt && r.expireAt <= Date.now() / 1000)) return this.disconnect(Disconnects.expired)
      if (r.info !== undefined) this.ctx!.info = r.info
      if (r.expireAt) this.scheduleExpiry(r.expireAt)
    } catch (err) {
      this.disconnect(err instanceof Disconnect ? err : Disconnects.internal)
    }
  }

  private async refresh(token: string): Promise<unknown> {
    let expireAt: number | undefined
    if (this.authenticatedByJwt) {
      const claims = await verifyConnectionToken(token, this.node.hmacKey)
      if (claims.user !== this.ctx!.user) throw Disconnects.invalidToken
      expireAt = claims.expireAt
      if (claims.info !== undefined) this.ctx!.info = claims.info
    } else if (this.node.hooks.refresh) {
      const r = await this.node.hooks.refresh(this.ctx!, token)
      expireAt = r.expireAt
      if (r.info !== undefined) this.ctx!.info = r.info
    } else {
      throw Errors.notAvailable()
    }
    return this.applyExpiry(expireAt)
  }

  /** New connection info from the server API's `refresh`: later presence, join/leave and publications carry it. */
  updateInfo(info: unknown): void {
    if (this.ctx) this.ctx.info = info
  }

  /** Applies a new expiry from a refresh (client command or server API) and returns the refresh result. */
  applyExpiry(expireAt: number | undefined): { expires: boolean; ttl?: number; client: string } {
    clearTimeout(this.expireTimer)
    if (!expireAt) return { client: this.id, expires: false }
    const ttl = Math.round(expireAt - Date.now() / 1000)
    if (ttl <= 0) throw Errors.tokenExpired()
    this.scheduleExpiry(expireAt)
    return ttl < MAX_TIMER_SEC ? { client: this.id, expires: true, ttl } : { client: this.id, expires: false }
  }

  // ---- subscriptions -----------------------------------------------------------------------

  /**
   * Subscribes this connection to a channel and answers with its stream position, recovering missed
   * publications when asked. Live publications that arrive meanwhile wait in `pending` until the
   * caller has written the reply (`releasePending`), so nothing is lost or delivered twice.
   */
  async addSubscription(channel: string, serverSide: boolean, recovery?: SubscribeRecoveryRequest, opts: { positioned?: boolean; recoverable?: boolean; historyAccess?: boolean; joinLeave?: boolean; tagsFilter?: FilterNode; expireAt?: number; rejectUnrecovered?: boolean; delta?: string; refreshByServer?: boolean; data?: unknown; channelInfo?: unknown; override?: SubscribeOverride } = {}): Promise<SubscribeResult> {
    const ns = withOverride(namespaceOf(this.node.config, channel), opts.override)
    const { positioned, recoverable, pushJoinLeave } = streamFlags(ns, { positioned: opts.positioned, recoverable: opts.recoverable, historyAccess: !!opts.historyAccess, joinLeave: !!opts.joinLeave })
    const sub: Subscription = { serverSide, positioned, offset: 0, epoch: '', pending: [], pushJoinLeave, tagsFilter: opts.tagsFilter, presence: ns.presence, joinLeave: ns.joinLeave, channelInfo: opts.channelInfo }
    if (opts.delta && ns.allowedDeltaTypes.includes(opts.delta as DeltaType)) sub.delta = opts.delta as DeltaType
    this.subs.set(channel, sub)
    await this.node.addSubscriber(channel, this)
    if (ns.presence) {
      await this.node.presenceManager.add(channel, this.id, this.clientInfo(sub.channelInfo))
      // Closed or unsubscribed meanwhile: the cleanup's remove may have run before this add landed.
      if (this.subs.get(channel) !== sub) await this.node.presenceManager.remove(channel, this.id)
    }
    if (ns.joinLeave) await this.node.broker.publishJoin(channel, this.clientInfo(sub.channelInfo))
    const result: SubscribeResult = {}
    if (sub.delta) result.delta = true
    if (opts.data !== undefined) result.data = opts.data
    if (opts.expireAt) {
      sub.refreshByServer = opts.refreshByServer === true && !!this.node.hooks.subRefresh
      if (!sub.refreshByServer) {
        result.expires = true
        result.ttl = Math.max(1, Math.round(opts.expireAt - Date.now() / 1000))
      }
      this.scheduleSubExpiry(channel, sub, opts.expireAt)
    }
    if (!positioned) return result
    result.positioned = true
    if (recoverable) result.recoverable = true
    const wantRecovery = recoverable && !!recovery?.recover
    const max = this.node.config.recoveryMaxPublications
    const since = wantRecovery ? { offset: recovery!.offset ?? 0, epoch: recovery!.epoch ?? '' } : undefined
    const historyMetaTtlMs = ns.historyMetaTtlMs ?? this.node.config.historyMetaTtlMs
    if (wantRecovery && ns.recoveryMode === 'cache') {
      const cached = await recoverCache(this.node.broker, channel, since!, { historyMetaTtlMs, maxPublications: max, filter: sub.tagsFilter })
      sub.epoch = result.epoch = cached.top.epoch
      sub.offset = result.offset = cached.top.offset
      result.was_recovering = true
      result.recovered = cached.recovered
      if (cached.publications.length) result.publications = cached.publications.map(toPublication)
      return result
    }
    const history = await this.node.broker.history(channel, { since, limit: wantRecovery ? max + 1 : 0, historyMetaTtlMs })
    const top = history.position
    sub.epoch = top.epoch
    sub.offset = top.offset
    result.epoch = top.epoch
    result.offset = top.offset
    if (wantRecovery) {
      result.was_recovering = true
      const pubs = visiblePublications(history.publications, sub.tagsFilter)
      const recovered = isRecovered(since!, top, history.publications, max)
      // The SDK asks for 112 rather than recovered:false when it can load the state itself (getState).
      if (!recovered && opts.rejectUnrecovered) throw Errors.unrecoverablePosition()
      result.recovered = recovered
      if (recovered && pubs.length) {
        result.publications = sub.delta ? recoveredWithDelta(pubs, this.codec) : pubs.map(toPublication)
        // The client now holds the last recovered publication: the next one may be a delta. (Centrifugo also allows
        // deltas after a recovery of nothing, when the client may hold no base at all; that case goes whole here.)
        sub.deltaBase = sub.delta !== undefined
      }
    }
    return result
  }

  /** Delivers what arrived while the subscribe reply was being prepared, skipping what the reply already holds. */
  releasePending(channel: string): void {
    const sub = this.subs.get(channel)
    if (!sub) return this.mapSession?.releasePending(channel)
    if (!sub.pending) return
    const pending = sub.pending
    sub.pending = null
    for (const p of pending) this.deliver(channel, p.frame, p.offset, p.epoch, p.delta)
  }

  private async subscribe(req: Command['subscribe'] & object): Promise<SubscribeResult> {
    const channel = req.channel
    if (!channel) throw Errors.badRequest()
    if (req.type === SubscriptionType.Map || req.type === SubscriptionType.MapClients || req.type === SubscriptionType.MapUsers) return this.mapSubscribe(req)
    if (req.type === SubscriptionType.SharedPoll) return this.sharedPollSubscribe(req)
    // A stream subscribe to a map namespace is refused as Centrifugo does.
    // As Centrifugo: an unknown delta type is a bad request (3501); a known one the namespace does not allow is ignored.
    if (req.delta && !isDeltaType(req.delta)) throw Disconnects.badRequest
    if (req.type || this.node.maps?.channel(channel)) throw Errors.permissionDenied()
    if (this.subs.has(channel) || this.mapSession?.has(channel) || this.sharedPollSession?.has(channel)) throw Errors.alreadySubscribed()
    if (!this.node.limits.subscriptionsAllowed(this.subs.size + 1)) throw Errors.limitExceeded()
    const ns = this.channelOptions(channel)
    if (ns.subscriptionType === 'shared_poll') throw Errors.permissionDenied()
    if (!req.token && (ns.serverSideOnly || isPrivateChannel(this.node.config, channel))) throw Errors.permissionDenied()
    let expireAt: number | undefined
    let decided: SubscribingReply | undefined
    if (req.token) {
      expireAt = (await verifySubscriptionToken(req.token, this.node.hmacKey, this.ctx!.user, channel)).expireAt || undefined
    } else if (isUserLimitedChannel(this.node.config, channel, ns)) {
      // Centrifugo: a user-limited channel is for its users only (or anyone when insecure), whatever else is allowed.
      if (!userAllowed(this.node.config, channel, this.ctx!.user) && !this.node.config.insecure) throw Errors.permissionDenied()
    } else if ((decided = await this.node.hooks.subscribing?.(this.ctx!, { channel, data: req.data }))) {
      expireAt = decided.expireAt || undefined
      if (expireAt && expireAt <= Date.now() / 1000) throw Errors.expired()
    } else {
      await this.authorize(channel, 'subscribe')
    }
    const tagsFilter = tagsFilterOf(ns, req.tf)
    if (this.state === 'closed') return {}
    try {
      const rejectUnrecovered = ((req.flag ?? 0) & SubscribeFlag.RejectUnrecovered) !== 0
      return await this.addSubscription(channel, false, req, { positioned: req.positioned, recoverable: req.recoverable, ...this.streamAccess(ns, req.join_leave), tagsFilter, expireAt, rejectUnrecovered, delta: req.delta, refreshByServer: decided?.refreshByServer, data: decided?.data, channelInfo: decided?.channelInfo, override: decided?.override })
    } catch (err) {
      await this.removeSubscription(channel).catch(() => {})
      throw err
    }
  }

  private async unsubscribe(channel: string): Promise<unknown> {
    await this.mapSession?.unsubscribe(channel)
    this.sharedPollSession?.unsubscribe(channel)
    await this.removeSubscription(channel)
    return {}
  }

  /** Drops a subscription and its presence; safe to call for a channel not subscribed. */
  async removeSubscription(channel: string): Promise<void> {
    const sub = this.subs.get(channel)
    if (!sub) return
    clearTimeout(sub.expireTimer)
    this.subs.delete(channel)
    await this.node.removeSubscriber(channel, this)
    if (sub.presence) await this.node.presenceManager.remove(channel, this.id)
    if (sub.joinLeave) await this.node.broker.publishLeave(channel, this.clientInfo(sub.channelInfo))
  }

  private async subRefresh(channel: string, token: string | undefined): Promise<unknown> {
    const sub = this.subs.get(channel)
    if (!sub || sub.serverSide) throw Errors.permissionDenied()
    if (!token) throw Errors.badRequest()
    const { expireAt } = await verifySubscriptionToken(token, this.node.hmacKey, this.ctx!.user, channel)
    clearTimeout(sub.expireTimer)
    if (!expireAt) return { expires: false }
    const ttl = Math.round(expireAt - Date.now() / 1000)
    if (ttl <= 0) throw Errors.tokenExpired()
    this.scheduleSubExpiry(channel, sub, expireAt)
    return { expires: true, ttl }
  }

  /** The SDK refreshes at `ttl`; the subscription ends only if that has not happened within the grace after it. */
  private scheduleSubExpiry(channel: string, sub: Subscription, expireAt: number): void {
    clearTimeout(sub.expireTimer)
    const ms = expireAt * 1000 - Date.now() + (sub.refreshByServer ? 0 : this.node.config.expiredCloseDelayMs)
    sub.expireTimer = setTimeout(() => (sub.refreshByServer ? void this.refreshSubOnServer(channel, sub) : this.expireSubscription(channel)), Math.max(0, ms))
  }

  /** Centrifugo's server-side subscription refresh (sub_refresh proxy): a new expiry, or the subscription ends. */
  private async refreshSubOnServer(channel: string, sub: Subscription): Promise<void> {
    try {
      const r = await this.node.hooks.subRefresh!(this.ctx!, channel)
      if (this.subs.get(channel) !== sub) return
      if (r.expired || (r.expireAt && r.expireAt <= Date.now() / 1000)) return this.expireSubscription(channel)
      if (r.expireAt) this.scheduleSubExpiry(channel, sub, r.expireAt)
    } catch (err) {
      if (err instanceof Disconnect) this.disconnect(err)
      else this.expireSubscription(channel)
    }
  }

  private expireSubscription(channel: string): void {
    this.unsubscribeByServer(channel, UnsubscribeCode.Expired, 'subscription expired')
  }

  /** Server-side removal: the client gets an unsubscribe push (codes ≥ 2500 make the SDK resubscribe). */
  unsubscribeByServer(channel: string, code: number = UnsubscribeCode.Server, reason = 'server unsubscribe'): void {
    if (this.sharedPollSession?.has(channel)) return this.sharedPollSession.unsubscribeByServer(channel, code, reason)
    if (!this.subs.has(channel)) return
    void this.removeSubscription(channel).catch((err) => this.node.log.warn({ err }, 'unsubscribe failed'))
    this.enqueue(this.codec.encodePush({ channel, unsubscribe: { code, reason } }))
  }

  /** Server-side addition at run time: a `subscribe` push, then the channel's publications. */
  async subscribeByServer(channel: string, data?: unknown, opts: ServerSubscriptionOptions = {}): Promise<void> {
    if (this.state !== 'connected' || this.subs.has(channel)) return
    if (!this.node.limits.subscriptionsAllowed(this.subs.size + 1)) return this.disconnect(Disconnects.channelLimit)
    const since = opts.recoverSince
    const recovery = since ? { recover: true, offset: since.offset, epoch: since.epoch } : undefined
    const result = await this.addSubscription(channel, true, recovery , { expireAt: opts.expireAt, channelInfo: opts.channelInfo, override: opts.override })
    if (this.state !== 'connected') return
    const push: SubscribeResult = {
      recoverable: result.recoverable ?? false, positioned: result.positioned ?? false,
      epoch: result.epoch ?? '', offset: result.offset ?? 0,
    }
    if (data !== undefined) push.data = data
    this.enqueue(this.codec.encodePush({ channel, subscribe: push }))
    // Recovered publications (`recover_since`) follow the subscribe push, before anything newer.
    for (const pub of result.publications ?? []) this.enqueue(this.codec.encodePush({ channel, pub }))
    this.releasePending(channel)
  }

  /** A map subscribe request (any phase): authorized like a stream subscribe, on its first request only. */
  private async mapSubscribe(req: Command['subscribe'] & object): Promise<SubscribeResult> {
    const maps = this.node.maps
    if (!maps) throw Errors.notAvailable()
    if (this.subs.has(req.channel)) throw Errors.alreadySubscribed()
    if (!this.node.limits.subscriptionsAllowed(this.subs.size + (this.mapSession?.size ?? 0) + 1)) throw Errors.limitExceeded()
    this.mapSession ??= new MapSession(this, maps)
    return this.mapSession.subscribe(req, async () => {
      if (req.token) await verifySubscriptionToken(req.token, this.node.hmacKey, this.ctx!.user, req.channel)
      else await this.authorize(req.channel, 'subscribe')
    })
  }

  /** A shared poll subscribe (type 4): authorized like a stream subscribe; keys come with track requests. */
  private async sharedPollSubscribe(req: Command['subscribe'] & object): Promise<SubscribeResult> {
    const sp = this.node.sharedPoll
    // As Centrifugo: the subscription type must be the namespace's (103), after the channel name checks.
    if (this.channelOptions(req.channel).subscriptionType !== 'shared_poll') throw Errors.permissionDenied()
    if (!sp?.options(req.channel)) throw Errors.notAvailable()
    if (this.subs.has(req.channel) || this.mapSession?.has(req.channel) || this.sharedPollSession?.has(req.channel)) throw Errors.alreadySubscribed()
    if (!this.node.limits.subscriptionsAllowed(this.subs.size + (this.mapSession?.size ?? 0) + (this.sharedPollSession?.size ?? 0) + 1)) throw Errors.limitExceeded()
    if (req.token) await verifySubscriptionToken(req.token, this.node.hmacKey, this.ctx!.user, req.channel)
    else await this.authorize(req.channel, 'subscribe')
    if (this.state === 'closed') return {}
    this.sharedPollSession ??= new SharedPollSession(this, sp)
    return this.sharedPollSession.subscribe(req.channel)
  }

  private sharedPollTrack(req: NonNullable<Command['sub_refresh']>): unknown {
    if (!req.channel || !this.sharedPollSession) throw Errors.permissionDenied()
    return this.sharedPollSession.subRefresh(req)
  }

  /** The server ended a shared poll subscription (a publisher epoch change): the SDK resubscribes and tracks again. */
  unsubscribeSharedPoll(channel: string, code: number, reason: string): void {
    this.enqueue(this.codec.encodePush({ channel, unsubscribe: { code, reason } }))
  }

  private async mapPublish(req: NonNullable<Command['publish']>): Promise<unknown> {
    if (!this.node.maps) throw Errors.notAvailable()
    if (!req.channel) throw Errors.badRequest()
    this.mapSession ??= new MapSession(this, this.node.maps)
    return this.mapSession.publish(req, this.node.config.insecure)
  }

  private async authorize(channel: string, op: ChannelOperation): Promise<void> {
    const ns = this.channelOptions(channel)
    const hook = this.node.hooks.authorizeChannel
    const allowed = hook
      ? await hook(this.ctx!, channel, op)
      : namespaceAllows(ns, op, { user: this.ctx!.user, subscribed: this.subs.has(channel), insecure: this.node.config.insecure })
    if (!allowed) throw Errors.permissionDenied()
  }

  /** The channel's namespace options, after Centrifugo's checks of its name (102 unknown namespace, 107 bad name). */
  private channelOptions(channel: string): NamespaceOptions {
    const ns = namespaceOf(this.node.config, channel)
    checkChannelName(this.node.config, channel, ns)
    return ns
  }

  /** What Centrifugo grants a subscriber besides the subscription: positioning and recovery with history access, join/leave with presence access. */
  private streamAccess(ns: NamespaceOptions, joinLeave: boolean | undefined): { historyAccess: boolean; joinLeave: boolean } {
    const who = { user: this.ctx!.user, subscribed: true, insecure: this.node.config.insecure }
    return { historyAccess: namespaceAllows(ns, 'history', who), joinLeave: !!joinLeave && namespaceAllows(ns, 'presence', who) }
  }

  // ---- other commands ----------------------------------------------------------------------

  private async publish(channel: string, data: unknown): Promise<unknown> {
    if (!channel || data === undefined) throw Errors.badRequest()
    const decided = await this.node.hooks.publishing?.(this.ctx!, { channel, data })
    if (!decided) await this.authorize(channel, 'publish')
    const info = this.clientInfo(this.subs.get(channel)?.channelInfo)
    await this.node.publish(channel, decided?.data !== undefined ? decided.data : data, { info, skipHistory: decided?.skipHistory, tags: decided?.tags, idempotencyKey: decided?.idempotencyKey, delta: decided?.delta, version: decided?.version, versionEpoch: decided?.versionEpoch })
    return {}
  }

  private async presence(channel: string): Promise<unknown> {
    if (!this.channelOptions(channel).presence) throw Errors.notAvailable()
    await this.authorize(channel, 'presence')
    return { presence: await this.node.presenceManager.presence(channel) }
  }

  private async presenceStats(channel: string): Promise<unknown> {
    if (!this.channelOptions(channel).presence) throw Errors.notAvailable()
    await this.authorize(channel, 'presence')
    const s = await this.node.presenceManager.stats(channel)
    return { num_clients: s.numClients, num_users: s.numUsers }
  }

  private async history(req: HistoryRequest): Promise<unknown> {
    if (this.channelOptions(req.channel).historySize <= 0) throw Errors.notAvailable()
    await this.authorize(req.channel, 'history')
    // Centrifugo's client.history_max_publication_limit: a larger or unlimited (-1) limit is cut to it.
    const max = this.node.config.clientHistoryMaxPublications
    const limit = req.limit ?? 0
    return this.node.historyResult(req.channel, max && (limit < 0 || limit > max) ? { ...req, limit: max } : req)
  }

  private async rpc(method: string, data: unknown): Promise<unknown> {
    if (!this.node.hooks.rpc) throw Errors.notAvailable()
    const result = await this.node.hooks.rpc(this.ctx!, method, data)
    return result === undefined ? {} : { data: result }
  }

  private async send(data: unknown): Promise<unknown> {
    if (!this.node.hooks.message) throw Disconnects.notAvailable
    this.node.hooks.message(this.ctx!, data)
    return undefined
  }

  // ---- outgoing ----------------------------------------------------------------------------

  /**
   * A publication of a subscribed channel, encoded once for all subscribers. Offsets are checked:
   * a duplicate is dropped, a gap or a new epoch means this connection lost its place in the stream.
   */
  deliver(channel: string, frame: Buffer, offset: number, epoch?: string, delta?: Buffer): void {
    const sub = this.subs.get(channel)
    if (sub) this.place(channel, sub, frame, offset, epoch, delta)
  }

  /**
   * The node's fan-out of one publication: one look-up of the subscription decides what this connection gets. A
   * publication its tags filter drops still moves its position; delta subscribers get the shared delta frames.
   */
  deliverPublication(channel: string, tags: Record<string, string> | undefined, offset: number, epoch: string | undefined, frames: PublicationFrames): void {
    const sub = this.subs.get(channel)
    if (!sub) return
    if (sub.tagsFilter && !matchesFilter(sub.tagsFilter, tags)) {
      this.place(channel, sub, FILTERED_OUT, offset, epoch)
      // The next delta would be against a publication this subscriber never got.
      sub.deltaBase = false
    } else if (sub.delta) {
      const f = frames.delta(this.codec)
      this.place(channel, sub, f.whole, offset, epoch, f.delta)
    } else this.place(channel, sub, frames.plain(this.codec), offset, epoch)
  }

  private place(channel: string, sub: Subscription, frame: Buffer, offset: number, epoch?: string, delta?: Buffer): void {
    if (sub.pending) {
      sub.pending.push({ frame, offset, epoch, delta })
      return
    }
    if (sub.positioned && offset > 0) {
      const placement = placePublication(sub, offset, epoch)
      if (placement === 'duplicate') return
      if (placement === 'lost') return this.lostPosition(channel, sub)
      sub.offset = offset
    }
    if (frame === FILTERED_OUT) return
    if (sub.delta && delta) {
      // `delta` is against the previous publication: sent once the client holds it, else the whole one is.
      if (sub.deltaBase) frame = delta
      sub.deltaBase = true
    }
    this.enqueue(frame)
  }

  /** Whether join/leave of the channel is pushed to this connection (Centrifugo's `force_push_join_leave` or the subscriber's `join_leave`). */
  pushesJoinLeave(channel: string): boolean {
    return this.subs.get(channel)?.pushJoinLeave ?? true
  }

  private lostPosition(channel: string, sub: Subscription): void {
    // Server-side subscriptions recover through a reconnect; client-side ones through a resubscribe.
    if (sub.serverSide) this.disconnect(Disconnects.insufficientState)
    else this.unsubscribeByServer(channel, UnsubscribeCode.InsufficientState, 'insufficient state')
  }

  /** Queues a message; a connection whose unsent bytes pass the cap is cut as slow (3008). */
  enqueue(message: EncodedMessage): void {
    if (this.state === 'closed') return
    if (!this.writes.enqueue(message)) this.cutSlow()
  }

  /** Writes what is queued: up to `maxMessagesInFrame` messages per frame, newline-joined. */
  flush(): void {
    if (this.state === 'closed') return
    const result = this.writes.flush()
    if (result === 'slow') return this.cutSlow()
    if (result === 'written') this.node.stats.frames++
  }

  private cutSlow(): void {
    this.node.stats.slowDisconnects++
    this.writes.clear()
    this.disconnect(Disconnects.slow)
  }

  ping(): void {
    if (this.state !== 'connected') return
    if (this.pingSentAt === 0 && this.transport.capabilities.bidirectional) this.pingSentAt = Date.now()
    this.enqueue(this.codec.ping)
  }

  // ---- closing -----------------------------------------------------------------------------

  /** Closes with a code the SDK understands; what was queued before is written first (except for a slow client). */
  disconnect(d: Disconnect): void {
    if (this.state === 'closed') return
    if (d !== Disconnects.slow && d !== Disconnects.writeError) {
      this.flush()
      if ((this.state as State) === 'closed') return // the flush found the peer too slow and closed already
    }
    this.state = 'closed'
    this.transport.close(d.code, d.reason)
    this.cleanup(d.code, d.reason)
  }

  /** The socket closed (by the peer, or after our close frame). */
  handleClose(code: number, reason: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.cleanup(code, reason)
  }

  private cleanup(code: number, reason: string): void {
    clearTimeout(this.staleTimer)
    clearTimeout(this.expireTimer)
    this.writes.clear()
    for (const channel of [...this.subs.keys()]) {
      void this.removeSubscription(channel).catch((err) => this.node.log.warn({ err, channel }, 'cleanup failed'))
    }
    void this.mapSession?.close().catch((err) => this.node.log.warn({ err }, 'map cleanup failed'))
    this.sharedPollSession?.close()
    this.node.removeClient(this)
    if (this.ctx) this.node.limits.releaseUser(this.ctx.user)
    if (this.ctx) this.node.hooks.disconnected?.(this.ctx, code, reason)
  }
}

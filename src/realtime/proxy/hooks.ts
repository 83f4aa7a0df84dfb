/**
 * Centrifugo's proxies as gateway hooks: connect, refresh, subscribe, publish, sub_refresh and rpc go to the
 * user's backend over HTTP with Centrifugo v6's JSON bodies (centrifugo `internal/proxyproto/proxy.proto`,
 * `internal/proxy/*_handler.go`). The hooks they wrap (the operator-chat domain's) keep their own connections:
 * `ownConnect` says which connects are theirs, and a connection the connect proxy authenticated never reaches them.
 */
import type { Logger } from 'pino'
import { Disconnects, Errors } from '../../protocol/codes.js'
import type { ConnectingEvent, ConnectingReply, ConnectionContext, RealtimeHooks, ServerSubscriptionOptions, SubscribeOverride } from '../hooks.js'
import { overrideFromJson } from '../subscribe-override.js'
import { DEFAULT_REFRESH_RETRY_MS, proxyByName, type ChannelProxyKind, type ProxyConfig, type ProxyEndpoint } from './config.js'
import { callProxy, dataField, valueOf, type ConnectionHeaders } from './http.js'

/** `ConnectionContext.meta` of a connection the connect proxy authenticated: what later proxy requests carry. */
export class ProxiedConnection {
  constructor(
    readonly transport: string,
    readonly protocol: string,
    readonly headers: ConnectionHeaders,
    /** The connect (or refresh) result's `meta`, sent back with `include_connection_meta`. */
    public meta: unknown,
  ) {}
}

export interface ProxyHooksOptions {
  /** Connects the wrapped hooks answer (the domain's applications); the others go to the connect proxy. */
  ownConnect(event: ConnectingEvent): boolean
  /** A channel's namespace name ('' for none), by the gateway's channel rules. */
  namespaceOf(channel: string): string
  /** Without a connect proxy and wrapped `authenticate`: connections without a token are anonymous. */
  insecure: boolean
  log: Logger
}

/** The parts of a Centrifugo result livedesk reads; `info`, `data`, `meta` are JSON values. */
interface ConnectResult {
  user?: string; expire_at?: number; info?: unknown; b64info?: string; data?: unknown; b64data?: string
  channels?: string[]; subs?: Record<string, SubscribeOptionsJson>; meta?: unknown
}
/** Centrifugo's `SubscribeOptions` of a connect result's `subs`. */
interface SubscribeOptionsJson { expire_at?: number; info?: unknown; b64info?: string; data?: unknown; b64data?: string; override?: unknown }
interface RefreshResult { expired?: boolean; expire_at?: number; info?: unknown; b64info?: string; meta?: unknown }
interface SubscribeResult { expire_at?: number; info?: unknown; b64info?: string; data?: unknown; b64data?: string; override?: unknown }
interface PublishResult { data?: unknown; b64data?: string; skip_history?: boolean; tags?: Record<string, string>; idempotency_key?: string; delta?: boolean; version?: number; version_epoch?: string }
interface SubRefreshResult { expired?: boolean; expire_at?: number }
interface RpcResult { data?: unknown; b64data?: string }

const encodingOf = (p: ProxyEndpoint) => (p.binaryEncoding ? 'binary' : 'json')

/** The hooks with Centrifugo's proxies in front of `inner` where the configuration asks for them. */
export function withProxies(inner: RealtimeHooks, config: ProxyConfig, opts: ProxyHooksOptions): RealtimeHooks {
  const retryMs = config.refreshRetryMs ?? DEFAULT_REFRESH_RETRY_MS
  const proxied = (ctx: ConnectionContext) => (ctx.meta instanceof ProxiedConnection ? ctx.meta : undefined)

  /** Fields every request after connect starts with (`client`, `transport`, `protocol`, `encoding`, `user`, `meta`). */
  const base = (p: ProxyEndpoint, ctx: ConnectionContext) => {
    const conn = proxied(ctx)
    const body: Record<string, unknown> = {
      client: ctx.client, transport: conn?.transport ?? 'websocket', protocol: conn?.protocol ?? 'json', encoding: encodingOf(p), user: ctx.user,
    }
    if (p.includeConnectionMeta && conn?.meta !== undefined) body.meta = conn.meta
    return body
  }

  const channelProxy = (kind: ChannelProxyKind, channel: string): ProxyEndpoint | undefined => {
    const ns = config.channelNamespaces
    if (!ns) return undefined
    const name = opts.namespaceOf(channel)
    const proxyName = Object.hasOwn(ns, name) ? ns[name]![kind] : undefined
    return proxyName === undefined ? undefined : proxyByName(config, kind, proxyName)
  }

  const connect = async (p: ProxyEndpoint, e: ConnectingEvent): Promise<ConnectingReply> => {
    const headers: ConnectionHeaders = { transport: e.transportHeaders, emulated: e.headers }
    const body: Record<string, unknown> = { client: e.client, transport: e.transport, protocol: e.protocol ?? 'json', encoding: encodingOf(p), ...dataField(p, e.data) }
    if (e.name) body.name = e.name
    if (e.version) body.version = e.version
    const r = await callProxy<ConnectResult>(p, body, headers)
    // Centrifugo: an answer without credentials leaves the connection unauthenticated.
    if (!r) throw Disconnects.badRequest
    // As Centrifugo: an expiry already past is 110 expired (terminal for the SDK), not 109, which would ask for a token.
    if (r.expire_at && r.expire_at <= Date.now() / 1000) throw Errors.expired()
    const subs = r.subs ?? {}
    const channels = [...new Set([...(r.channels ?? []), ...Object.keys(subs)])]
    const subsData: Record<string, unknown> = {}
    const subsOptions: Record<string, ServerSubscriptionOptions> = {}
    for (const [ch, o] of Object.entries(subs)) {
      const d = valueOf(o?.data, o?.b64data)
      if (d !== undefined) subsData[ch] = d
      const so: ServerSubscriptionOptions = { expireAt: o?.expire_at || undefined, channelInfo: valueOf(o?.info, o?.b64info), override: backendOverride(o?.override) }
      if (so.expireAt !== undefined || so.channelInfo !== undefined || so.override !== undefined) subsOptions[ch] = so
    }
    // Only the headers some proxy may pass on are kept for the connection's life.
    return {
      user: r.user ?? '', expireAt: r.expire_at || undefined, info: valueOf(r.info, r.b64info), data: valueOf(r.data, r.b64data),
      channels, subsData, subsOptions, refreshByServer: !!config.refresh,
      meta: new ProxiedConnection(e.transport, e.protocol ?? 'json', keptHeaders(config, headers), r.meta ?? undefined),
    }
  }

  const hooks: RealtimeHooks = {
    ...inner,
    authenticate: async (e) => {
      if (config.connect && !opts.ownConnect(e)) return connect(config.connect, e)
      if (inner.authenticate) return inner.authenticate(e)
      if (opts.insecure) return { user: '' }
      throw Disconnects.badRequest
    },
    refresh: async (ctx, token) => {
      const conn = proxied(ctx)
      if (!conn) {
        if (inner.refresh) return inner.refresh(ctx, token)
        throw Errors.notAvailable()
      }
      if (!config.refresh) throw Errors.notAvailable()
      let r: RefreshResult | undefined
      try {
        r = await callProxy<RefreshResult>(config.refresh, base(config.refresh, ctx), conn.headers)
      } catch (err) {
        // As Centrifugo: a backend that fails (not one that refuses) gets another try later; the connection lives on.
        if (err instanceof Error && err.name === 'ProxyCallError') {
          opts.log.error({ err: err.message, client: ctx.client }, 'refresh proxy failed')
          return { expireAt: Math.ceil((Date.now() + retryMs) / 1000) }
        }
        throw err
      }
      if (!r || r.expired) return { expired: true }
      if (r.meta !== undefined && r.meta !== null) conn.meta = r.meta
      return { expireAt: r.expire_at || undefined, info: valueOf(r.info, r.b64info) }
    },
    subscribing: async (ctx, e) => {
      const p = channelProxy('subscribe', e.channel)
      if (!p) return inner.subscribing?.(ctx, e)
      const r = await callProxy<SubscribeResult>(p, { ...base(p, ctx), channel: e.channel, ...dataField(p, e.data) }, proxied(ctx)?.headers)
      return {
        expireAt: r?.expire_at || undefined, data: valueOf(r?.data, r?.b64data), refreshByServer: !!channelProxy('subRefresh', e.channel),
        channelInfo: valueOf(r?.info, r?.b64info), override: backendOverride(r?.override),
      }
    },
    publishing: async (ctx, e) => {
      const p = channelProxy('publish', e.channel)
      if (!p) return inner.publishing?.(ctx, e)
      const r = await callProxy<PublishResult>(p, { ...base(p, ctx), channel: e.channel, ...dataField(p, e.data) }, proxied(ctx)?.headers)
      return {
        data: valueOf(r?.data, r?.b64data), skipHistory: r?.skip_history === true, tags: r?.tags && Object.keys(r.tags).length ? r.tags : undefined,
        idempotencyKey: r?.idempotency_key || undefined, delta: r?.delta === true,
        version: typeof r?.version === 'number' && r.version > 0 ? r.version : undefined, versionEpoch: r?.version_epoch || undefined,
      }
    },
    subRefresh: async (ctx, channel) => {
      const p = channelProxy('subRefresh', channel)
      if (!p) return inner.subRefresh ? inner.subRefresh(ctx, channel) : { expired: true }
      const r = await callProxy<SubRefreshResult>(p, { ...base(p, ctx), channel }, proxied(ctx)?.headers)
      if (!r || r.expired) return { expired: true }
      return { expireAt: r.expire_at || undefined }
    },
    rpc: async (ctx, method, data) => {
      // The domain's connections keep the domain's RPCs; proxied and token connections get Centrifugo's rules.
      const own = ctx.meta !== undefined && !proxied(ctx)
      const ns = config.rpcNamespaces
      if (own || !ns || !Object.keys(ns).length) {
        if (inner.rpc) return inner.rpc(ctx, method, data)
        throw Errors.notAvailable()
      }
      const i = method.indexOf(':')
      const name = i < 0 ? '' : method.slice(0, i)
      if (!Object.hasOwn(ns, name)) {
        // Centrifugo: a method of an unknown namespace is not found; one without namespace and no proxy is not available.
        if (i >= 0) throw Errors.methodNotFound()
        throw Errors.notAvailable()
      }
      const proxyName = ns[name]
      if (proxyName === null || proxyName === undefined) throw Errors.notAvailable()
      const p = proxyByName(config, 'rpc', proxyName)!
      const r = await callProxy<RpcResult>(p, { ...base(p, ctx), method, ...dataField(p, data) }, proxied(ctx)?.headers)
      return valueOf(r?.data, r?.b64data)
    },
    // The domain hears only of its own connections.
    connected: inner.connected && ((ctx, channels) => void (proxied(ctx) || inner.connected!(ctx, channels))),
    disconnected: inner.disconnected && ((ctx, code, reason) => void (proxied(ctx) || inner.disconnected!(ctx, code, reason))),
  }
  if (!inner.subscribing && !config.channelNamespaces) delete hooks.subscribing
  return hooks
}

/** A backend's `override`; one that is malformed is the backend's fault: error 100, as a result Centrifugo cannot decode. */
function backendOverride(v: unknown): SubscribeOverride | undefined {
  try {
    return overrideFromJson(v)
  } catch (err) {
    throw new Error(`proxy result: ${(err as Error).message}`)
  }
}

/** A connection's headers trimmed to the names some proxy passes on. */
function keptHeaders(config: ProxyConfig, headers: ConnectionHeaders): ConnectionHeaders {
  const all = [config.connect, config.refresh, ...Object.values(config.defaults ?? {}), ...Object.values(config.named ?? {})].filter((p): p is ProxyEndpoint => !!p)
  const transportNames = new Set(all.flatMap((p) => p.httpHeaders ?? []).map((h) => h.toLowerCase()))
  const emulatedNames = new Set(all.flatMap((p) => p.emulatedHeaders ?? []).map((h) => h.toLowerCase()))
  const pick = <V>(from: Record<string, V> | undefined, names: Set<string>) =>
    from && names.size ? Object.fromEntries(Object.entries(from).filter(([k]) => names.has(k.toLowerCase()))) : undefined
  return { transport: pick(headers.transport, transportNames), emulated: pick(headers.emulated, emulatedNames) }
}

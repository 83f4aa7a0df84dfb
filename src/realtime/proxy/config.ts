/**
 * Proxy settings (Centrifugo v6's `client.proxy.*`, `channel.proxy.*`, `rpc.*` and `proxies[]`): which backend
 * endpoint answers connect, refresh, subscribe, publish, sub_refresh and rpc, per channel and rpc namespace.
 */

/** One backend endpoint, as Centrifugo's `Proxy` object. */
export interface ProxyEndpoint {
  /** `http://` or `https://` URL that receives the JSON POST. */
  endpoint: string
  /** Longest wait for the backend's answer; past it the command fails with error 100. @default 1000 */
  timeoutMs?: number
  /** Transport headers of the connection request passed on (Centrifugo's `http_headers`), any case. */
  httpHeaders?: string[]
  /** Headers of the connect command's `headers` (client-set) passed on (Centrifugo's `emulated_headers`). */
  emulatedHeaders?: string[]
  /** Sent with every request; connection headers override them (Centrifugo's `http.static_headers`). */
  staticHeaders?: Record<string, string>
  /** `data` goes as `b64data` (base64 of its JSON) and `encoding` is `binary` (Centrifugo's `binary_encoding`). */
  binaryEncoding?: boolean
  /** The connect result's `meta` goes with every later request of the connection (Centrifugo's `include_connection_meta`). */
  includeConnectionMeta?: boolean
  /** Backend HTTP statuses answered with an error or a disconnect instead of error 100 (`http.status_to_code_transforms`). */
  statusToCodeTransforms?: StatusTransform[]
}

export interface StatusTransform {
  statusCode: number
  toError?: { code: number; message: string; temporary?: boolean }
  toDisconnect?: { code: number; reason: string }
}

/** Which proxies a channel namespace uses; each value names a proxy ('default': the kind's default endpoint). */
export interface ChannelNamespaceProxies {
  subscribe?: string
  publish?: string
  subRefresh?: string
}

export interface ProxyConfig {
  /** Connects without a token that are not the operator-chat domain's (`client.proxy.connect`). */
  connect?: ProxyEndpoint
  /** Refreshes connections the connect proxy authenticated, at their expiry, on the server (`client.proxy.refresh`). */
  refresh?: ProxyEndpoint
  /** The proxies a namespace names `default` (`channel.proxy.subscribe`, `.publish`, `.sub_refresh`, `rpc.proxy`). */
  defaults?: { subscribe?: ProxyEndpoint; publish?: ProxyEndpoint; subRefresh?: ProxyEndpoint; rpc?: ProxyEndpoint }
  /** Named proxies a namespace may name instead (`proxies[]`). */
  named?: Record<string, ProxyEndpoint>
  /** Channel namespaces that use proxies, by name; '' is channels without a namespace. */
  channelNamespaces?: Record<string, ChannelNamespaceProxies>
  /**
   * RPC namespaces (the part of a method before ':') and the proxy their calls go to; '' is methods without one.
   * `null`: the namespace exists without a proxy (108 not available); a method of an unlisted namespace is 104.
   */
  rpcNamespaces?: Record<string, string | null>
  /** After a refresh proxy failure the connection lives this much longer before the next try (Centrifugo's minute). @default 60000 */
  refreshRetryMs?: number
}

export const DEFAULT_PROXY_TIMEOUT_MS = 1000
export const DEFAULT_REFRESH_RETRY_MS = 60_000

export type ChannelProxyKind = keyof ChannelNamespaceProxies

/** The endpoint a proxy name stands for in a namespace of this kind; undefined when the name is unknown. */
export function proxyByName(config: ProxyConfig, kind: ChannelProxyKind | 'rpc', name: string): ProxyEndpoint | undefined {
  if (name === 'default') return config.defaults?.[kind]
  return config.named && Object.hasOwn(config.named, name) ? config.named[name] : undefined
}

/** Every proxy name a namespace refers to must exist: a misconfiguration stops the start, naming the key. */
export function checkProxyConfig(config: ProxyConfig): void {
  for (const [ns, kinds] of Object.entries(config.channelNamespaces ?? {})) {
    for (const [kind, name] of Object.entries(kinds) as Array<[ChannelProxyKind, string | undefined]>) {
      if (name !== undefined && !proxyByName(config, kind, name)) throw new Error(`proxy.channelNamespaces.${ns || '""'}.${kind}: no ${name === 'default' ? `default ${kind} proxy` : `proxy named "${name}"`}`)
    }
  }
  for (const [ns, name] of Object.entries(config.rpcNamespaces ?? {})) {
    if (name !== null && !proxyByName(config, 'rpc', name)) throw new Error(`proxy.rpcNamespaces.${ns || '""'}: no ${name === 'default' ? 'default rpc proxy' : `proxy named "${name}"`}`)
  }
  const endpoints = [config.connect, config.refresh, ...Object.values(config.defaults ?? {}), ...Object.values(config.named ?? {})]
  for (const p of endpoints) {
    if (p && !/^https?:\/\//.test(p.endpoint)) throw new Error(`proxy endpoint "${p.endpoint}": only http:// and https:// endpoints are supported (no gRPC)`)
  }
}

/** Whether any proxy is configured at all. */
export function hasProxies(config: ProxyConfig | undefined): config is ProxyConfig {
  if (!config) return false
  return !!(config.connect || config.refresh || Object.keys(config.channelNamespaces ?? {}).length || Object.keys(config.rpcNamespaces ?? {}).length)
}

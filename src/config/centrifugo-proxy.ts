/**
 * The proxy keys of a Centrifugo v6 configuration as livedesk's `ProxyConfig` (src/realtime/proxy/config.ts):
 * `client.proxy.connect` / `.refresh`, `channel.proxy.*`, `rpc.proxy`, `rpc.without_namespace` / `rpc.namespaces[]`,
 * `proxies[]`, and each channel namespace's `*_proxy_enabled` / `*_proxy_name` (centrifugo `internal/configtypes`).
 * Reads the parsed file as it is; src/config/centrifugo.ts calls it once and leaves these keys to it.
 */
import type { ChannelNamespaceProxies, ProxyConfig, ProxyEndpoint, StatusTransform } from '../realtime/proxy/config.js'
import { CentrifugoConfigError, parseGoDuration } from './centrifugo.js'

type Obj = Record<string, unknown>
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

function obj(v: unknown, key: string): Obj {
  if (v === undefined || v === null) return {}
  if (!isObject(v)) throw new CentrifugoConfigError(key, `must be an object, got ${JSON.stringify(v)}`)
  return v
}
function bool(o: Obj, name: string, key: string): boolean {
  const v = o[name]
  if (v === undefined || v === null) return false
  if (typeof v !== 'boolean') throw new CentrifugoConfigError(`${key}.${name}`, `must be true or false, got ${JSON.stringify(v)}`)
  return v
}
function str(o: Obj, name: string, key: string): string | undefined {
  const v = o[name]
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string') throw new CentrifugoConfigError(`${key}.${name}`, `must be a string, got ${JSON.stringify(v)}`)
  return v
}
function strings(o: Obj, name: string, key: string): string[] | undefined {
  const v = o[name]
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new CentrifugoConfigError(`${key}.${name}`, `must be a list of strings, got ${JSON.stringify(v)}`)
  return v.length ? (v as string[]) : undefined
}
function list(v: unknown, key: string): Obj[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v) || v.some((i) => !isObject(i))) throw new CentrifugoConfigError(key, `must be a list of objects, got ${JSON.stringify(v)}`)
  return v as Obj[]
}

/** One Centrifugo `Proxy` object (endpoint, timeout, headers, encoding, http.*); undefined without an endpoint. */
function endpointOf(raw: unknown, key: string, warnings: string[]): ProxyEndpoint | undefined {
  const o = obj(raw, key)
  const endpoint = str(o, 'endpoint', key)
  if (!endpoint) return undefined
  if (!/^https?:\/\//.test(endpoint)) throw new CentrifugoConfigError(`${key}.endpoint`, `"${endpoint}" is a gRPC endpoint: livedesk's proxies are HTTP only`)
  const p: ProxyEndpoint = { endpoint }
  const timeout = o.timeout
  if (timeout !== undefined && timeout !== null) {
    const ms = typeof timeout === 'string' ? parseGoDuration(timeout) : undefined
    if (ms === undefined || ms <= 0) throw new CentrifugoConfigError(`${key}.timeout`, `must be a duration such as "1s" or "500ms", got ${JSON.stringify(timeout)}`)
    p.timeoutMs = ms
  }
  const headers = strings(o, 'http_headers', key)
  if (headers) p.httpHeaders = headers.map((h) => h.toLowerCase())
  const emulated = strings(o, 'emulated_headers', key)
  if (emulated) p.emulatedHeaders = emulated.map((h) => h.toLowerCase())
  // An HTTP proxy sends the allowed gRPC metadata keys as headers; livedesk has no gRPC metadata to send.
  if (strings(o, 'grpc_metadata', key)) warnings.push(`${key}.grpc_metadata: livedesk has no gRPC API, so no metadata to pass on; ignored`)
  if (bool(o, 'binary_encoding', key)) p.binaryEncoding = true
  if (bool(o, 'include_connection_meta', key)) p.includeConnectionMeta = true
  const http = obj(o.http, `${key}.http`)
  const statics = obj(http.static_headers, `${key}.http.static_headers`)
  for (const [k, v] of Object.entries(statics)) {
    if (typeof v !== 'string') throw new CentrifugoConfigError(`${key}.http.static_headers.${k}`, `must be a string, got ${JSON.stringify(v)}`)
  }
  if (Object.keys(statics).length) p.staticHeaders = statics as Record<string, string>
  const transforms = list(http.status_to_code_transforms, `${key}.http.status_to_code_transforms`).map((t, i): StatusTransform => {
    const at = `${key}.http.status_to_code_transforms[${i}]`
    const statusCode = t.status_code
    if (typeof statusCode !== 'number' || !Number.isInteger(statusCode)) throw new CentrifugoConfigError(`${at}.status_code`, `must be an HTTP status, got ${JSON.stringify(statusCode)}`)
    const out: StatusTransform = { statusCode }
    const toError = obj(t.to_error, `${at}.to_error`)
    const toDisconnect = obj(t.to_disconnect, `${at}.to_disconnect`)
    if (typeof toError.code === 'number' && toError.code > 0) out.toError = { code: toError.code, message: str(toError, 'message', `${at}.to_error`) ?? '', temporary: bool(toError, 'temporary', `${at}.to_error`) }
    if (typeof toDisconnect.code === 'number' && toDisconnect.code > 0) out.toDisconnect = { code: toDisconnect.code, reason: str(toDisconnect, 'reason', `${at}.to_disconnect`) ?? '' }
    if (!out.toError && !out.toDisconnect) throw new CentrifugoConfigError(at, 'needs to_error.code or to_disconnect.code')
    return out
  })
  if (transforms.length) p.statusToCodeTransforms = transforms
  if (bool(obj(http.tls, `${key}.http.tls`), 'enabled', `${key}.http.tls`)) warnings.push(`${key}.http.tls: client certificates and custom CAs are not implemented (https:// uses the system's CAs); ignored`)
  return p
}

/** Keys of a namespace that name proxies: those livedesk serves, and those it does not. */
const CHANNEL_KINDS = [['subscribe', 'subscribe'], ['publish', 'publish'], ['sub_refresh', 'subRefresh']] as const

function namespaceProxies(o: Obj, key: string): ChannelNamespaceProxies | undefined {
  const out: ChannelNamespaceProxies = {}
  for (const [centrifugo, kind] of CHANNEL_KINDS) {
    if (bool(o, `${centrifugo}_proxy_enabled`, key)) out[kind] = str(o, `${centrifugo}_proxy_name`, key) ?? 'default'
  }
  return Object.keys(out).length ? out : undefined
}

/** The `proxy` options a Centrifugo file asks for (undefined when none), and warnings for what livedesk leaves out. */
export function proxyConfigFromCentrifugo(file: Obj): { proxy?: ProxyConfig; warnings: string[] } {
  const warnings: string[] = []
  const proxy: ProxyConfig = {}
  const client = obj(obj(file.client, 'client').proxy, 'client.proxy')
  for (const kind of ['connect', 'refresh'] as const) {
    const key = `client.proxy.${kind}`
    const o = obj(client[kind], key)
    if (!bool(o, 'enabled', key)) continue
    const p = endpointOf(o, key, warnings)
    if (!p) throw new CentrifugoConfigError(`${key}.endpoint`, `must be set when ${kind} proxy is enabled`)
    proxy[kind] = p
  }

  const channel = obj(file.channel, 'channel')
  const channelProxy = obj(channel.proxy, 'channel.proxy')
  const defaults: NonNullable<ProxyConfig['defaults']> = {}
  for (const [centrifugo, kind] of CHANNEL_KINDS) {
    const p = endpointOf(channelProxy[centrifugo], `channel.proxy.${centrifugo}`, warnings)
    if (p) defaults[kind] = p
  }
  for (const name of ['subscribe_stream', 'map_publish', 'map_remove', 'shared_poll_refresh']) {
    if (str(obj(channelProxy[name], `channel.proxy.${name}`), 'endpoint', `channel.proxy.${name}`)) warnings.push(`channel.proxy.${name}: this proxy is not implemented; ignored`)
  }
  const channelNamespaces: Record<string, ChannelNamespaceProxies> = {}
  const without = namespaceProxies(obj(channel.without_namespace, 'channel.without_namespace'), 'channel.without_namespace')
  if (without) channelNamespaces[''] = without
  list(channel.namespaces, 'channel.namespaces').forEach((ns, i) => {
    const name = typeof ns.name === 'string' ? ns.name : ''
    const p = namespaceProxies(ns, `channel.namespaces[${i}]`)
    if (p && name) channelNamespaces[name] = p
  })

  const rpc = obj(file.rpc, 'rpc')
  const rpcDefault = endpointOf(rpc.proxy, 'rpc.proxy', warnings)
  if (rpcDefault) defaults.rpc = rpcDefault
  const rpcNamespaces: Record<string, string | null> = {}
  const rpcWithout = obj(rpc.without_namespace, 'rpc.without_namespace')
  if (bool(rpcWithout, 'proxy_enabled', 'rpc.without_namespace')) rpcNamespaces[''] = str(rpcWithout, 'proxy_name', 'rpc.without_namespace') ?? 'default'
  list(rpc.namespaces, 'rpc.namespaces').forEach((ns, i) => {
    const key = `rpc.namespaces[${i}]`
    const name = str(ns, 'name', key)
    if (!name) throw new CentrifugoConfigError(`${key}.name`, 'must be set')
    if (Object.hasOwn(rpcNamespaces, name)) throw new CentrifugoConfigError(`${key}.name`, `"${name}" is listed twice`)
    // A namespace without its proxy still exists: its methods answer 108 not available, as in Centrifugo.
    rpcNamespaces[name] = bool(ns, 'proxy_enabled', key) ? str(ns, 'proxy_name', key) ?? 'default' : null
  })
  const boundary = str(rpc, 'namespace_boundary', 'rpc')
  if (boundary !== undefined && boundary !== ':') warnings.push(`rpc.namespace_boundary: livedesk splits RPC namespaces at ":"; "${boundary}" ignored`)
  if (bool(obj(rpc.ping, 'rpc.ping'), 'enabled', 'rpc.ping')) warnings.push('rpc.ping: the built-in ping RPC is not implemented; ignored')

  const named: Record<string, ProxyEndpoint> = {}
  list(file.proxies, 'proxies').forEach((raw, i) => {
    const key = `proxies[${i}]`
    const name = str(raw, 'name', key)
    if (!name) throw new CentrifugoConfigError(`${key}.name`, 'must be set')
    if (name === 'default') throw new CentrifugoConfigError(`${key}.name`, '"default" is reserved for the proxies of channel.proxy and rpc.proxy')
    if (Object.hasOwn(named, name)) throw new CentrifugoConfigError(`${key}.name`, `"${name}" is listed twice`)
    const p = endpointOf(raw, key, warnings)
    if (!p) throw new CentrifugoConfigError(`${key}.endpoint`, 'must be set')
    named[name] = p
  })

  if (Object.keys(defaults).length) proxy.defaults = defaults
  if (Object.keys(named).length) proxy.named = named
  if (Object.keys(channelNamespaces).length) proxy.channelNamespaces = channelNamespaces
  if (Object.keys(rpcNamespaces).length) proxy.rpcNamespaces = rpcNamespaces
  // A namespace naming a proxy that is not there stops the start, as in Centrifugo.
  for (const [ns, kinds] of Object.entries(channelNamespaces)) {
    for (const [kind, name] of Object.entries(kinds) as Array<[keyof ChannelNamespaceProxies, string]>) {
      const exists = name === 'default' ? !!defaults[kind] : Object.hasOwn(named, name)
      const centrifugoKind = kind === 'subRefresh' ? 'sub_refresh' : kind
      if (!exists) throw new CentrifugoConfigError(ns ? `channel.namespaces.${ns}.${centrifugoKind}_proxy_name` : `channel.without_namespace.${centrifugoKind}_proxy_name`, `no proxy named "${name}"${name === 'default' ? ` (set channel.proxy.${centrifugoKind}.endpoint)` : ''}`)
    }
  }
  for (const [ns, name] of Object.entries(rpcNamespaces)) {
    if (name === null) continue
    const exists = name === 'default' ? !!defaults.rpc : Object.hasOwn(named, name)
    if (!exists) throw new CentrifugoConfigError(ns ? `rpc.namespaces.${ns}.proxy_name` : 'rpc.without_namespace.proxy_name', `no proxy named "${name}"${name === 'default' ? ' (set rpc.proxy.endpoint)' : ''}`)
  }
  return { proxy: Object.keys(proxy).length ? proxy : undefined, warnings }
}

/** Keys of a channel namespace this parser reads (src/config/centrifugo.ts leaves them to it). */
export const NAMESPACE_PROXY_KEYS_READ = [
  'subscribe_proxy_enabled', 'subscribe_proxy_name', 'publish_proxy_enabled', 'publish_proxy_name', 'sub_refresh_proxy_enabled', 'sub_refresh_proxy_name',
]

/**
 * A Centrifugo v6 JSON configuration file as livedesk's options: each key Centrifugo defines (centrifugo
 * `internal/configtypes`) mapped to `LivedeskOptions`. A key livedesk does not implement is a start-up warning naming
 * it; one whose absence would weaken what the file asks for (other token algorithms, audiences) is an error, as is a
 * value of the wrong type. Durations are Go duration strings (`"300s"`, `"1h30m"`, `"50ms"`).
 */
import { createPublicKey } from 'node:crypto'
import type { LivedeskOptions } from '../main.js'
import { CENTRIFUGO_CHANNEL_RULES, type ChannelRules, type SharedPollNamespaceOptions } from '../realtime/channel-rules.js'
import { DEFAULT_NAMESPACE, type NamespaceOptions } from '../realtime/config.js'
import { isDeltaType, type DeltaType } from '../realtime/delta.js'
import type { MapNamespaceOptions, SubscriptionTypeName } from '../realtime/map-config.js'
import { NAMESPACE_PROXY_KEYS_READ, proxyConfigFromCentrifugo } from './centrifugo-proxy.js'

/** Top-level sections that only a Centrifugo configuration has: one of them makes a file Centrifugo's. */
const CENTRIFUGO_SECTIONS = [
  'client', 'channel', 'http_api', 'grpc_api', 'log', 'engine', 'broker', 'presence_manager', 'map_broker', 'http_server',
  'websocket', 'sse', 'http_stream', 'uni_websocket', 'uni_sse', 'uni_http_stream', 'uni_grpc', 'webtransport', 'emulation',
  'rpc', 'proxies', 'shared_poll', 'consumers', 'admin', 'prometheus', 'health', 'swagger', 'debug', 'node', 'shutdown',
  'controller', 'opentelemetry', 'graphite', 'usage_stats', 'init', 'pid_file', 'enable_unreleased_features',
]

/** A configuration file in Centrifugo's shape rather than livedesk's (whose keys are camelCase and never these). */
export function isCentrifugoConfig(value: unknown): value is Record<string, unknown> {
  return isObject(value) && Object.keys(value).some((k) => CENTRIFUGO_SECTIONS.includes(k))
}

export interface CentrifugoTranslation {
  options: LivedeskOptions
  /** Keys livedesk does not implement, each naming the key (logged at start). */
  warnings: string[]
}

/** A Centrifugo configuration that cannot be used as it is: names the key. */
export class CentrifugoConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`)
    this.name = 'CentrifugoConfigError'
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }

/** A Go duration string (`"300s"`, `"1h30m"`, `"0"`) in milliseconds; undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  const s = text.trim()
  if (s === '0') return 0
  const negative = s.startsWith('-')
  const body = negative || s.startsWith('+') ? s.slice(1) : s
  if (!body) return undefined
  let ms = 0
  let rest = body
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/.exec(rest)
    if (!m) return undefined
    ms += Number(m[1]) * GO_DURATION_UNITS[m[2]!]!
    rest = rest.slice(m[0].length)
  }
  return negative ? -ms : ms
}

/** Reads one object of the file, naming each key by its path; `finish` warns about the keys nobody read. */
class Section {
  private readonly read = new Set<string>()

  constructor(readonly value: Record<string, unknown>, readonly path: string, private readonly warnings: string[]) {}

  private key(name: string): string {
    return this.path ? `${this.path}.${name}` : name
  }

  private take(name: string): unknown {
    this.read.add(name)
    return this.value[name]
  }

  has(name: string): boolean {
    return this.value[name] !== undefined && this.value[name] !== null
  }

  bool(name: string): boolean | undefined {
    const v = this.take(name)
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'boolean') throw new CentrifugoConfigError(this.key(name), `must be true or false, got ${JSON.stringify(v)}`)
    return v
  }

  int(name: string, min = 0): number | undefined {
    const v = this.take(name)
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new CentrifugoConfigError(this.key(name), `must be an integer ≥ ${min}, got ${JSON.stringify(v)}`)
    return v
  }

  str(name: string): string | undefined {
    const v = this.take(name)
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'string') throw new CentrifugoConfigError(this.key(name), `must be a string, got ${JSON.stringify(v)}`)
    return v
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.str(name)
    if (v === undefined || v === '') return undefined
    if (!values.includes(v as T)) throw new CentrifugoConfigError(this.key(name), `must be one of ${values.join(', ')}, got "${v}"`)
    return v as T
  }

  strings(name: string): string[] | undefined {
    const v = this.take(name)
    if (v === undefined || v === null) return undefined
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new CentrifugoConfigError(this.key(name), `must be a list of strings, got ${JSON.stringify(v)}`)
    return v as string[]
  }

  /** Milliseconds from a Go duration string. */
  duration(name: string): number | undefined {
    const v = this.take(name)
    if (v === undefined || v === null) return undefined
    const ms = typeof v === 'string' ? parseGoDuration(v) : undefined
    if (ms === undefined) throw new CentrifugoConfigError(this.key(name), `must be a duration such as "300s", "1h" or "50ms", got ${JSON.stringify(v)}`)
    return ms
  }

  section(name: string): Section {
    const v = this.take(name)
    if (v !== undefined && v !== null && !isObject(v)) throw new CentrifugoConfigError(this.key(name), `must be an object, got ${JSON.stringify(v)}`)
    return new Section(isObject(v) ? v : {}, this.key(name), this.warnings)
  }

  list(name: string): Array<Record<string, unknown>> {
    const v = this.take(name)
    if (v === undefined || v === null) return []
    if (!Array.isArray(v) || v.some((item) => !isObject(item))) throw new CentrifugoConfigError(this.key(name), `must be a list of objects, got ${JSON.stringify(v)}`)
    return v as Array<Record<string, unknown>>
  }

  /** A key livedesk knows but does not implement: a warning when it is set to anything but its zero value. */
  unsupported(name: string, why: string): void {
    const v = this.take(name)
    if (v === undefined || v === null || v === false || v === '' || v === 0 || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0)) return
    this.warnings.push(`${this.key(name)}: ${why}; ignored`)
  }

  /** A key whose absence in livedesk would accept what the file means to refuse: set, it stops the start. */
  refused(name: string, why: string): void {
    const v = this.take(name)
    if (v === undefined || v === null || v === false || v === '' || v === 0) return
    throw new CentrifugoConfigError(this.key(name), `${why}; livedesk cannot honour it`)
  }

  /** Keys another part reads (the proxy section): not warned about here. */
  skip(...names: string[]): void {
    for (const n of names) this.read.add(n)
  }

  /** Every key not read is a warning naming it. */
  finish(): void {
    for (const name of Object.keys(this.value)) {
      if (!this.read.has(name)) this.warnings.push(`${this.key(name)}: not implemented by livedesk (or not a Centrifugo v6 option); ignored`)
    }
  }
}

/** Centrifugo's namespace defaults: everything off (livedesk's own namespaces default to history and recovery on). */
export const CENTRIFUGO_NAMESPACE: NamespaceOptions = {
  ...DEFAULT_NAMESPACE,
  historySize: 0,
  historyTtlMs: 0,
  forceRecovery: false,
  forcePositioning: false,
  allowPositioning: false,
  allowRecovery: false,
  forcePushJoinLeave: false,
  allowTagsFilter: false,
}

const NAMESPACE_NAME = /^[-a-zA-Z0-9_.]{2,}$/
const SUBSCRIPTION_TYPES = ['stream', 'map', 'map_clients', 'map_users', 'shared_poll'] as const satisfies readonly SubscriptionTypeName[]

/** Namespace-level proxy keys (`subscribe_proxy_enabled`, `publish_proxy_name`, ...): parsed with the proxy sections by src/config/centrifugo-proxy.ts. */
export const NAMESPACE_PROXY_KEYS = [
  'subscribe_proxy_enabled', 'subscribe_proxy_name', 'publish_proxy_enabled', 'publish_proxy_name', 'sub_refresh_proxy_enabled',
  'sub_refresh_proxy_name', 'subscribe_stream_proxy_enabled', 'subscribe_stream_proxy_name', 'subscribe_stream_proxy_bidirectional',
]

function mapOptions(s: Section): MapNamespaceOptions | undefined {
  if (Object.keys(s.value).length === 0) return undefined
  const out: MapNamespaceOptions = {
    mode: s.oneOf('mode', ['ephemeral', 'recoverable', 'persistent'] as const) ?? 'ephemeral',
    keyTtlMs: s.duration('key_ttl'),
    streamSize: s.int('stream_size'),
    streamTtlMs: s.duration('stream_ttl'),
    metaTtlMs: s.duration('meta_ttl'),
    clientKey: s.oneOf('client_key', ['client_id', 'user_id'] as const),
    allowPublishForClient: s.bool('allow_publish_for_client'),
    allowPublishForSubscriber: s.bool('allow_publish_for_subscriber'),
    allowPublishForAnonymous: s.bool('allow_publish_for_anonymous'),
    allowRemoveForClient: s.bool('allow_remove_for_client'),
    allowRemoveForSubscriber: s.bool('allow_remove_for_subscriber'),
    allowRemoveForAnonymous: s.bool('allow_remove_for_anonymous'),
    removeClientOnUnsubscribe: s.bool('remove_client_on_unsubscribe'),
    defaultPageSize: s.int('default_page_size'),
    minPageSize: s.int('min_page_size'),
    maxPageSize: s.int('max_page_size'),
    liveTransitionMaxPublicationLimit: s.int('live_transition_max_publication_limit'),
    subscribeCatchUpTimeoutMs: s.duration('subscribe_catch_up_timeout'),
  }
  // Proxies: the map write and remove proxies are parsed by src/config/centrifugo-proxy.ts.
  for (const key of ['publish_proxy_enabled', 'publish_proxy_name', 'remove_proxy_enabled', 'remove_proxy_name']) s.unsupported(key, 'map proxies are not implemented yet')
  s.finish()
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as unknown as MapNamespaceOptions
}

function sharedPollOptions(s: Section): SharedPollNamespaceOptions | undefined {
  if (Object.keys(s.value).length === 0) return undefined
  const out: SharedPollNamespaceOptions = {
    proxyName: s.str('proxy_name'),
    refreshIntervalMs: s.duration('refresh_interval'),
    refreshBatchSize: s.int('refresh_batch_size'),
    maxKeysPerConnection: s.int('max_keys_per_connection'),
    mode: s.str('mode'),
    channelShutdownDelayMs: s.duration('channel_shutdown_delay'),
    trackExpiredExtraDelayMs: s.duration('track_expired_extra_delay'),
  }
  // Publishing into shared poll channels (the server API's shared poll publish) is not served: only the backend's polls.
  s.unsupported('publish_enabled', 'publishing into shared poll channels is not implemented')
  s.finish()
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as SharedPollNamespaceOptions
}

/** One namespace's (or `without_namespace`'s) options, over Centrifugo's defaults. */
function namespaceOptions(s: Section): NamespaceOptions {
  const ns: NamespaceOptions = { ...CENTRIFUGO_NAMESPACE }
  const set = <K extends keyof NamespaceOptions>(key: K, value: NamespaceOptions[K] | undefined) => {
    if (value !== undefined) ns[key] = value
  }
  set('presence', s.bool('presence'))
  set('joinLeave', s.bool('join_leave'))
  set('forcePushJoinLeave', s.bool('force_push_join_leave'))
  set('historySize', s.int('history_size'))
  set('historyTtlMs', s.duration('history_ttl'))
  set('historyMetaTtlMs', s.duration('history_meta_ttl') || undefined)
  set('forcePositioning', s.bool('force_positioning'))
  set('allowPositioning', s.bool('allow_positioning'))
  set('forceRecovery', s.bool('force_recovery'))
  set('allowRecovery', s.bool('allow_recovery'))
  set('recoveryMode', s.oneOf('force_recovery_mode', ['stream', 'cache'] as const))
  s.unsupported('auto_cache_recover', 'automatic cache recovery without the subscriber asking is not implemented')
  const deltas = s.strings('allowed_delta_types')
  if (deltas) {
    const bad = deltas.find((d) => !isDeltaType(d))
    if (bad !== undefined) throw new CentrifugoConfigError(`${s.path}.allowed_delta_types`, `unknown delta type "${bad}" (livedesk knows fossil)`)
    ns.allowedDeltaTypes = deltas as DeltaType[]
  }
  set('deltaPublish', s.bool('delta_publish'))
  set('allowTagsFilter', s.bool('allow_tags_filter'))
  set('allowSubscribe', s.bool('allow_subscribe_for_client'))
  set('allowSubscribeForAnonymous', s.bool('allow_subscribe_for_anonymous'))
  set('allowPublish', s.bool('allow_publish_for_client'))
  set('allowPublishForSubscriber', s.bool('allow_publish_for_subscriber'))
  set('allowPublishForAnonymous', s.bool('allow_publish_for_anonymous'))
  set('allowHistory', s.bool('allow_history_for_client'))
  set('allowHistoryForSubscriber', s.bool('allow_history_for_subscriber'))
  set('allowHistoryForAnonymous', s.bool('allow_history_for_anonymous'))
  set('allowPresence', s.bool('allow_presence_for_client'))
  set('allowPresenceForSubscriber', s.bool('allow_presence_for_subscriber'))
  set('allowPresenceForAnonymous', s.bool('allow_presence_for_anonymous'))
  set('allowUserLimitedChannels', s.bool('allow_user_limited_channels'))
  const regex = s.str('channel_regex')
  if (regex) {
    try {
      new RegExp(regex)
    } catch (err) {
      throw new CentrifugoConfigError(`${s.path}.channel_regex`, `not a valid regular expression: ${(err as Error).message}`)
    }
    ns.channelRegex = regex
  }
  const type = s.oneOf('subscription_type', SUBSCRIPTION_TYPES)
  if (type && type !== 'stream') ns.subscriptionType = type
  const map = mapOptions(s.section('map'))
  if (map) ns.map = map
  const poll = sharedPollOptions(s.section('shared_poll'))
  if (poll) ns.sharedPoll = poll
  set('mapClientsPresenceChannelPrefix', s.str('map_clients_presence_channel_prefix') || undefined)
  set('mapUsersPresenceChannelPrefix', s.str('map_users_presence_channel_prefix') || undefined)
  set('clientPublishDebounceIntervalMs', s.duration('client_publish_debounce_interval'))
  s.unsupported('publication_data_format', 'publication data format validation is not implemented')
  // Proxies: the namespace's proxy keys are parsed by src/config/centrifugo-proxy.ts.
  s.skip(...NAMESPACE_PROXY_KEYS_READ)
  for (const key of NAMESPACE_PROXY_KEYS.filter((k) => !NAMESPACE_PROXY_KEYS_READ.includes(k))) s.unsupported(key, 'subscription stream proxies are not implemented')
  if (ns.historySize > 0 && ns.historyTtlMs <= 0) throw new CentrifugoConfigError(`${s.path}.history_ttl`, `must be set when history_size is ${ns.historySize}`)
  if ((ns.forceRecovery || ns.forcePositioning) && ns.historySize <= 0 && ns.subscriptionType === undefined) {
    throw new CentrifugoConfigError(`${s.path}.history_size`, 'force_recovery and force_positioning need history (history_size and history_ttl)')
  }
  s.finish()
  return ns
}

/** Redis address(es) of an engine/broker section as livedesk's REDIS_URL (shards comma-separated). */
function redisUrlOf(s: Section): { url?: string; prefix?: string } {
  const redis = s.section('redis')
  const raw = redis.value.address
  redis.skip('address')
  const addresses = typeof raw === 'string' ? [raw] : Array.isArray(raw) && raw.every((a) => typeof a === 'string') ? raw as string[] : undefined
  if (raw !== undefined && !addresses) throw new CentrifugoConfigError(`${redis.path}.address`, `must be a string or a list of strings, got ${JSON.stringify(raw)}`)
  const user = redis.str('user')
  const password = redis.str('password')
  const db = redis.int('db')
  const prefix = redis.str('prefix')
  const auth = password ? `${encodeURIComponent(user ?? '')}:${encodeURIComponent(password)}@` : ''
  const url = (addresses ?? ['127.0.0.1:6379']).map((a) => {
    const withScheme = /^rediss?:\/\//.test(a) ? a : `redis://${auth}${a}`
    return db ? `${withScheme.replace(/\/\d*$/, '')}/${db}` : withScheme
  }).join(',')
  redis.finish()
  return { url, prefix }
}

const LOG_LEVELS: Record<string, string> = { none: 'silent', trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', error: 'error' }

/** Translates a parsed Centrifugo v6 configuration. Throws CentrifugoConfigError naming the key at fault. */
export function fromCentrifugo(config: Record<string, unknown>): CentrifugoTranslation {
  const warnings: string[] = []
  const root = new Section(config, '', warnings)
  const realtime: NonNullable<LivedeskOptions['realtime']> = {}
  const options: LivedeskOptions = { realtime }
  const put = <T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined) => {
    if (value !== undefined) target[key] = value
  }

  // ---- client -----------------------------------------------------------------------------
  const client = root.section('client')
  put(realtime, 'insecure', client.bool('insecure'))
  put(realtime, 'allowedOrigins', client.strings('allowed_origins'))
  put(realtime, 'maxSubscriptions', client.int('channel_limit'))
  // Centrifugo's defaults where livedesk's differ: no per-user limit, 300 publications per history call, 25 s to refresh.
  realtime.connectionsPerUser = client.int('user_connection_limit') ?? 0
  put(realtime, 'maxConnections', client.int('connection_limit') || undefined)
  realtime.clientHistoryMaxPublications = client.int('history_max_publication_limit', 1) ?? 300
  put(realtime, 'recoveryMaxPublications', client.int('recovery_max_publication_limit'))
  realtime.expiredCloseDelayMs = client.duration('expired_close_delay') ?? 25_000
  put(realtime, 'staleCloseDelayMs', client.duration('stale_close_delay'))
  put(realtime, 'maxQueueBytes', client.int('queue_max_size', 1))
  put(realtime, 'disallowAnonymousConnectionTokens', client.bool('disallow_anonymous_connection_tokens'))
  // -1 turns pings (pong checks) off in Centrifugo; 0 does in livedesk.
  const ping = client.duration('ping_interval')
  put(realtime, 'pingIntervalMs', ping === undefined ? undefined : Math.max(0, ping))
  const pong = client.duration('pong_timeout')
  put(realtime, 'pongTimeoutMs', pong === undefined ? undefined : Math.max(0, pong))
  const token = client.section('token')
  put(realtime, 'hmacSecret', token.str('hmac_secret_key') || undefined)
  // One key verifies JWTs: the HMAC secret, or an RSA (RS256) or ECDSA (ES256) public key.
  const rsa = token.str('rsa_public_key') || undefined
  const ecdsa = token.str('ecdsa_public_key') || undefined
  const keys = [realtime.hmacSecret && 'hmac_secret_key', rsa && 'rsa_public_key', ecdsa && 'ecdsa_public_key'].filter(Boolean)
  if (keys.length > 1) throw new CentrifugoConfigError(`client.token.${keys[1]}`, `livedesk verifies JWTs with one key; ${keys.join(' and ')} are both set`)
  if (rsa || ecdsa) {
    const pem = (rsa ?? ecdsa)!
    let type: string | undefined
    try {
      type = createPublicKey(pem).asymmetricKeyType
    } catch {
      type = undefined
    }
    if (type !== (rsa ? 'rsa' : 'ec')) throw new CentrifugoConfigError(`client.token.${keys[0]}`, `must be a PEM ${rsa ? 'RSA' : 'ECDSA'} public key (-----BEGIN PUBLIC KEY-----)`)
    realtime.tokenPublicKey = { pem, algorithm: rsa ? 'RS256' : 'ES256' }
  }
  token.refused('jwks_public_endpoint', 'JWKS-verified tokens are not implemented (HS256 secret, RSA or ECDSA public key only)')
  token.refused('audience', 'the aud check is not implemented')
  token.refused('audience_regex', 'the aud check is not implemented')
  token.refused('issuer', 'the iss check is not implemented')
  token.refused('issuer_regex', 'the iss check is not implemented')
  token.refused('user_id_claim', 'livedesk reads the user from sub')
  token.unsupported('hmac_previous_secret_key', 'key rotation is not implemented: tokens signed with the previous key are refused')
  token.unsupported('hmac_previous_secret_key_valid_until', 'key rotation is not implemented')
  token.finish()
  client.section('subscription_token').refused('enabled', 'separate subscription token keys are not implemented (subscription tokens would be checked with the connection key)')
  client.refused('insecure_skip_token_signature_verify', 'livedesk always verifies token signatures')
  put(realtime, 'allowAnonymousConnectWithoutToken', client.bool('allow_anonymous_connect_without_token'))
  client.unsupported('concurrency', 'livedesk handles a connection\'s commands one at a time, in order')
  client.unsupported('expired_sub_close_delay', 'subscriptions use client.expired_close_delay')
  client.unsupported('presence_update_interval', 'presence is refreshed at a third of its TTL')
  client.unsupported('channel_position_check_delay', 'positions are checked on every publication')
  client.unsupported('channel_position_max_time_lag', 'positions are checked on every publication')
  client.unsupported('connection_rate_limit', 'use CONNECTS_PER_IP_PER_SECOND (per address)')
  client.unsupported('connect_include_server_time', 'not implemented')
  client.unsupported('user_id_http_header', 'not implemented')
  client.unsupported('subscribe_to_user_personal_channel', 'not implemented')
  client.unsupported('connect_code_to_unidirectional_disconnect', 'not implemented')
  // Proxies: client.proxy is parsed by src/config/centrifugo-proxy.ts.
  client.skip('proxy')
  client.finish()

  // ---- server API ---------------------------------------------------------------------------
  const httpApi = root.section('http_api')
  put(options, 'apiKey', httpApi.str('key') || undefined)
  httpApi.unsupported('insecure', 'the server API always needs its key (API_KEY)')
  httpApi.unsupported('disabled', 'the server API is always served')
  httpApi.unsupported('handler_prefix', 'the server API is at /api')
  httpApi.unsupported('external', 'livedesk has one port')
  put(options, 'serverApiErrorMode', httpApi.oneOf('error_mode', ['default', 'transport'] as const))
  httpApi.finish()

  // ---- channels -----------------------------------------------------------------------------
  const channel = root.section('channel')
  const rules: ChannelRules = { ...CENTRIFUGO_CHANNEL_RULES }
  put(rules, 'namespaceBoundary', channel.str('namespace_boundary') || undefined)
  put(rules, 'userBoundary', channel.str('user_boundary') || undefined)
  put(rules, 'userSeparator', channel.str('user_separator') || undefined)
  put(rules, 'privatePrefix', channel.str('private_prefix') || undefined)
  put(rules, 'maxLength', channel.int('max_length', 1))
  realtime.channelRules = rules
  put(realtime, 'historyMetaTtlMs', channel.duration('history_meta_ttl') || undefined)
  channel.unsupported('publication_data_format', 'publication data format validation is not implemented')
  realtime.defaultNamespace = namespaceOptions(channel.section('without_namespace'))
  const namespaces: Record<string, NamespaceOptions> = {}
  channel.list('namespaces').forEach((raw, i) => {
    const s = new Section(raw, `channel.namespaces[${i}]`, warnings)
    const name = s.str('name')
    if (!name || !NAMESPACE_NAME.test(name)) throw new CentrifugoConfigError(`channel.namespaces[${i}].name`, `must match ${NAMESPACE_NAME.source}, got ${JSON.stringify(name)}`)
    if (Object.hasOwn(namespaces, name)) throw new CentrifugoConfigError(`channel.namespaces[${i}].name`, `"${name}" is listed twice`)
    namespaces[name] = namespaceOptions(s)
  })
  realtime.namespaces = namespaces
  // Proxies: channel.proxy is parsed by src/config/centrifugo-proxy.ts.
  channel.skip('proxy')
  channel.finish()

  // ---- logging, node, HTTP server -------------------------------------------------------------
  const log = root.section('log')
  const level = log.oneOf('level', Object.keys(LOG_LEVELS))
  put(options, 'logLevel', level === undefined ? undefined : LOG_LEVELS[level])
  log.unsupported('file', 'logs go to stdout')
  log.finish()
  const node = root.section('node')
  put(realtime, 'nodeId', node.str('name') || undefined)
  node.finish()
  const httpServer = root.section('http_server')
  put(options, 'host', httpServer.str('address') || undefined)
  put(options, 'port', httpServer.int('port'))
  httpServer.finish()

  // ---- engine and brokers -------------------------------------------------------------------
  for (const name of ['engine', 'broker', 'presence_manager'] as const) {
    if (!root.has(name)) {
      root.skip(name)
      continue
    }
    const s = root.section(name)
    const type = s.oneOf('type', ['memory', 'redis', 'nats', 'postgres', 'redisnats'] as const)
    s.bool('enabled')
    if (type === 'redis') {
      const { url, prefix } = redisUrlOf(s)
      if (options.redisUrl && options.redisUrl !== url) warnings.push(`${name}.redis.address: livedesk has one Redis for broker and presence; ${options.redisUrl} is used`)
      options.redisUrl ??= url
      put(options, 'redisPrefix', prefix)
    } else if (type && type !== 'memory') {
      throw new CentrifugoConfigError(`${name}.type`, `"${type}" is not a livedesk broker (memory or redis)`)
    } else {
      s.skip('redis')
    }
    s.finish()
  }
  const mapBroker = root.section('map_broker')
  // The map broker's own connection settings are not read: a redis map broker uses REDIS_URL, a postgres one DATABASE_URL.
  put(options, 'mapBroker', mapBroker.oneOf('type', ['memory', 'redis', 'postgres'] as const))
  mapBroker.unsupported('redis', 'the map broker uses livedesk\'s Redis (engine.redis / REDIS_URL)')
  mapBroker.unsupported('postgres', 'the map broker uses livedesk\'s database (DATABASE_URL)')
  mapBroker.finish()

  // ---- transports -----------------------------------------------------------------------------
  const websocket = root.section('websocket')
  websocket.refused('disabled', 'livedesk always serves WebSocket')
  put(realtime, 'maxFrameBytes', websocket.int('message_size_limit', 1))
  websocket.unsupported('compression', 'permessage-deflate is not offered')
  websocket.unsupported('handler_prefix', 'WebSocket is at /connection/websocket and /centrifugo/connection/websocket')
  websocket.finish()
  // livedesk serves these at Centrifugo's paths whatever the file says: enabling them changes nothing.
  for (const name of ['http_stream', 'sse', 'uni_websocket', 'uni_sse', 'uni_http_stream'] as const) {
    const s = root.section(name)
    if (s.bool('enabled') === false && name !== 'http_stream' && name !== 'sse') warnings.push(`${name}.enabled: false, but livedesk serves ${name} anyway`)
    if (name === 'http_stream' || name === 'sse') put(options, 'emulationMaxRequestBytes', s.int('max_request_body_size', 1))
    s.finish()
  }
  for (const name of ['uni_grpc', 'webtransport'] as const) {
    const s = root.section(name)
    s.unsupported('enabled', `${name} is not implemented`)
    s.finish()
  }
  const emulation = root.section('emulation')
  put(options, 'emulationMaxRequestBytes', emulation.int('max_request_body_size', 1))
  emulation.finish()
  const health = root.section('health')
  health.bool('enabled') // /health is always served
  health.finish()
  const prometheus = root.section('prometheus')
  prometheus.bool('enabled') // /metrics is always served
  prometheus.finish()

  // ---- shared poll (src/realtime/shared-poll.ts) ----
  const sharedPoll = root.section('shared_poll')
  put(realtime, 'sharedPollHmacSecret', sharedPoll.str('hmac_secret_key') || undefined)
  sharedPoll.unsupported('hmac_previous_secret_key', 'secret rotation for shared poll signatures is not implemented')
  sharedPoll.finish()

  // Proxies: `proxies`, `rpc`, client.proxy and channel.proxy, parsed by src/config/centrifugo-proxy.ts.
  const proxies = proxyConfigFromCentrifugo(config)
  if (proxies.proxy) options.proxy = proxies.proxy
  warnings.push(...proxies.warnings)
  root.skip('proxies', 'rpc')

  for (const name of ['admin', 'swagger', 'debug', 'grpc_api', 'consumers', 'opentelemetry', 'graphite', 'controller', 'init', 'pid_file', 'enable_unreleased_features', 'shutdown']) {
    root.unsupported(name, 'not implemented by livedesk')
  }
  root.skip('usage_stats')
  root.finish()
  return { options, warnings }
}

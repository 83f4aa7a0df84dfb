/**
 * livedesk's configuration: built-in defaults, then a `--config` file (JSON, checked against the one schema in
 * ./schema.ts), then environment variables, each over the one before, key by key. `--print-config` shows the result.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Compile } from 'typebox/compile'
import type { LivedeskOptions } from '../main.js'
import { DEFAULT_DOMAIN_CONFIG } from '../domain/config.js'
import { DEFAULT_ATTACHMENT_MAX_BYTES, DEFAULT_ATTACHMENT_TYPES, DEFAULT_ATTACHMENT_UNSENT_TTL_MS } from '../domain/attachments.js'
import { DEFAULT_HTTP_TIMEOUTS } from '../http/timeouts.js'
import { DEFAULT_NAMESPACE, DEFAULT_REALTIME_CONFIG, type RealtimeConfig } from '../realtime/config.js'
import { envOptions } from './env.js'
import { ConfigSchema } from './schema.js'
import { CentrifugoConfigError, fromCentrifugo, isCentrifugoConfig } from './centrifugo.js'

export { ConfigSchema } from './schema.js'
export { envOptions } from './env.js'

/** Every channel keeps history with recovery and tracks presence unless a namespace says otherwise. */
export const LIVEDESK_NAMESPACE = { ...DEFAULT_NAMESPACE, historySize: 1000, historyTtlMs: 3_600_000, presence: true }

/** How long past its token's expiry a connection may still refresh before it is closed with 3005 (Centrifugo gives 25 s). */
const EXPIRED_CLOSE_DELAY_MS = 5_000

/** What `npm start` uses for the options nothing sets. */
export const DEFAULT_OPTIONS = {
  port: 8000,
  host: '0.0.0.0',
  dataDir: './data',
  logLevel: 'info',
  demo: false,
  apiKeyInQuery: false,
  serverApiErrorMode: 'default',
  drainDelayMs: 0,
} satisfies LivedeskOptions

/** The gateway's settings for these options: built-in defaults, livedesk's default namespace, then the options. */
export function realtimeConfigOf(options: LivedeskOptions): RealtimeConfig {
  const given = options.realtime ?? {}
  return {
    ...DEFAULT_REALTIME_CONFIG,
    expiredCloseDelayMs: EXPIRED_CLOSE_DELAY_MS,
    nodeId: `livedesk-${randomBytes(3).toString('hex')}`,
    ...given,
    // A file or HISTORY_SIZE may set some keys of the default namespace; the others keep livedesk's.
    defaultNamespace: { ...LIVEDESK_NAMESPACE, ...given.defaultNamespace },
    namespaces: { ...given.namespaces },
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Each layer over the ones before, key by key in nested objects; arrays and scalars replace; undefined leaves be. */
export function mergeOptions<T extends object>(...layers: Array<Partial<T> | undefined>): T {
  const out: Record<string, unknown> = {}
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer ?? {})) {
      if (value === undefined) continue
      out[key] = isPlainObject(value) && isPlainObject(out[key]) ? mergeOptions(out[key] as object, value) : value
    }
  }
  return out as T
}

/** Options from the environment over the defaults (no file). */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv.slice(2)): LivedeskOptions {
  return mergeOptions<LivedeskOptions>(DEFAULT_OPTIONS, envOptions(env, argv))
}

/** A configuration that cannot be used: the message names the file and the key. */
export class ConfigError extends Error {
  constructor(message: string, readonly key?: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

const validator = Compile(ConfigSchema)

/** Checks a parsed configuration file; throws ConfigError naming `source` and the first key at fault. */
export function checkConfig(value: unknown, source = 'config'): LivedeskOptions {
  if (validator.Check(value)) return value as LivedeskOptions
  const errors = [...validator.Errors(value)]
  // An unknown key is reported as such, not as the `false` schema its value meets.
  const unknown = errors.find((e) => e.keyword === 'additionalProperties')
  const error = unknown ?? errors[0]
  const at = (error?.instancePath ?? '').replace(/^\//, '').split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (unknown) {
    const name = (unknown.params as { additionalProperties: string[] }).additionalProperties[0]!
    const key = [...at, name].join('.')
    if (at.at(-1) === 'namespaces') throw new ConfigError(`${source}: ${key}: "${name}" is not a namespace name (1 to 64 of A-Z a-z 0-9 _ . -)`, key)
    throw new ConfigError(`${source}: unknown key "${key}"`, key)
  }
  const key = at.join('.') || '(root)'
  throw new ConfigError(`${source}: ${key}: ${error?.message ?? 'is invalid'}`, key)
}

/** What the schema cannot say: history needs a lifetime, as Centrifugo requires history_ttl with history_size. */
function checkNamespaces(options: LivedeskOptions, source: string): void {
  const realtime = options.realtime
  if (!realtime) return
  const named = Object.entries(realtime.namespaces ?? {}).map(([name, ns]) => [`realtime.namespaces.${name}`, { ...LIVEDESK_NAMESPACE, ...realtime.defaultNamespace, ...ns }] as const)
  for (const [key, ns] of [['realtime.defaultNamespace', { ...LIVEDESK_NAMESPACE, ...realtime.defaultNamespace }] as const, ...named]) {
    if (ns.historySize > 0 && ns.historyTtlMs <= 0) throw new ConfigError(`${source}: ${key}.historyTtlMs: must be > 0 when historySize is ${ns.historySize}`, `${key}.historyTtlMs`)
  }
}

/** Reads and checks a JSON configuration file. */
export function readConfigFile(path: string): LivedeskOptions {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`${path}: cannot read: ${(err as Error).message}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${path}: not valid JSON: ${(err as Error).message}`)
  }
  // A Centrifugo v6 file (told by its sections: client, channel, http_api, ...) is translated (./centrifugo.ts).
  if (isCentrifugoConfig(value)) return readCentrifugoConfig(value, path)
  const { $schema: _schema, ...options } = checkConfig(value, path) as LivedeskOptions & { $schema?: string }
  checkNamespaces(options, path)
  return options
}

/** A Centrifugo configuration as options; its keys livedesk ignores become start-up warnings. */
function readCentrifugoConfig(value: Record<string, unknown>, path: string): LivedeskOptions {
  const livedeskKey = Object.keys(value).find((k) => k !== '$schema' && Object.hasOwn(ConfigSchema.properties, k))
  if (livedeskKey) throw new ConfigError(`${path}: "${livedeskKey}" is a livedesk key in a Centrifugo configuration (one file is one or the other)`, livedeskKey)
  try {
    const { options, warnings } = fromCentrifugo(value)
    return warnings.length ? { ...options, startupWarnings: warnings.map((w) => `${path}: ${w}`) } : options
  } catch (err) {
    if (err instanceof CentrifugoConfigError) throw new ConfigError(`${path}: ${err.message}`, err.key)
    throw err
  }
}

/** `--config <file>`, `--config=<file>`, else LIVEDESK_CONFIG. */
export function configPathOf(argv: string[], env: NodeJS.ProcessEnv): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--config') {
      const next = argv[i + 1]
      if (!next || next.startsWith('--')) throw new ConfigError('--config needs a file: --config livedesk.json')
      return next
    }
    if (arg.startsWith('--config=')) return arg.slice('--config='.length)
  }
  return env.LIVEDESK_CONFIG || undefined
}

/** The options `npm start` runs with: defaults, then the configuration file if any, then the environment. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv.slice(2)): LivedeskOptions {
  const path = configPathOf(argv, env)
  const file = path ? readConfigFile(path) : {}
  return mergeOptions<LivedeskOptions>(DEFAULT_OPTIONS, file, envOptions(env, argv))
}

const MASK = '********'
const SECRET_KEYS = new Set(['apiKey', 'metricsToken', 'operatorJwtSecret', 'hmacSecret', 'sharedPollHmacSecret', 'secretAccessKey'])

/** A URL's password replaced by the mask. */
function maskUrl(url: string): string {
  try {
    const u = new URL(url)
    if (!u.password) return url
    u.password = MASK
    return u.toString()
  } catch {
    return MASK
  }
}

/**
 * The effective configuration as `--print-config` shows it: every setting with the value it will have (built-in
 * defaults filled in), secrets masked, URLs without their passwords. The node id is drawn at start unless set.
 */
export function printableConfig(options: LivedeskOptions): Record<string, unknown> {
  const { hooks: _hooks, ...rest } = options
  const realtime = realtimeConfigOf(options)
  const effective = mergeOptions<Record<string, unknown>>(
    {
      httpTimeouts: DEFAULT_HTTP_TIMEOUTS,
      domain: DEFAULT_DOMAIN_CONFIG,
      attachments: { maxBytes: DEFAULT_ATTACHMENT_MAX_BYTES, types: DEFAULT_ATTACHMENT_TYPES, storage: options.databaseUrl ? 'database' : 'disk', unsentTtlMs: DEFAULT_ATTACHMENT_UNSENT_TTL_MS },
    },
    rest,
    { realtime: { ...realtime, nodeId: options.realtime?.nodeId ?? 'livedesk-<random at start>' } },
  )
  const mask = (value: unknown, key?: string): unknown => {
    if (key && SECRET_KEYS.has(key) && typeof value === 'string') return MASK
    if ((key === 'databaseUrl' || key === 'redisUrl') && typeof value === 'string') return maskUrl(value)
    // Proxy static headers usually carry the backend's credentials (Authorization, X-Api-Key): names shown, values masked.
    if (key === 'staticHeaders' && isPlainObject(value)) return Object.fromEntries(Object.keys(value).map((k) => [k, MASK]))
    if (Array.isArray(value)) return value.map((v) => mask(v))
    if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v, k)]))
    return value
  }
  return mask(effective) as Record<string, unknown>
}

/** The schema as served for editors and written to docs/config.schema.json. */
export function configSchemaJson(): string {
  return JSON.stringify(ConfigSchema, null, 2) + '\n'
}

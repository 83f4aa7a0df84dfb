/**
 * Centrifugo's server HTTP API (v5/v6): `POST /api/<method>` and the legacy `POST /api` with
 * `{method, params}`. Same bodies and results, so a backend written for Centrifugo publishes here unchanged:
 * HTTP 200 with `{result}` or `{error:{code,message}}`; 401 for a wrong key; 400 for a body that is not JSON.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { Disconnect, ReplyError } from '../protocol/codes.js'
import type { Node } from '../realtime/node.js'
import { ChannelPatternError, compileChannelPattern, matchingEntries } from './channel-pattern.js'
import { DEFAULT_MAX_JSON_DEPTH, parseJsonBody } from './json-body.js'
import { secretMatcher } from './secret.js'
import { badRequest, dataJsonOf, isObject, str, tagsOf, type Params } from './server-api-params.js'
import { mapApiMethods } from './server-api-map.js'
import { LegacyCommandStream, legacyMethodName, parseLegacyStream } from './server-api-legacy.js'
import { overrideFromJson } from '../realtime/subscribe-override.js'
import { checkNamespaceKnown } from '../realtime/channel-rules.js'

export interface ServerApiOptions {
  node: Node
  apiKey: string
  /**
   * Also take the key from `?api_key=` as Centrifugo does. Off by default: a key in a URL ends up in proxy
   * logs and browser history. @default false
   */
  keyInQuery?: boolean
  /** Longest `pattern` of the `channels` method, in characters. @default 256 */
  channelPatternMaxLength?: number
  /** Deepest nesting of a JSON body; deeper is a 400 before parsing. @default 32 */
  maxJsonDepth?: number
  /** `transport`: every error as its HTTP status (Centrifugo's `http_api.error_mode`); else per request by header. @default 'default' */
  errorMode?: 'default' | 'transport'
}

type Method = (p: Params) => Promise<unknown>

/** Centrifugo's `delta`: publish with the channel's previous publication, for delta subscribers. */
function deltaOf(p: Params): boolean {
  if (p.delta === undefined || p.delta === null) return false
  if (typeof p.delta !== 'boolean') throw badRequest('delta must be a boolean')
  return p.delta
}

/** `info` (a JSON value) or `b64info` holding JSON; undefined when neither is set. */
function infoOf(p: Params): unknown {
  if (p.info !== undefined && p.info !== null) return p.info
  if (p.b64info === undefined || p.b64info === null || p.b64info === '') return undefined
  if (typeof p.b64info !== 'string') throw badRequest('b64info must be a string')
  try {
    return JSON.parse(Buffer.from(p.b64info, 'base64').toString('utf8'))
  } catch {
    throw badRequest('b64info must hold JSON for JSON-protocol clients')
  }
}

/** A Centrifugo `StreamPosition` field (`{offset, epoch}`), or undefined when absent. */
function positionOf(p: Params, field: string): { offset: number; epoch: string } | undefined {
  const v = p[field]
  if (v === undefined || v === null) return undefined
  if (!isObject(v)) throw badRequest(`${field} must be an object`)
  if (v.offset !== undefined && (typeof v.offset !== 'number' || !Number.isInteger(v.offset) || v.offset < 0)) throw badRequest(`${field}.offset must be a non-negative integer`)
  if (v.epoch !== undefined && typeof v.epoch !== 'string') throw badRequest(`${field}.epoch must be a string`)
  return { offset: (v.offset as number | undefined) ?? 0, epoch: (v.epoch as string | undefined) ?? '' }
}

/** Centrifugo's `version` and `version_epoch` of publish and broadcast; version 0 is none. */
function versionOf(p: Params): { version?: number; versionEpoch?: string } {
  const v = p.version
  if (v === undefined || v === null || v === 0) return {}
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw badRequest('version must be a non-negative integer')
  return { version: v, versionEpoch: str(p, 'version_epoch', false) }
}

/** Unix seconds, or undefined when absent or 0. */
function unixOf(p: Params, field: string): number | undefined {
  const v = p[field]
  if (v === undefined || v === null || v === 0) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw badRequest(`${field} must be Unix seconds`)
  return v
}

/**
 * Methods of Centrifugo v6's server API that only Centrifugo PRO serves (api.proto lists them; the OSS handler
 * has no route for them and its batch answers them 104 not found). livedesk answers them the same way.
 */
export const PRO_ONLY_METHODS: readonly string[] = [
  'connections', 'update_user_status', 'get_user_status', 'delete_user_status', 'block_user', 'unblock_user', 'revoke_token',
  'invalidate_user_tokens', 'device_register', 'device_update', 'device_remove', 'device_list', 'device_topic_list',
  'device_topic_update', 'user_topic_list', 'user_topic_update', 'send_push_notification', 'update_push_status', 'cancel_push',
]

/** Centrifugo's `MapErrorToHTTPCode`: the HTTP status of an error in transport error mode. */
function httpStatusOf(code: number): number {
  switch (code) {
    case 102: case 104: return 404
    case 107: case 108: return 400
    case 112: return 416
    case 113: return 409
    default: return 500
  }
}

/** The key from `X-API-Key` or `Authorization: apikey <key>`, and from `?api_key=` only when `inQuery`. */
function presentedKey(req: FastifyRequest, inQuery: boolean): string | undefined {
  const header = req.headers['x-api-key']
  if (typeof header === 'string') return header
  const auth = req.headers.authorization
  if (auth?.toLowerCase().startsWith('apikey ')) return auth.slice(7).trim()
  if (!inQuery) return undefined
  const q = (req.query as Params | undefined)?.api_key
  return typeof q === 'string' ? q : undefined
}

export function serverApiMethods(node: Node, opts: { channelPatternMaxLength?: number } = {}): Record<string, Method> {
  const patternMaxLength = opts.channelPatternMaxLength ?? 256
  const publish: Method = async (p) => {
    const channel = str(p, 'channel')!
    return node.publishJson(channel, dataJsonOf(p), { skipHistory: p.skip_history === true, tags: tagsOf(p), idempotencyKey: str(p, 'idempotency_key', false), delta: deltaOf(p), ...versionOf(p) })
  }
  const methods: Record<string, Method> = {
    publish,
    broadcast: async (p) => {
      if (!Array.isArray(p.channels) || p.channels.length === 0) throw badRequest('channels must be a non-empty array')
      if (!p.channels.every((c) => typeof c === 'string' && c !== '')) throw badRequest('channels must hold channel names')
      const dataJson = dataJsonOf(p)
      const tags = tagsOf(p)
      const idempotencyKey = str(p, 'idempotency_key', false)
      const delta = deltaOf(p)
      const version = versionOf(p)
      const responses = await Promise.all(
        (p.channels as string[]).map((channel) =>
          node.publishJson(channel, dataJson, { skipHistory: p.skip_history === true, tags, idempotencyKey, delta, ...version }).then(
            (result) => ({ result }),
            (err) => ({ error: toApiError(err) }),
          ),
        ),
      )
      return { responses }
    },
    subscribe: async (p) => {
      const channel = str(p, 'channel')!
      checkNamespaceKnown(node.config, channel)
      let override
      try {
        override = overrideFromJson(p.override)
      } catch (err) {
        throw badRequest((err as Error).message)
      }
      const data = p.data !== undefined ? p.data : p.b64data !== undefined && p.b64data !== '' ? JSON.parse(dataJsonOf({ b64data: p.b64data })) : undefined
      const options = { expireAt: unixOf(p, 'expire_at'), channelInfo: infoOf(p), override, recoverSince: positionOf(p, 'recover_since') }
      await node.subscribeUser(str(p, 'user', false) ?? '', channel, { client: str(p, 'client', false), session: str(p, 'session', false), data, options })
      return {}
    },
    unsubscribe: async (p) => {
      await node.unsubscribeUser(str(p, 'user', false) ?? '', str(p, 'channel')!, { client: str(p, 'client', false), session: str(p, 'session', false) })
      return {}
    },
    disconnect: async (p) => {
      let code = 3503
      let reason = 'force disconnect'
      if (p.disconnect !== undefined) {
        if (!isObject(p.disconnect) || typeof p.disconnect.code !== 'number') throw badRequest('disconnect.code must be a number')
        code = p.disconnect.code
        if (code < 3000 || code > 4999) throw badRequest('disconnect.code must be within 3000-4999')
        reason = typeof p.disconnect.reason === 'string' && p.disconnect.reason ? p.disconnect.reason : new Disconnect(code, '').reconnect ? 'reconnect' : 'disconnect'
      }
      const whitelist = Array.isArray(p.whitelist) ? p.whitelist.filter((c): c is string => typeof c === 'string') : undefined
      await node.disconnectUser(str(p, 'user', false) ?? '', code, reason, { client: str(p, 'client', false), session: str(p, 'session', false), except: whitelist })
      return {}
    },
    refresh: async (p) => {
      const expireAt = p.expire_at === undefined ? undefined : Number(p.expire_at)
      if (expireAt !== undefined && !Number.isFinite(expireAt)) throw badRequest('expire_at must be a number')
      await node.refreshUser(str(p, 'user')!, { client: str(p, 'client', false), session: str(p, 'session', false), expireAt, expired: p.expired === true, info: infoOf(p) })
      return {}
    },
    presence: async (p) => ({ presence: await node.presence(str(p, 'channel')!) }),
    presence_stats: async (p) => {
      const s = await node.presenceStats(str(p, 'channel')!)
      return { num_clients: s.numClients, num_users: s.numUsers }
    },
    history: async (p) => {
      const channel = str(p, 'channel')!
      if (p.limit !== undefined && (typeof p.limit !== 'number' || !Number.isInteger(p.limit))) throw badRequest('limit must be an integer')
      if (p.since !== undefined && p.since !== null && !isObject(p.since)) throw badRequest('since must be an object')
      const since = isObject(p.since) ? { offset: Number(p.since.offset ?? 0), epoch: String(p.since.epoch ?? '') } : undefined
      return node.historyResult(channel, { limit: p.limit as number | undefined, since, reverse: p.reverse === true })
    },
    history_remove: async (p) => {
      await node.removeHistory(str(p, 'channel')!)
      return {}
    },
    channels: async (p) => {
      const pattern = str(p, 'pattern', false)
      const all = await node.clusterChannels()
      if (!pattern) return { channels: all }
      let glob
      try {
        glob = compileChannelPattern(pattern, patternMaxLength)
      } catch (err) {
        if (err instanceof ChannelPatternError) throw badRequest(`pattern ${err.message}`)
        throw err
      }
      return { channels: Object.fromEntries(await matchingEntries(Object.entries(all), glob)) }
    },
    info: async () => ({ nodes: node.nodes.list() }),
    // Centrifugo OSS registers no server-side RPC methods of its own (PRO's user status and the like are PRO-only).
    rpc: async (p) => {
      str(p, 'method')
      throw new ReplyError(104, 'not found')
    },
    ...mapApiMethods(node),
  }
  methods.batch = async (p) => {
    if (!Array.isArray(p.commands)) throw badRequest('commands must be an array')
    const run = async (cmd: unknown) => {
      if (!isObject(cmd)) return { error: toApiError(badRequest('command must be an object')) }
      if (Object.keys(cmd).length === 0) return { error: toApiError(new ReplyError(104, 'not found')) }
      const name = Object.keys(cmd).find((k) => k !== 'batch' && methods[k])
      if (!name) return { error: toApiError(new ReplyError(104, 'not found')) }
      try {
        return { [name]: await methods[name](isObject(cmd[name]) ? (cmd[name] as Params) : {}) }
      } catch (err) {
        return { error: toApiError(err) }
      }
    }
    const commands = p.commands as unknown[]
    const replies = p.parallel === true ? await Promise.all(commands.map(run)) : await sequential(commands, run)
    return { replies }
  }
  return methods
}

async function sequential<T, R>(items: T[], fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (const item of items) out.push(await fn(item))
  return out
}

function toApiError(err: unknown): { code: number; message: string } {
  if (err instanceof ReplyError) return { code: err.code, message: err.message }
  return { code: 100, message: 'internal server error' }
}

export function serverApi(opts: ServerApiOptions): FastifyPluginAsync {
  const keyMatches = secretMatcher(opts.apiKey)
  const keyInQuery = opts.keyInQuery ?? false
  const maxJsonDepth = opts.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH
  const methods = serverApiMethods(opts.node, opts)
  const transportErrors = opts.errorMode === 'transport'

  /** One legacy command's reply line (`{id?, result}` / `{id?, error}`). */
  const legacyReply = async (req: FastifyRequest, cmd: unknown): Promise<Params> => {
    if (!isObject(cmd)) return { error: toApiError(badRequest('command must be an object')) }
    const out: Params = {}
    if (typeof cmd.id === 'number' && cmd.id > 0) out.id = cmd.id
    const name = legacyMethodName(cmd.method)!
    const params = cmd.params ?? {}
    if (!Object.hasOwn(methods, name)) return { ...out, error: { code: 104, message: 'not found' } }
    if (!isObject(params)) return { ...out, error: toApiError(badRequest('params must be a JSON object')) }
    try {
      return { ...out, result: await methods[name](params) }
    } catch (err) {
      if (!(err instanceof ReplyError)) req.log.error({ err, method: name }, 'server API method failed')
      return { ...out, error: toApiError(err) }
    }
  }

  const handle = async (req: FastifyRequest, reply: FastifyReply, name: string | undefined, params: unknown, legacy = false) => {
    // As Centrifugo: each method has its own path, so another is 404; the legacy body's unknown `method` does not decode: 400.
    if (!name || !Object.hasOwn(methods, name)) {
      return legacy
        ? reply.code(400).send({ error: { code: 107, message: 'bad request: unknown method' } })
        : reply.code(404).send({ error: { code: 104, message: 'not found' } })
    }
    if (!isObject(params)) return reply.send({ error: { code: 107, message: 'bad request: body must be a JSON object' } })
    try {
      return reply.send({ result: await methods[name](params) })
    } catch (err) {
      if (!(err instanceof ReplyError)) req.log.error({ err, method: name }, 'server API method failed')
      const error = toApiError(err)
      // Centrifugo's transport error mode (per request): the error as the HTTP status and a bare `{code, message}` body; not for batch.
      if (!legacy && name !== 'batch' && (transportErrors || req.headers['x-centrifugo-error-mode'] === 'transport')) return reply.code(httpStatusOf(error.code)).send(error)
      return reply.send({ error })
    }
  }

  return async (app: FastifyInstance) => {
    // Backends send JSON with or without a JSON content type.
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req: FastifyRequest, body, done) => {
      if (body === '') return done(null, {})
      const parsed = parseJsonBody(body as string, maxJsonDepth)
      if (parsed.ok) return done(null, parsed.value)
      const stream = _req.url.split('?')[0] === '/api' ? parseLegacyStream(body as string, (text) => parseJsonBody(text, maxJsonDepth)) : undefined
      if (stream) return done(null, stream)
      done(Object.assign(new Error(`bad request: ${parsed.error}`), { statusCode: 400 }), undefined)
    })
    app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
      reply.code(status).send({ error: { code: status === 500 ? 100 : 107, message: status === 500 ? 'internal server error' : err.message } })
    })
    app.addHook('onRequest', async (req, reply) => {
      if (!keyMatches(presentedKey(req, keyInQuery))) {
        const inQueryOnly = !keyInQuery && (req.query as Params | undefined)?.api_key !== undefined
        const message = inQueryOnly ? 'unauthorized: send the API key in X-API-Key or Authorization: apikey, not in the URL' : 'unauthorized'
        return reply.code(401).send({ error: { code: 101, message } })
      }
    })
    const schema = { hide: true }
    app.post('/api', { schema }, async (req, reply) => {
      const commands = req.body instanceof LegacyCommandStream ? req.body.commands : [req.body]
      // As Centrifugo: a body with a method it cannot decode is a 400 for the whole request.
      if (commands.some((c) => isObject(c) && legacyMethodName(c.method) === undefined)) {
        return reply.code(400).send({ error: { code: 107, message: 'bad request: unknown method' } })
      }
      const replies: Params[] = []
      for (const cmd of commands) replies.push(await legacyReply(req, cmd))
      if (replies.length === 1) return reply.send(replies[0])
      return reply.type('application/json').send(replies.map((r) => JSON.stringify(r)).join('\n'))
    })
    app.post('/api/:method', { schema }, (req, reply) => handle(req, reply, (req.params as { method: string }).method, req.body))
  }
}

/**
 * The map broker for many nodes, on Redis (after centrifuge `map_broker_redis.go`). Per channel:
 *   `<prefix>.map.meta.<ch>`   HASH  `e` epoch, `s` top offset, `ss`/`st`/`mt` stream size, stream TTL, meta TTL
 *   `<prefix>.map.state.<ch>`  HASH  key → `<offset>\n<version>\n<version epoch>\n<payload>`
 *   `<prefix>.map.stream.<ch>` STREAM of changes, entry id = offset (recoverable and persistent modes)
 * and one `<prefix>.map.expires` ZSET of `<channel bytes>:<channel><key>` by expiry time, for keys with a TTL.
 * One Lua script per write checks the conditions, changes the state, appends to the stream and PUBLISHes on
 * `<prefix>.map.client.<ch>` (`<offset>:<epoch>:[<n>:<n bytes of previous data>]:<payload>`), so every node sees a channel's changes in offset order
 * and a reader never sees a state entry without its stream entry. A payload is `<meta JSON>\n<data>`, meta
 * `{k: key, r?: 1, i?: info, t?: tags}`, so the publisher's data text travels and is stored untouched.
 * Every node sweeps expired keys with the same removal script (which re-checks the expiry), so each expiry is
 * published once whichever node gets there first.
 */
import { Redis } from 'ioredis'
import type { ClientInfo, StreamPosition } from '../protocol/types.js'
import {
  DEFAULT_MAP_IDEMPOTENT_RESULT_TTL_MS, UnrecoverablePositionError,
  type MapBroker, type MapBrokerEventHandler, type MapChannelOptions, type MapPublication, type MapPublishOptions,
  type MapRemoveOptions, type MapStateResult, type MapStreamResult, type MapUpdateResult, type SuppressReason,
} from './map-broker.js'
import { parseRedisUrl, REDIS_COMMAND_TIMEOUT_MS } from './redis-topology.js'
import { quit } from './broker-redis.js'
import { newEpoch } from './epoch.js'

export interface RedisMapBrokerOptions {
  url: string
  /** Prefix of every key and pub/sub channel. @default 'livedesk' */
  prefix?: string
  onError?: (err: Error) => void
  /** How often this node removes expired keys. @default 1_000 */
  expireIntervalMs?: number
  /** A command not answered within this is rejected (redis-topology.ts). @default REDIS_COMMAND_TIMEOUT_MS */
  commandTimeoutMs?: number
}

// Shared by the write scripts: the channel's meta, created with a new epoch (and an empty state and stream) when
// missing; its TTL and the stream options extended on each write.
const META = `
local epoch = redis.call('hget', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[7]
  redis.call('del', KEYS[2], KEYS[3])
  redis.call('hset', KEYS[1], 'e', epoch, 's', 0)
end
redis.call('hset', KEYS[1], 'ss', ARGV[4], 'st', ARGV[5], 'mt', ARGV[6])
if ARGV[6] ~= '0' then
  redis.call('pexpire', KEYS[1], ARGV[6])
  redis.call('pexpire', KEYS[2], ARGV[6])
end
local top = tonumber(redis.call('hget', KEYS[1], 's'))
`

// KEYS: meta, state, stream, expires, idempotent result ('' = none).
// ARGV: 1 key, 2 payload, 3 key TTL ms ('0' none), 4 stream size ('0' none), 5 stream TTL ms, 6 meta TTL ms ('0' none),
// 7 new epoch, 8 pub/sub channel, 9 key mode ('', if_new, if_exists), 10 refresh TTL on suppress '1'/'0', 11 now ms,
// 12 expires member, 13 version ('0' none), 14 version epoch, 15 result TTL ms, 16 '1': the message carries the
// key's previous data (for deltas) as `<offset>:<epoch>:<its byte length>:<previous data><payload>`.
// Returns {top, epoch, suppressed 0/1, reason}.
const PUBLISH_SCRIPT = `
if KEYS[5] ~= '' then
  local seen = redis.call('get', KEYS[5])
  if seen then
    local sep = string.find(seen, ':', 1, true)
    return {tonumber(string.sub(seen, 1, sep - 1)), string.sub(seen, sep + 1), 1, 'idempotency'}
  end
end
${META}
local now = tonumber(ARGV[11])
local live = redis.call('hget', KEYS[2], ARGV[1])
if live and ARGV[3] ~= '0' then
  local exp = redis.call('zscore', KEYS[4], ARGV[12])
  if exp and tonumber(exp) <= now then live = false end
end
if live and ARGV[13] ~= '0' and ARGV[4] ~= '0' then
  local _, _, ver, vep = string.find(live, '^%d+\\n(%d+)\\n([^\\n]*)\\n')
  if ver and tonumber(ver) > 0 and vep == ARGV[14] and tonumber(ARGV[13]) <= tonumber(ver) then return {top, epoch, 1, 'version'} end
end
if ARGV[9] == 'if_new' and live then
  if ARGV[10] == '1' and ARGV[3] ~= '0' then redis.call('zadd', KEYS[4], now + tonumber(ARGV[3]), ARGV[12]) end
  return {top, epoch, 1, 'key_exists'}
end
if ARGV[9] == 'if_exists' and not live then return {top, epoch, 1, 'key_not_found'} end
local offset = 0
if ARGV[4] ~= '0' then
  top = redis.call('hincrby', KEYS[1], 's', 1)
  offset = top
  redis.call('xadd', KEYS[3], 'MAXLEN', ARGV[4], offset, 'd', ARGV[2])
  redis.call('pexpire', KEYS[3], ARGV[5])
end
redis.call('hset', KEYS[2], ARGV[1], offset .. '\\n' .. ARGV[13] .. '\\n' .. ARGV[14] .. '\\n' .. ARGV[2])
if ARGV[3] ~= '0' then redis.call('zadd', KEYS[4], now + tonumber(ARGV[3]), ARGV[12]) end
local prev = ''
if ARGV[16] == '1' and live then
  local _, _, prevData = string.find(live, '^%d+\\n%d*\\n[^\\n]*\\n[^\\n]*\\n(.*)$')
  if prevData then prev = string.len(prevData) .. ':' .. prevData end
end
if prev == '' then prev = ':' end
redis.call('publish', ARGV[8], offset .. ':' .. epoch .. ':' .. prev .. ARGV[2])
if KEYS[5] ~= '' then redis.call('set', KEYS[5], top .. ':' .. epoch, 'PX', ARGV[15]) end
return {top, epoch, 0, ''}
`

// KEYS: meta, state, stream, expires, idempotent result ('' = none).
// ARGV: 1 key, 2 (unused), 3 expired before ms ('0': an explicit removal), 4 stream size, 5 stream TTL ms, 6 meta TTL ms,
// 7 new epoch, 8 pub/sub channel, 9 (unused), 10 (unused), 11 (unused), 12 expires member, 13 result TTL ms,
// 14 '1': take the stream options from the meta (the expiry sweep does not know them).
// The removal carries the removed entry's tags. Returns {top, epoch, suppressed 0/1, reason}.
const REMOVE_SCRIPT = `
if KEYS[5] ~= '' then
  local seen = redis.call('get', KEYS[5])
  if seen then
    local sep = string.find(seen, ':', 1, true)
    return {tonumber(string.sub(seen, 1, sep - 1)), string.sub(seen, sep + 1), 1, 'idempotency'}
  end
end
if ARGV[14] == '1' then
  local o = redis.call('hmget', KEYS[1], 'e', 'ss', 'st', 'mt')
  if not o[1] then
    redis.call('zrem', KEYS[4], ARGV[12])
    return {0, '', 1, 'key_not_found'}
  end
  ARGV[4], ARGV[5], ARGV[6] = o[2] or '0', o[3] or '0', o[4] or '0'
end
${META}
local existing = redis.call('hget', KEYS[2], ARGV[1])
if not existing then
  if ARGV[3] ~= '0' then redis.call('zrem', KEYS[4], ARGV[12]) end
  return {top, epoch, 1, 'key_not_found'}
end
if ARGV[3] ~= '0' then
  local exp = redis.call('zscore', KEYS[4], ARGV[12])
  if exp and tonumber(exp) > tonumber(ARGV[3]) then return {top, epoch, 1, 'key_not_found'} end
end
redis.call('hdel', KEYS[2], ARGV[1])
redis.call('zrem', KEYS[4], ARGV[12])
local _, _, metaJson = string.find(existing, '^%d+\\n%d+\\n[^\\n]*\\n([^\\n]*)\\n')
local meta = cjson.decode(metaJson)
local removal = {k = ARGV[1], r = 1}
if meta.t then removal.t = meta.t end
local payload = cjson.encode(removal) .. '\\n'
local offset = 0
if ARGV[4] ~= '0' then
  top = redis.call('hincrby', KEYS[1], 's', 1)
  offset = top
  redis.call('xadd', KEYS[3], 'MAXLEN', ARGV[4], offset, 'd', payload)
  redis.call('pexpire', KEYS[3], ARGV[5])
end
redis.call('publish', ARGV[8], offset .. ':' .. epoch .. '::' .. payload)
if KEYS[5] ~= '' then redis.call('set', KEYS[5], top .. ':' .. epoch, 'PX', ARGV[13]) end
return {top, epoch, 0, ''}
`

// The readers' start: the channel's epoch (a new one, with KEYS[2] emptied, when the meta is gone), its meta TTL
// renewed, and its top offset. KEYS[1] is the meta, ARGV[3] the new epoch, ARGV[4] the meta TTL in ms.
const READ_POSITION = `local epoch = redis.call('hget', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[3]
  redis.call('del', KEYS[2])
  redis.call('hset', KEYS[1], 'e', epoch, 's', 0)
end
if ARGV[4] ~= '0' then redis.call('pexpire', KEYS[1], ARGV[4]) end
local top = redis.call('hget', KEYS[1], 's')
`

// KEYS: meta, state, expires. ARGV: 1 cursor, 2 count (0: position only), 3 new epoch, 4 meta TTL ms, 5 now ms,
// 6 channel (for the expires members). Returns {top, epoch, next cursor, {key, value, ...}} without expired keys.
const STATE_SCRIPT = `
${READ_POSITION}if ARGV[2] == '0' then return {top, epoch, '0', {}} end
local page = redis.call('hscan', KEYS[2], ARGV[1], 'COUNT', ARGV[2])
local out = {}
local now = tonumber(ARGV[5])
for i = 1, #page[2], 2 do
  local exp = redis.call('zscore', KEYS[3], string.len(ARGV[6]) .. ':' .. ARGV[6] .. page[2][i])
  if not exp or tonumber(exp) > now then
    table.insert(out, page[2][i])
    table.insert(out, page[2][i + 1])
  end
end
return {top, epoch, page[1], out}
`

// KEYS: meta, stream. ARGV: 1 start id ('' none: position only), 2 count ('0': all), 3 new epoch, 4 meta TTL ms.
// Returns {top, epoch, entries}.
const STREAM_SCRIPT = `
${READ_POSITION}if ARGV[1] == '' then return {top, epoch, {}} end
local args = {'xrange', KEYS[2], ARGV[1], '+'}
if ARGV[2] ~= '0' then
  table.insert(args, 'COUNT')
  table.insert(args, ARGV[2])
end
return {top, epoch, redis.call(unpack(args))}
`

type StreamEntry = [id: string, fields: string[]]
type WriteReply = [number | string, string, number, string]

interface ScriptCommands {
  livedeskMapPublish(meta: string, state: string, stream: string, expires: string, result: string, ...argv: string[]): Promise<WriteReply>
  livedeskMapRemove(meta: string, state: string, stream: string, expires: string, result: string, ...argv: string[]): Promise<WriteReply>
  livedeskMapState(meta: string, state: string, expires: string, ...argv: string[]): Promise<[string | number, string, string, string[]]>
  livedeskMapStream(meta: string, stream: string, ...argv: string[]): Promise<[string | number, string, StreamEntry[]]>
}

const ms = (n: number) => String(Math.max(0, Math.ceil(n)))

export class RedisMapBroker implements MapBroker {
  private readonly prefix: string
  /** Scripts and every PUBLISH on one connection: a channel's changes leave in the order they were made. */
  private readonly cmd: Redis & ScriptCommands
  private readonly sub: Redis
  private readonly clientPrefix: string
  private readonly expiresKey: string
  private readonly onError: (err: Error) => void
  private readonly where: string
  private readonly expireIntervalMs: number
  private handler?: MapBrokerEventHandler
  /** Channels this node subscribed (resubscribed after a reconnect of the subscriber connection). */
  private readonly channels = new Set<string>()
  private subscriberReadyOnce = false
  private timer?: NodeJS.Timeout
  private sweeping = false
  private lastError?: Error

  constructor(opts: RedisMapBrokerOptions) {
    this.prefix = opts.prefix ?? 'livedesk'
    this.clientPrefix = `${this.prefix}.map.client.`
    this.expiresKey = `${this.prefix}.map.expires`
    this.expireIntervalMs = opts.expireIntervalMs ?? 1_000
    const [target, ...more] = parseRedisUrl(opts.url)
    if (more.length > 0) throw new Error('RedisMapBroker takes one Redis (a server or a Sentinel group)')
    this.where = target!.where
    const report = opts.onError ?? (() => {})
    this.onError = (err: Error) => {
      this.lastError = err
      report(err)
    }
    this.cmd = new Redis({ ...target!.options, lazyConnect: true, commandTimeout: opts.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS, connectionName: `${this.prefix}:map-cmd` }) as Redis & ScriptCommands
    // Resubscribing is ours (onSubscriberReady): subscribers must hear that changes were missed, after it is done.
    this.sub = new Redis({ ...target!.options, lazyConnect: true, autoResubscribe: false, connectionName: `${this.prefix}:map-sub` })
    this.cmd.on('error', this.onError)
    this.sub.on('error', this.onError)
    this.cmd.defineCommand('livedeskMapPublish', { numberOfKeys: 5, lua: PUBLISH_SCRIPT })
    this.cmd.defineCommand('livedeskMapRemove', { numberOfKeys: 5, lua: REMOVE_SCRIPT })
    this.cmd.defineCommand('livedeskMapState', { numberOfKeys: 3, lua: STATE_SCRIPT })
    this.cmd.defineCommand('livedeskMapStream', { numberOfKeys: 2, lua: STREAM_SCRIPT })
    this.sub.on('ready', () => void this.onSubscriberReady())
    this.sub.on('message', (redisChannel: string, message: string) => {
      // A bad message or a throwing handler must not break the subscriber connection's reader.
      try {
        this.dispatch(redisChannel, message)
      } catch (err) {
        this.onError(err as Error)
      }
    })
  }

  async run(handler: MapBrokerEventHandler): Promise<void> {
    this.handler = handler
    try {
      await Promise.all([this.cmd.status === 'wait' ? this.cmd.connect() : undefined, this.sub.status === 'wait' ? this.sub.connect() : undefined])
    } catch (err) {
      await this.close()
      throw new Error(`Redis map broker cannot reach ${this.where}: ${(this.lastError ?? (err as Error)).message}`)
    }
    this.timer = setInterval(() => void this.sweep(), this.expireIntervalMs)
    this.timer.unref()
  }

  async subscribe(channel: string): Promise<void> {
    this.channels.add(channel)
    await this.sub.subscribe(this.clientPrefix + channel)
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel)
    await this.sub.unsubscribe(this.clientPrefix + channel)
  }

  /**
   * Redis pub/sub is at most once: what was published while the subscriber connection was down is lost. After a
   * reconnect the channels are subscribed again, then the handler is told, so its subscribers resync (centrifuge
   * resubscribes only; an ephemeral map would miss those changes silently).
   */
  private async onSubscriberReady(): Promise<void> {
    if (!this.subscriberReadyOnce) return void (this.subscriberReadyOnce = true)
    try {
      if (this.channels.size > 0) await this.sub.subscribe(...[...this.channels].map((c) => this.clientPrefix + c))
    } catch (err) {
      // The connection dropped again: its next 'ready' retries.
      return this.onError(err as Error)
    }
    this.handler?.handleMapSubscriptionsLost?.([...this.channels])
  }

  async publish(channel: string, key: string, opts: MapPublishOptions, chOpts: MapChannelOptions): Promise<MapUpdateResult> {
    if (opts.versionEpoch?.includes('\n')) throw new Error('versionEpoch must not contain a newline')
    const meta: { k: string; i?: ClientInfo; t?: Record<string, string> } = { k: key }
    if (opts.info) meta.i = opts.info
    if (opts.tags && Object.keys(opts.tags).length) meta.t = opts.tags
    const reply = await this.cmd.livedeskMapPublish(
      ...this.keys(channel), this.resultKey(channel, opts.idempotencyKey),
      key, `${JSON.stringify(meta)}\n${opts.data}`, ms(chOpts.keyTtlMs), String(chOpts.streamSize), ms(chOpts.streamTtlMs),
      ms(this.metaTtl(chOpts)), newEpoch(), this.clientPrefix + channel, opts.keyMode ?? '', opts.refreshTtlOnSuppress ? '1' : '0',
      String(Date.now()), expiresMember(channel, key), String(opts.version ?? 0), opts.versionEpoch ?? '',
      ms(opts.idempotentResultTtlMs ?? DEFAULT_MAP_IDEMPOTENT_RESULT_TTL_MS), opts.useDelta ? '1' : '0',
    )
    return resultOf(reply)
  }

  async remove(channel: string, key: string, opts: MapRemoveOptions, chOpts: MapChannelOptions): Promise<MapUpdateResult> {
    return resultOf(await this.removeKey(channel, key, this.resultKey(channel, opts.idempotencyKey), '0', chOpts, opts.idempotentResultTtlMs))
  }

  private removeKey(channel: string, key: string, resultKey: string, expiredBefore: string, chOpts: MapChannelOptions | undefined, resultTtlMs?: number): Promise<WriteReply> {
    return this.cmd.livedeskMapRemove(
      ...this.keys(channel), resultKey,
      key, '', expiredBefore, String(chOpts?.streamSize ?? 0), ms(chOpts?.streamTtlMs ?? 0), ms(chOpts ? this.metaTtl(chOpts) : 0),
      newEpoch(), this.clientPrefix + channel, '', '', '', expiresMember(channel, key),
      ms(resultTtlMs ?? DEFAULT_MAP_IDEMPOTENT_RESULT_TTL_MS), chOpts ? '0' : '1',
    )
  }

  async readState(channel: string, opts: { cursor?: string; limit: number; revision?: StreamPosition }, chOpts: MapChannelOptions): Promise<MapStateResult> {
    const [meta, state] = this.keys(channel)
    // The cursor is HSCAN's: anything else comes from a client that made it up.
    if (opts.cursor && !/^\d{1,20}$/.test(opts.cursor)) throw new UnrecoverablePositionError()
    // HSCAN may answer a page with nothing (or more than COUNT): read on until there is something or the end.
    let cursor = opts.cursor || '0'
    const publications: MapPublication[] = []
    let position: StreamPosition | undefined
    for (let i = 0; i < 100; i++) {
      const [top, epoch, next, flat] = await this.cmd.livedeskMapState(
        meta, state, this.expiresKey, cursor, String(opts.limit < 0 ? 1000 : opts.limit), newEpoch(), ms(this.metaTtl(chOpts)), String(Date.now()), channel,
      )
      if (position && position.epoch !== epoch) throw new UnrecoverablePositionError()
      position ??= { offset: Number(top), epoch }
      if (opts.revision && opts.revision.epoch !== epoch) throw new UnrecoverablePositionError()
      for (let j = 0; j < flat.length; j += 2) publications.push(decodeStateValue(flat[j + 1]!))
      cursor = next
      if (opts.limit === 0 || cursor === '0' || (opts.limit > 0 && publications.length > 0)) break
    }
    return { publications, position: position!, cursor: cursor === '0' ? '' : cursor }
  }

  async readStream(channel: string, opts: { since?: StreamPosition; limit: number }, chOpts: MapChannelOptions): Promise<MapStreamResult> {
    const since = opts.since
    const start = opts.limit === 0 ? '' : since ? String(since.offset + 1) : '-'
    const [top, epoch, entries] = await this.cmd.livedeskMapStream(
      this.keys(channel)[0], this.keys(channel)[2], start, String(opts.limit > 0 ? opts.limit : 0), newEpoch(), ms(this.metaTtl(chOpts)),
    )
    const position = { offset: Number(top), epoch }
    if (since?.epoch && since.epoch !== epoch) throw new UnrecoverablePositionError()
    if (opts.limit === 0) return { publications: [], position }
    if (since && since.offset > position.offset) throw new UnrecoverablePositionError()
    const publications = entries.map(entryToPublication)
    // The next change after `since` is no longer kept: the client cannot catch up from the stream.
    if (since && since.offset < position.offset && publications[0]?.offset !== since.offset + 1) throw new UnrecoverablePositionError()
    return { publications, position }
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    this.handler = undefined
    await Promise.all([quit(this.sub), quit(this.cmd)])
  }

  /** Ephemeral channels keep no stream, but their epoch and state go when no key is written for a key TTL. */
  private metaTtl(chOpts: MapChannelOptions): number {
    return chOpts.metaTtlMs || (chOpts.mode === 'ephemeral' ? chOpts.keyTtlMs : 0)
  }

  private keys(channel: string): [meta: string, state: string, stream: string, expires: string] {
    const p = `${this.prefix}.map.`
    return [`${p}meta.${channel}`, `${p}state.${channel}`, `${p}stream.${channel}`, this.expiresKey]
  }

  private resultKey(channel: string, idempotencyKey: string | undefined): string {
    return idempotencyKey ? `${this.prefix}.map.result.${channel}.${idempotencyKey}` : ''
  }

  /** Removes keys past their TTL, a bounded batch per run; the script re-checks, so nodes sweeping together agree. */
  private async sweep(): Promise<void> {
    if (this.sweeping) return
    this.sweeping = true
    try {
      const now = Date.now()
      const due = await this.cmd.zrangebyscore(this.expiresKey, '-inf', now, 'LIMIT', 0, 500)
      for (const member of due) {
        const [channel, key] = parseExpiresMember(member)
        await this.removeKey(channel, key, '', String(now), undefined)
      }
    } catch (err) {
      this.onError(err as Error)
    } finally {
      this.sweeping = false
    }
  }

  private dispatch(redisChannel: string, message: string): void {
    if (!this.handler || !redisChannel.startsWith(this.clientPrefix)) return
    const channel = redisChannel.slice(this.clientPrefix.length)
    const afterOffset = message.indexOf(':')
    const afterEpoch = message.indexOf(':', afterOffset + 1)
    const afterPrevLength = message.indexOf(':', afterEpoch + 1)
    let prevData: string | undefined
    let payload = message.slice(afterPrevLength + 1)
    if (afterPrevLength > afterEpoch + 1) {
      // The previous data's length is in bytes (Lua's), so it is cut from the UTF-8 bytes.
      const bytes = Buffer.from(payload)
      const n = Number(message.slice(afterEpoch + 1, afterPrevLength))
      prevData = bytes.subarray(0, n).toString()
      payload = bytes.subarray(n).toString()
    }
    const pub = decodePayload(payload)
    if (prevData !== undefined) pub.prevData = prevData
    const offset = Number(message.slice(0, afterOffset))
    if (offset) pub.offset = offset
    this.handler.handleMapPublication(channel, pub, { offset, epoch: message.slice(afterOffset + 1, afterEpoch) })
  }
}

/** `<byte length of channel>:<channel><key>`: unambiguous whatever the names hold, and built the same way in Lua. */
function expiresMember(channel: string, key: string): string {
  return `${Buffer.byteLength(channel)}:${channel}${key}`
}

function parseExpiresMember(member: string): [channel: string, key: string] {
  const colon = member.indexOf(':')
  const rest = Buffer.from(member.slice(colon + 1))
  const n = Number(member.slice(0, colon))
  return [rest.subarray(0, n).toString(), rest.subarray(n).toString()]
}

function resultOf([top, epoch, suppressed, reason]: WriteReply): MapUpdateResult {
  const out: MapUpdateResult = { position: { offset: Number(top), epoch }, suppressed: suppressed === 1 }
  if (out.suppressed) out.suppressReason = reason as SuppressReason
  return out
}

function decodePayload(payload: string): MapPublication {
  const nl = payload.indexOf('\n')
  const meta = JSON.parse(payload.slice(0, nl)) as { k: string; r?: 1; i?: ClientInfo; t?: Record<string, string> }
  const pub: MapPublication = { key: meta.k, data: payload.slice(nl + 1) }
  if (meta.r) pub.removed = true
  if (meta.i) pub.info = meta.i
  // cjson encodes an empty table as {}: no tags then.
  if (meta.t && Object.keys(meta.t).length) pub.tags = meta.t
  return pub
}

/** `<offset>\n<version>\n<version epoch>\n<payload>` */
function decodeStateValue(value: string): MapPublication {
  const a = value.indexOf('\n')
  const b = value.indexOf('\n', a + 1)
  const c = value.indexOf('\n', b + 1)
  const pub = decodePayload(value.slice(c + 1))
  const offset = Number(value.slice(0, a))
  if (offset) pub.offset = offset
  return pub
}

function entryToPublication([id, fields]: StreamEntry): MapPublication {
  const d = fields.indexOf('d')
  const pub = decodePayload(fields[d + 1] ?? '{"k":""}\n')
  pub.offset = parseInt(id, 10)
  return pub
}

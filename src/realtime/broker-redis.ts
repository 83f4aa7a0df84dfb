/**
 * The broker for many nodes, on Redis, after Centrifugo's layout: per channel a STREAM of publications
 * (`<prefix>.stream.<ch>`, entry id = offset) and a meta HASH (`<prefix>.stream.meta.<ch>`: `e` epoch, `s` top
 * offset). One Lua script per publish increments the offset, appends, trims, sets TTLs and PUBLISHes, so
 * publications of a channel reach every node in offset order.
 *
 * Pub/sub messages on `<prefix>.client.<ch>`:
 *   `p<offset>:<epoch>:<payload>` a publication (`p::<payload>` without history), `j<info>` join, `l<info>` leave;
 *   `d<offset>:<epoch>:<previous payload as a JSON string>\n<payload>` a publication made with `useDelta`, carrying
 *   the channel's previous one (as Centrifugo's Lua does) so every node can send delta subscribers a delta against it;
 * control messages are JSON on `<prefix>.control`. A payload is `<meta JSON or empty>\n<data>`, so the
 * publisher's data text travels and is stored untouched.
 */
import { Redis } from 'ioredis'
import type { ClientInfo, StreamPosition } from '../protocol/types.js'
import {
  DEFAULT_IDEMPOTENT_RESULT_TTL_MS,
  type Broker, type BrokerEventHandler, type BrokerPublication, type ControlMessage, type HistoryOptions, type HistoryResult, type PublishOptions,
} from './broker.js'
import { parseRedisUrl, REDIS_COMMAND_TIMEOUT_MS } from './redis-topology.js'
import { newEpoch } from './epoch.js'

export interface RedisBrokerOptions {
  url: string
  /** Prefix of every key and pub/sub channel. @default 'livedesk' */
  prefix?: string
  /** Connection errors; ioredis reconnects by itself, so these are for logs. */
  onError?: (err: Error) => void
  /**
   * A command (publish, history) not answered within this is rejected, so its caller can retry (redis-topology.ts).
   * Publishes carry idempotency keys, so a retry after a late success publishes nothing twice.
   * @default REDIS_COMMAND_TIMEOUT_MS
   */
  commandTimeoutMs?: number
}

// KEYS: stream, meta, idempotent result ('' = none). ARGV: payload, historySize, historyTtlMs, pub/sub channel,
// metaTtlMs ('0' = none), new epoch, result TTL ms, useDelta ('1': publish with the previous publication when the
// stream still holds it), version ('0' = none), version epoch. A result key already set answers with the first
// position; a version not above the meta's last one (same version epoch, or none given) answers the top unpublished.
const PUBLISH_SCRIPT = `
if KEYS[3] ~= '' then
  local seen = redis.call('get', KEYS[3])
  if seen then
    local sep = string.find(seen, ':', 1, true)
    return {tonumber(string.sub(seen, 1, sep - 1)), string.sub(seen, sep + 1)}
  end
end
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[6]
  -- entries of a forgotten stream must not show up under the new epoch
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', epoch)
end
if ARGV[9] ~= '0' then
  local last = redis.call('hmget', KEYS[2], 'v', 've')
  if last[1] and (ARGV[10] == '' or ARGV[10] == last[2]) and tonumber(ARGV[9]) <= tonumber(last[1]) then
    return {tonumber(redis.call('hget', KEYS[2], 's') or '0'), epoch}
  end
  redis.call('hset', KEYS[2], 'v', ARGV[9], 've', ARGV[10])
end
local offset = redis.call('hincrby', KEYS[2], 's', 1)
if ARGV[5] ~= '0' then redis.call('pexpire', KEYS[2], ARGV[5]) end
local prev = false
if ARGV[8] == '1' and offset > 1 then
  local last = redis.call('xrevrange', KEYS[1], '+', '-', 'COUNT', 1)
  if #last > 0 and last[1][1] == (offset - 1) .. '-0' then prev = last[1][2][2] end
end
redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[2], offset, 'd', ARGV[1])
redis.call('pexpire', KEYS[1], ARGV[3])
if prev then
  redis.call('publish', ARGV[4], 'd' .. offset .. ':' .. epoch .. ':' .. cjson.encode(prev) .. '\\n' .. ARGV[1])
else
  redis.call('publish', ARGV[4], 'p' .. offset .. ':' .. epoch .. ':' .. ARGV[1])
end
if KEYS[3] ~= '' then redis.call('set', KEYS[3], offset .. ':' .. epoch, 'PX', ARGV[7]) end
return {offset, epoch}
`

// KEYS: idempotent result. ARGV: pub/sub channel, message, result TTL ms. Publishes once per key and TTL.
const PUBLISH_ONCE_SCRIPT = `
if redis.call('set', KEYS[1], '', 'NX', 'PX', ARGV[3]) then redis.call('publish', ARGV[1], ARGV[2]) end
return 1
`

// KEYS: stream, meta. ARGV: with publications '1'/'0', start id ('' = from the end), limit (0 = all),
// reverse '1'/'0', metaTtlMs ('0' = none), new epoch ('' = leave a missing stream missing, epoch '').
// Returns {top, epoch, entries}.
const HISTORY_SCRIPT = `
local meta = redis.call('hmget', KEYS[2], 'e', 's')
local epoch, top = meta[1], meta[2]
if not epoch and ARGV[6] == '' then return {'0', '', {}} end
if not epoch then
  epoch = ARGV[6]
  top = '0'
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', epoch, 's', '0')
end
if ARGV[5] ~= '0' then redis.call('pexpire', KEYS[2], ARGV[5]) end
local entries = {}
if ARGV[1] == '1' then
  local args
  if ARGV[4] == '1' then
    local from = ARGV[2]
    if from == '' then from = '+' end
    args = {'xrevrange', KEYS[1], from, '-'}
  else
    local from = ARGV[2]
    if from == '' then from = '-' end
    args = {'xrange', KEYS[1], from, '+'}
  end
  if ARGV[3] ~= '0' then
    table.insert(args, 'COUNT')
    table.insert(args, ARGV[3])
  end
  entries = redis.call(unpack(args))
end
return {top, epoch, entries}
`

type StreamEntry = [id: string, fields: string[]]

interface ScriptCommands {
  livedeskPublish(stream: string, meta: string, result: string, ...argv: string[]): Promise<[number, string]>
  livedeskPublishOnce(result: string, ...argv: string[]): Promise<number>
  livedeskHistory(stream: string, meta: string, ...argv: string[]): Promise<[string | number, string, StreamEntry[]]>
}

export class RedisBroker implements Broker {
  private readonly prefix: string
  /** Commands, scripts and every PUBLISH: one connection, so traffic leaves in the order it was made. */
  private readonly cmd: Redis & ScriptCommands
  private readonly sub: Redis
  private readonly controlChannel: string
  private readonly clientPrefix: string
  private readonly onError: (err: Error) => void
  private readonly where: string
  private lastError?: Error
  private handler?: BrokerEventHandler
  private closing = false
  /** Channels this node subscribed to, and the last position it handed over for each. */
  private readonly channels = new Set<string>()
  private readonly delivered = new Map<string, StreamPosition>()
  /** While catching up after a lost subscriber connection: incoming messages, held back in arrival order. */
  private held: Array<[string, string]> | null = null
  private catchUps = 0

  constructor(opts: RedisBrokerOptions) {
    this.prefix = opts.prefix ?? 'livedesk'
    this.controlChannel = `${this.prefix}.control`
    this.clientPrefix = `${this.prefix}.client.`
    const [target, ...more] = parseRedisUrl(opts.url)
    if (more.length > 0) throw new Error('RedisBroker takes one Redis (a server or a Sentinel group); ShardedBroker spreads channels over several')
    this.where = target!.where
    const report = opts.onError ?? (() => {})
    const onError = (this.onError = (err: Error) => {
      this.lastError = err
      report(err)
    })
    // No auto-pipelining: ioredis's pipelines keep their commands alive long enough for V8 to promote them, 30 times
    // the old-generation garbage at the same CPU (6,700 scripts/s: 1.6 MB against 50 KB per scavenge), and every
    // mark-compact of that garbage stalled delivery for 20-40 ms. A command is one write; Redis reads what has come.
    this.cmd = new Redis({
      ...target!.options,
      lazyConnect: true,
      enableAutoPipelining: false,
      commandTimeout: opts.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS,
      connectionName: `${this.prefix}:cmd`,
    }) as Redis & ScriptCommands
    // autoResubscribe (the ioredis default) subscribes every channel again after a reconnect.
    this.sub = new Redis({ ...target!.options, lazyConnect: true, autoResubscribe: true, connectionName: `${this.prefix}:sub` })
    this.cmd.on('error', onError)
    this.sub.on('error', onError)
    this.cmd.defineCommand('livedeskPublish', { numberOfKeys: 3, lua: PUBLISH_SCRIPT })
    this.cmd.defineCommand('livedeskPublishOnce', { numberOfKeys: 1, lua: PUBLISH_ONCE_SCRIPT })
    this.cmd.defineCommand('livedeskHistory', { numberOfKeys: 2, lua: HISTORY_SCRIPT })
    this.sub.on('message', (redisChannel: string, message: string) => {
      if (this.held) this.held.push([redisChannel, message])
      else this.dispatch(redisChannel, message)
    })
    // Messages published while the subscriber connection was down never arrive; fetch them from history.
    this.sub.on('close', () => {
      if (!this.closing) this.held ??= []
    })
    this.sub.on('ready', () => {
      if (this.held) void this.catchUp()
    })
  }

  /** Connects and listens for control messages; fails, with the cause, when Redis cannot be reached. */
  async run(handler: BrokerEventHandler): Promise<void> {
    this.handler = handler
    try {
      await Promise.all([this.connect(this.cmd), this.connect(this.sub)])
      await this.sub.subscribe(this.controlChannel)
    } catch (err) {
      await this.close()
      throw new Error(`Redis broker cannot reach ${this.where}: ${(this.lastError ?? (err as Error)).message}`)
    }
  }

  async subscribe(channel: string): Promise<void> {
    this.channels.add(channel)
    await this.sub.subscribe(this.clientPrefix + channel)
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel)
    this.delivered.delete(channel)
    await this.sub.unsubscribe(this.clientPrefix + channel)
  }

  async publish(channel: string, pub: BrokerPublication, opts: PublishOptions): Promise<StreamPosition | null> {
    const payload = encodePayload(pub)
    const resultKey = opts.idempotencyKey === undefined ? '' : `${this.prefix}.result.${channel}.${opts.idempotencyKey}`
    const resultTtl = String(Math.max(1, Math.ceil(opts.idempotentResultTtlMs ?? DEFAULT_IDEMPOTENT_RESULT_TTL_MS)))
    if (opts.historySize <= 0) {
      if (resultKey) await this.cmd.livedeskPublishOnce(resultKey, this.clientPrefix + channel, `p::${payload}`, resultTtl)
      else await this.cmd.publish(this.clientPrefix + channel, `p::${payload}`)
      return null
    }
    const [offset, epoch] = await this.cmd.livedeskPublish(
      this.streamKey(channel), this.metaKey(channel), resultKey,
      payload, String(opts.historySize), String(Math.max(1, Math.ceil(opts.historyTtlMs))),
      this.clientPrefix + channel, String(Math.max(0, Math.ceil(opts.historyMetaTtlMs))), newEpoch(), resultTtl,
      opts.useDelta ? '1' : '0', String(opts.version ?? 0), opts.versionEpoch ?? '',
    )
    return { offset: Number(offset), epoch }
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.cmd.publish(this.clientPrefix + channel, `j${JSON.stringify(info)}`)
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.cmd.publish(this.clientPrefix + channel, `l${JSON.stringify(info)}`)
  }

  async publishControl(message: ControlMessage): Promise<void> {
    await this.cmd.publish(this.controlChannel, JSON.stringify(message))
  }

  async history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    // Centrifugo's filter: strictly after `since`, or strictly before it when reading backwards.
    let withPubs = opts.limit !== 0
    let start = ''
    if (opts.since && opts.reverse) {
      if (opts.since.offset <= 1) withPubs = false
      else start = String(opts.since.offset - 1)
    } else if (opts.since) {
      start = String(opts.since.offset + 1)
    }
    const [top, epoch, entries] = await this.cmd.livedeskHistory(
      this.streamKey(channel), this.metaKey(channel),
      withPubs ? '1' : '0', start, String(opts.limit > 0 ? opts.limit : 0), opts.reverse ? '1' : '0',
      String(Math.max(0, Math.ceil(opts.historyMetaTtlMs))), newEpoch(),
    )
    const publications = withPubs ? entries.map(entryToPublication) : []
    return { publications, position: { offset: Number(top), epoch } }
  }

  /** Drops the publications; the epoch and top offset stay, so positions remain comparable. */
  async removeHistory(channel: string): Promise<void> {
    await this.cmd.del(this.streamKey(channel))
  }

  async close(): Promise<void> {
    this.closing = true
    this.handler = undefined
    await Promise.all([quit(this.sub), quit(this.cmd)])
  }

  private streamKey(channel: string): string {
    return `${this.prefix}.stream.${channel}`
  }

  private metaKey(channel: string): string {
    return `${this.prefix}.stream.meta.${channel}`
  }

  private async connect(conn: Redis): Promise<void> {
    if (conn.status === 'wait') await conn.connect()
  }

  /**
   * Hands over, for each channel that had a position, the publications after it that history still holds, then
   * the messages held back meanwhile (skipping those already handed over). Whatever history no longer has stays
   * a gap, which subscribers detect from the offsets and recover from.
   */
  private async catchUp(): Promise<void> {
    const run = ++this.catchUps
    await null // after ioredis has sent its own resubscribe for this connection
    try {
      // Confirmed subscriptions first, so nothing published from now on can fall between history and live.
      await this.sub.subscribe(this.controlChannel, ...[...this.channels].map((c) => this.clientPrefix + c))
      const since = [...this.delivered]
      const pages = await Promise.all(since.map(([channel, position]) =>
        this.cmd.livedeskHistory(this.streamKey(channel), this.metaKey(channel), '1', String(position.offset + 1), '0', '0', '0', ''),
      ))
      if (run !== this.catchUps) return
      since.forEach(([channel], i) => {
        const [, epoch, entries] = pages[i]!
        if (!epoch) return
        for (const entry of entries) {
          const pub = entryToPublication(entry)
          this.deliverPublication(channel, pub, { offset: pub.offset!, epoch })
        }
      })
    } catch (err) {
      this.onError(err as Error)
      if (run !== this.catchUps) return
    }
    const held = this.held ?? []
    this.held = null
    for (const [redisChannel, message] of held) this.dispatch(redisChannel, message)
  }

  /** Hands a publication to the handler unless this node already handed over that position. */
  private deliverPublication(channel: string, pub: BrokerPublication, position: StreamPosition | null, prev?: BrokerPublication): void {
    if (position && this.channels.has(channel)) {
      const last = this.delivered.get(channel)
      if (last && last.epoch === position.epoch && position.offset <= last.offset) return
      this.delivered.set(channel, position)
    }
    this.handler?.handlePublication(channel, pub, position, prev)
  }

  private dispatch(redisChannel: string, message: string): void {
    // A bad message or a throwing handler must not break the subscriber connection's reader.
    try {
      this.dispatchUnsafe(redisChannel, message)
    } catch (err) {
      this.onError(err as Error)
    }
  }

  private dispatchUnsafe(redisChannel: string, message: string): void {
    const handler = this.handler
    if (!handler) return
    if (redisChannel === this.controlChannel) {
      handler.handleControl(JSON.parse(message) as ControlMessage)
      return
    }
    if (!redisChannel.startsWith(this.clientPrefix)) return
    const channel = redisChannel.slice(this.clientPrefix.length)
    switch (message[0]) {
      case 'p': {
        const afterOffset = message.indexOf(':', 1)
        const afterEpoch = message.indexOf(':', afterOffset + 1)
        const pub = decodePayload(message.slice(afterEpoch + 1))
        if (afterOffset === 1) {
          this.deliverPublication(channel, pub, null)
        } else {
          pub.offset = Number(message.slice(1, afterOffset))
          this.deliverPublication(channel, pub, { offset: pub.offset, epoch: message.slice(afterOffset + 1, afterEpoch) })
        }
        return
      }
      case 'd': {
        const afterOffset = message.indexOf(':', 1)
        const afterEpoch = message.indexOf(':', afterOffset + 1)
        // The previous payload is a JSON string, so it holds no raw newline.
        const newline = message.indexOf('\n', afterEpoch + 1)
        const pub = decodePayload(message.slice(newline + 1))
        pub.offset = Number(message.slice(1, afterOffset))
        const prev = decodePayload(JSON.parse(message.slice(afterEpoch + 1, newline)) as string)
        prev.offset = pub.offset - 1
        this.deliverPublication(channel, pub, { offset: pub.offset, epoch: message.slice(afterOffset + 1, afterEpoch) }, prev)
        return
      }
      case 'j':
        handler.handleJoin(channel, JSON.parse(message.slice(1)) as ClientInfo)
        return
      case 'l':
        handler.handleLeave(channel, JSON.parse(message.slice(1)) as ClientInfo)
        return
    }
  }
}

function encodePayload(pub: BrokerPublication): string {
  const meta: { i?: ClientInfo; t?: Record<string, string> } = {}
  if (pub.info) meta.i = pub.info
  if (pub.tags && Object.keys(pub.tags).length > 0) meta.t = pub.tags
  return `${meta.i || meta.t ? JSON.stringify(meta) : ''}\n${pub.data}`
}

function decodePayload(payload: string): BrokerPublication {
  const nl = payload.indexOf('\n')
  const pub: BrokerPublication = { data: payload.slice(nl + 1) }
  if (nl > 0) {
    const meta = JSON.parse(payload.slice(0, nl)) as { i?: ClientInfo; t?: Record<string, string> }
    if (meta.i) pub.info = meta.i
    if (meta.t) pub.tags = meta.t
  }
  return pub
}

function entryToPublication([id, fields]: StreamEntry): BrokerPublication {
  const d = fields.indexOf('d')
  const pub = decodePayload(fields[d + 1] ?? '\n')
  pub.offset = parseInt(id, 10)
  return pub
}

/** Closes a connection politely when it is up, at once when it is not (or when QUIT fails). */
export async function quit(conn: Redis): Promise<void> {
  if (conn.status === 'end' || conn.status === 'wait') {
    conn.disconnect()
    return
  }
  try {
    await conn.quit()
  } catch {
    conn.disconnect()
  }
}

/**
 * The broker for many nodes, on Redis, after Centrifugo's layout: per channel a STREAM of publications
 * (`<prefix>.stream.<ch>`, entry id = offset) and a meta HASH (`<prefix>.stream.meta.<ch>`: `e` epoch, `s` top
 * offset). One Lua script per publish increments the offset, appends, trims, sets TTLs and PUBLISHes, so
 * publications of a channel reach every node in offset order.
 *
 * Pub/sub messages on `<prefix>.client.<ch>`:
 *   `p<offset>:<epoch>:<payload>` a publication (`p::<payload>` without history), `j<info>` join, `l<info>` leave;
 * control messages are JSON on `<prefix>.control`. A payload is `<meta JSON or empty>\n<data>`, so the
 * publisher's data text travels and is stored untouched.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { ClientInfo, StreamPosition } from '../protocol/types.js'
import type {
  Broker, BrokerEventHandler, BrokerPublication, ControlMessage, HistoryOptions, HistoryResult, PublishOptions,
} from './broker.js'

export interface RedisBrokerOptions {
  url: string
  /** Prefix of every key and pub/sub channel. @default 'livedesk' */
  prefix?: string
  /** Connection errors; ioredis reconnects by itself, so these are for logs. */
  onError?: (err: Error) => void
}

// KEYS: stream, meta. ARGV: payload, historySize, historyTtlMs, pub/sub channel, metaTtlMs ('0' = none), new epoch.
const PUBLISH_SCRIPT = `
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[6]
  -- entries of a forgotten stream must not show up under the new epoch
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', epoch)
end
local offset = redis.call('hincrby', KEYS[2], 's', 1)
if ARGV[5] ~= '0' then redis.call('pexpire', KEYS[2], ARGV[5]) end
redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[2], offset, 'd', ARGV[1])
redis.call('pexpire', KEYS[1], ARGV[3])
redis.call('publish', ARGV[4], 'p' .. offset .. ':' .. epoch .. ':' .. ARGV[1])
return {offset, epoch}
`

// KEYS: stream, meta. ARGV: with publications '1'/'0', start id ('' = from the end), limit (0 = all),
// reverse '1'/'0', metaTtlMs ('0' = none), new epoch. Returns {top, epoch, entries}.
const HISTORY_SCRIPT = `
local meta = redis.call('hmget', KEYS[2], 'e', 's')
local epoch, top = meta[1], meta[2]
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
  livedeskPublish(stream: string, meta: string, ...argv: string[]): Promise<[number, string]>
  livedeskHistory(stream: string, meta: string, ...argv: string[]): Promise<[string | number, string, StreamEntry[]]>
}

const newEpoch = () => randomBytes(6).toString('base64url')

export class RedisBroker implements Broker {
  private readonly prefix: string
  /** Commands, scripts and every PUBLISH: one connection, so traffic leaves in the order it was made. */
  private readonly cmd: Redis & ScriptCommands
  private readonly sub: Redis
  private readonly controlChannel: string
  private readonly clientPrefix: string
  private readonly onError: (err: Error) => void
  private handler?: BrokerEventHandler

  constructor(opts: RedisBrokerOptions) {
    this.prefix = opts.prefix ?? 'livedesk'
    this.controlChannel = `${this.prefix}.control`
    this.clientPrefix = `${this.prefix}.client.`
    const onError = (this.onError = opts.onError ?? (() => {}))
    this.cmd = new Redis(opts.url, { lazyConnect: true, connectionName: `${this.prefix}:cmd` }) as Redis & ScriptCommands
    // autoResubscribe (the ioredis default) subscribes every channel again after a reconnect.
    this.sub = new Redis(opts.url, { lazyConnect: true, autoResubscribe: true, connectionName: `${this.prefix}:sub` })
    this.cmd.on('error', onError)
    this.sub.on('error', onError)
    this.cmd.defineCommand('livedeskPublish', { numberOfKeys: 2, lua: PUBLISH_SCRIPT })
    this.cmd.defineCommand('livedeskHistory', { numberOfKeys: 2, lua: HISTORY_SCRIPT })
    this.sub.on('message', (redisChannel: string, message: string) => {
      // A bad message or a throwing handler must not break the subscriber connection's reader.
      try {
        this.dispatch(redisChannel, message)
      } catch (err) {
        this.onError(err as Error)
      }
    })
  }

  async run(handler: BrokerEventHandler): Promise<void> {
    this.handler = handler
    await Promise.all([this.connect(this.cmd), this.connect(this.sub)])
    await this.sub.subscribe(this.controlChannel)
  }

  async subscribe(channel: string): Promise<void> {
    await this.sub.subscribe(this.clientPrefix + channel)
  }

  async unsubscribe(channel: string): Promise<void> {
    await this.sub.unsubscribe(this.clientPrefix + channel)
  }

  async publish(channel: string, pub: BrokerPublication, opts: PublishOptions): Promise<StreamPosition | null> {
    const payload = encodePayload(pub)
    if (opts.historySize <= 0) {
      await this.cmd.publish(this.clientPrefix + channel, `p::${payload}`)
      return null
    }
    const [offset, epoch] = await this.cmd.livedeskPublish(
      this.streamKey(channel), this.metaKey(channel),
      payload, String(opts.historySize), String(Math.max(1, Math.ceil(opts.historyTtlMs))),
      this.clientPrefix + channel, String(Math.max(0, Math.ceil(opts.historyMetaTtlMs))), newEpoch(),
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

  private dispatch(redisChannel: string, message: string): void {
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
          handler.handlePublication(channel, pub, null)
        } else {
          pub.offset = Number(message.slice(1, afterOffset))
          handler.handlePublication(channel, pub, { offset: pub.offset, epoch: message.slice(afterOffset + 1, afterEpoch) })
        }
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

async function quit(conn: Redis): Promise<void> {
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

/**
 * The server API's map methods (Centrifugo v6 `map_publish`, `map_remove`): same request fields and results
 * (`{offset, epoch, suppressed, suppress_reason}`, zero values left out as Centrifugo's JSON does).
 */
import { ReplyError } from '../protocol/codes.js'
import { checkNamespaceKnown } from '../realtime/channel-rules.js'
import { UnrecoverablePositionError, type KeyMode, type MapPublication, type MapUpdateResult } from '../realtime/map-broker.js'
import type { MapChannel } from '../realtime/map-node.js'
import type { Node } from '../realtime/node.js'
import { badRequest, dataJsonOf, str, tagsOf, type Params } from './server-api-params.js'

function resultOf(r: MapUpdateResult): Params {
  const out: Params = {}
  if (r.position.offset) out.offset = r.position.offset
  if (r.position.epoch) out.epoch = r.position.epoch
  if (r.suppressed) out.suppressed = true
  if (r.suppressReason) out.suppress_reason = r.suppressReason
  return out
}

/** Centrifugo's `MapEntry` in JSON: zero values left out, `data` as the raw JSON value. */
function entryOf(pub: MapPublication): Params {
  const out: Params = { key: pub.key }
  if (pub.data !== '') out.data = JSON.parse(pub.data)
  if (pub.tags && Object.keys(pub.tags).length) out.tags = pub.tags
  if (pub.offset) out.offset = pub.offset
  if (pub.removed) out.removed = true
  return out
}

function intOf(p: Params, field: string): number | undefined {
  const v = p[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw badRequest(`${field} must be a non-negative integer`)
  return v
}

/** Unrecoverable positions are Centrifugo's 112; everything else goes on. */
async function reading<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (err) {
    if (err instanceof UnrecoverablePositionError) throw new ReplyError(112, 'unrecoverable position')
    throw err
  }
}

/** Keys read per page when the map methods walk a whole state (`map_stats`, `map_clear`, `map_read_state` by key). */
const WALK_PAGE = 1000

export function mapApiMethods(node: Node): Record<string, (p: Params) => Promise<unknown>> {
  /** The channel's map options; 102 for an unknown namespace, 107 for one that is not a map (as Centrifugo). */
  const mapChannel = (p: Params): { channel: string; mc: MapChannel } => {
    const channel = str(p, 'channel', true)!
    checkNamespaceKnown(node.config, channel)
    const mc = node.maps.channel(channel)
    if (!mc) throw badRequest(`channel ${channel} is not in a map namespace`)
    return { channel, mc }
  }
  /** Every key of the state, page by page. */
  const walk = async (channel: string, mc: MapChannel, each: (pub: MapPublication) => Promise<void> | void): Promise<void> => {
    let cursor: string | undefined
    // Bounded: each page moves the cursor forward; an empty cursor ends the walk.
    for (let pages = 0; pages < 1_000_000; pages++) {
      const page = await node.maps.broker.readState(channel, { cursor, limit: WALK_PAGE }, mc.chOpts)
      for (const pub of page.publications) await each(pub)
      if (!page.cursor) return
      cursor = page.cursor
    }
  }
  return {
    map_publish: async (p) => {
      const channel = str(p, 'channel', true)!
      const key = str(p, 'key', true)!
      const keyMode = str(p, 'key_mode', false)
      if (keyMode !== undefined && keyMode !== 'if_new' && keyMode !== 'if_exists') throw badRequest('key_mode must be if_new or if_exists')
      if (p.version !== undefined && (typeof p.version !== 'number' || !Number.isInteger(p.version) || p.version < 0)) throw badRequest('version must be a non-negative integer')
      const result = await node.maps.publish(channel, key, {
        data: dataJsonOf(p), tags: tagsOf(p), idempotencyKey: str(p, 'idempotency_key', false),
        version: p.version as number | undefined, versionEpoch: str(p, 'version_epoch', false), keyMode: keyMode as KeyMode | undefined,
        useDelta: p.delta === true,
      })
      return resultOf(result)
    },
    map_remove: async (p) => {
      const channel = str(p, 'channel', true)!
      const key = str(p, 'key', true)!
      return resultOf(await node.maps.remove(channel, key, { idempotencyKey: str(p, 'idempotency_key', false) }))
    },
    /** A page of the state ordered by key (`cursor` from the previous page; `limit` 0: all), or one `key`. */
    map_read_state: async (p) => {
      const { channel, mc } = mapChannel(p)
      const limit = intOf(p, 'limit') ?? 0
      const revisionOffset = intOf(p, 'revision_offset')
      const revisionEpoch = str(p, 'revision_epoch', false)
      const revision = revisionOffset || revisionEpoch ? { offset: revisionOffset ?? 0, epoch: revisionEpoch ?? '' } : undefined
      const key = str(p, 'key', false)
      if (key !== undefined) {
        const top = await reading(() => node.maps.broker.readState(channel, { limit: 0, revision }, mc.chOpts))
        const found: MapPublication[] = []
        await walk(channel, mc, (pub) => void (pub.key === key && found.push(pub)))
        return positioned({ entries: found.map(entryOf) }, top.position)
      }
      const page = await reading(() => node.maps.broker.readState(channel, { cursor: str(p, 'cursor', false), limit: limit > 0 ? limit : -1, revision }, mc.chOpts))
      const out = positioned({ entries: page.publications.map(entryOf) }, page.position)
      if (page.cursor) out.cursor = page.cursor
      return out
    },
    /** Changes after `since_offset`/`since_epoch` (all kept when absent), at most `limit` (0: all). */
    map_read_stream: async (p) => {
      const { channel, mc } = mapChannel(p)
      const limit = intOf(p, 'limit') ?? 0
      const sinceOffset = intOf(p, 'since_offset')
      const sinceEpoch = str(p, 'since_epoch', false)
      const since = sinceOffset || sinceEpoch ? { offset: sinceOffset ?? 0, epoch: sinceEpoch ?? '' } : undefined
      const r = await reading(() => node.maps.broker.readStream(channel, { since, limit: limit > 0 ? limit : -1 }, mc.chOpts))
      const pubs = p.reverse === true ? [...r.publications].reverse() : r.publications
      return positioned({ entries: pubs.map(entryOf) }, r.position)
    },
    map_stats: async (p) => {
      const { channel, mc } = mapChannel(p)
      let numKeys = 0
      await walk(channel, mc, () => void numKeys++)
      return numKeys ? { num_keys: numKeys } : {}
    },
    /**
     * Empties the state. Unlike Centrifugo, which drops the channel's data silently, each key is removed as by
     * `map_remove`: subscribers see the removals and the stream keeps them, so a recovering client converges too.
     */
    map_clear: async (p) => {
      const { channel, mc } = mapChannel(p)
      const keys: string[] = []
      await walk(channel, mc, (pub) => void keys.push(pub.key))
      for (const key of keys) await node.maps.remove(channel, key)
      return {}
    },
  }
}

function positioned(out: Params, position: { offset: number; epoch: string }): Params {
  if (position.offset) out.offset = position.offset
  if (position.epoch) out.epoch = position.epoch
  return out
}

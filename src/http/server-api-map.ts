/**
 * The server API's map methods (Centrifugo v6 `map_publish`, `map_remove`): same request fields and results
 * (`{offset, epoch, suppressed, suppress_reason}`, zero values left out as Centrifugo's JSON does).
 */
import { ReplyError } from '../protocol/codes.js'
import type { KeyMode, MapUpdateResult } from '../realtime/map-broker.js'
import type { Node } from '../realtime/node.js'

type Params = Record<string, unknown>

const badRequest = (detail: string) => new ReplyError(107, `bad request: ${detail}`)

function str(p: Params, field: string, required: boolean): string | undefined {
  const v = p[field]
  if (v === undefined || v === null || v === '') {
    if (required) throw badRequest(`${field} is required`)
    return undefined
  }
  if (typeof v !== 'string') throw badRequest(`${field} must be a string`)
  return v
}

function tagsOf(p: Params): Record<string, string> | undefined {
  const t = p.tags
  if (t === undefined || t === null) return undefined
  if (typeof t !== 'object' || Array.isArray(t) || !Object.values(t).every((v) => typeof v === 'string')) throw badRequest('tags must be an object of strings')
  return t as Record<string, string>
}

/** `data` (any JSON value) or `b64data` holding JSON, as JSON text. */
function dataJsonOf(p: Params): string {
  if (p.data !== undefined) return JSON.stringify(p.data)
  if (typeof p.b64data === 'string') {
    const text = Buffer.from(p.b64data, 'base64').toString('utf8')
    try {
      JSON.parse(text)
      return text
    } catch {
      throw badRequest('b64data must hold JSON for JSON-protocol clients')
    }
  }
  throw badRequest('data is required')
}

function resultOf(r: MapUpdateResult): Params {
  const out: Params = {}
  if (r.position.offset) out.offset = r.position.offset
  if (r.position.epoch) out.epoch = r.position.epoch
  if (r.suppressed) out.suppressed = true
  if (r.suppressReason) out.suppress_reason = r.suppressReason
  return out
}

export function mapApiMethods(node: Node): Record<string, (p: Params) => Promise<unknown>> {
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
  }
}

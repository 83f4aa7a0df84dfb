/** Reading the server API's request fields, shared by every method: errors are Centrifugo's 107 naming the field. */
import { ReplyError } from '../protocol/codes.js'

export type Params = Record<string, unknown>

/** A Centrifugo API error naming the field at fault; 107 is "bad request". */
export const badRequest = (detail: string) => new ReplyError(107, `bad request: ${detail}`)

export const isObject = (v: unknown): v is Params => typeof v === 'object' && v !== null && !Array.isArray(v)

export function str(p: Params, field: string, required = true): string | undefined {
  const v = p[field]
  if (v === undefined || v === null || v === '') {
    if (required) throw badRequest(`${field} is required`)
    return undefined
  }
  if (typeof v !== 'string') throw badRequest(`${field} must be a string`)
  return v
}

export function tagsOf(p: Params): Record<string, string> | undefined {
  if (p.tags === undefined || p.tags === null) return undefined
  if (!isObject(p.tags) || !Object.values(p.tags).every((v) => typeof v === 'string')) throw badRequest('tags must be an object of strings')
  return p.tags as Record<string, string>
}

/** `data` as JSON text: the raw JSON value, or `b64data` holding JSON. */
export function dataJsonOf(p: Params): string {
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

/**
 * One HTTP proxy call as Centrifugo makes it (centrifugo `internal/proxy/http.go`): a JSON POST to the endpoint,
 * allow-listed headers, a timeout, and the answer's `error` / `disconnect` turned into what the client gets.
 * A transport error, a timeout or a status other than 200 throws a plain Error, which the gateway answers with
 * error 100 (internal, temporary), unless `statusToCodeTransforms` maps the status.
 */
import { Disconnect, ReplyError } from '../../protocol/codes.js'
import { DEFAULT_PROXY_TIMEOUT_MS, type ProxyEndpoint } from './config.js'

/** What the backend answers (`ConnectResponse`, `SubscribeResponse`, ...): one of the three. */
interface ProxyResponse<R> {
  result?: R
  error?: { code?: number; message?: string; temporary?: boolean }
  disconnect?: { code?: number; reason?: string }
}

/** Headers a proxied connection brings: its upgrade request's (transport) and its connect command's (emulated). */
export interface ConnectionHeaders {
  transport?: Record<string, string | string[] | undefined>
  emulated?: Record<string, string>
}

/** Hop-by-hop and framing headers fetch sets itself: never copied. */
const NOT_COPIED = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length', 'expect', 'te', 'trailer'])

/** The request headers for one call: static ones, then emulated and transport headers on the allow-lists, then JSON. */
export function requestHeaders(proxy: ProxyEndpoint, from: ConnectionHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(proxy.staticHeaders ?? {})) out[k.toLowerCase()] = v
  const emulatedAllowed = new Set((proxy.emulatedHeaders ?? []).map((h) => h.toLowerCase()))
  for (const [k, v] of Object.entries(from?.emulated ?? {})) {
    const name = k.toLowerCase()
    if (emulatedAllowed.has(name) && !NOT_COPIED.has(name)) out[name] = v
  }
  // A transport header wins over a client-set emulated one of the same name, as in Centrifugo.
  const allowed = new Set((proxy.httpHeaders ?? []).map((h) => h.toLowerCase()))
  for (const [k, v] of Object.entries(from?.transport ?? {})) {
    const name = k.toLowerCase()
    if (v === undefined || !allowed.has(name) || NOT_COPIED.has(name)) continue
    out[name] = Array.isArray(v) ? v.join(', ') : v
  }
  out['content-type'] = 'application/json'
  return out
}

export class ProxyCallError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message)
    this.name = 'ProxyCallError'
  }
}

/** POSTs `body` and returns the `result` (undefined when absent); throws ReplyError/Disconnect as the backend says. */
export async function callProxy<R>(proxy: ProxyEndpoint, body: object, headers: ConnectionHeaders | undefined): Promise<R | undefined> {
  const timeoutMs = proxy.timeoutMs ?? DEFAULT_PROXY_TIMEOUT_MS
  let res: Response
  let text: string
  try {
    res = await fetch(proxy.endpoint, {
      method: 'POST', headers: requestHeaders(proxy, headers), body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs),
    })
    text = await res.text()
  } catch (err) {
    const e = err as Error
    if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new ProxyCallError(`proxy ${proxy.endpoint}: no answer within ${timeoutMs} ms`)
    throw new ProxyCallError(`proxy ${proxy.endpoint}: ${e.message}`)
  }
  if (res.status !== 200) {
    const t = proxy.statusToCodeTransforms?.find((x) => x.statusCode === res.status)
    if (t?.toError && t.toError.code > 0) throw new ReplyError(t.toError.code, t.toError.message, t.toError.temporary ?? false)
    if (t?.toDisconnect && t.toDisconnect.code > 0) throw new Disconnect(t.toDisconnect.code, t.toDisconnect.reason)
    throw new ProxyCallError(`proxy ${proxy.endpoint}: unexpected HTTP status ${res.status}`, res.status)
  }
  let answer: ProxyResponse<R>
  try {
    answer = JSON.parse(text) as ProxyResponse<R>
  } catch {
    throw new ProxyCallError(`proxy ${proxy.endpoint}: the answer is not JSON`)
  }
  if (typeof answer !== 'object' || answer === null) throw new ProxyCallError(`proxy ${proxy.endpoint}: the answer is not a JSON object`)
  // Centrifugo looks at `disconnect` first, then `error`.
  if (answer.disconnect) throw new Disconnect(answer.disconnect.code ?? 0, answer.disconnect.reason ?? '')
  if (answer.error) throw new ReplyError(answer.error.code ?? 0, answer.error.message ?? '', answer.error.temporary ?? false)
  return answer.result ?? undefined
}

/** `data` as a request carries it: the JSON value itself, or base64 of its JSON with binary encoding. */
export function dataField(proxy: ProxyEndpoint, data: unknown): { data?: unknown; b64data?: string } {
  if (data === undefined) return {}
  return proxy.binaryEncoding ? { b64data: Buffer.from(JSON.stringify(data)).toString('base64') } : { data }
}

/** A value of an answer given as `x` or `b64x` (base64; read back as JSON when it is JSON, else as text). */
export function valueOf(plain: unknown, b64: unknown): unknown {
  if (typeof b64 === 'string' && b64 !== '') {
    const text = Buffer.from(b64, 'base64').toString('utf8')
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  return plain ?? undefined
}

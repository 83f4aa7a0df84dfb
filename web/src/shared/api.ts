/** A small JSON client for /api/v1 with a bearer token; errors carry the server's `{ error: { code, message } }`. */
import type { ApiErrorBody } from './types.js'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The request field the server names (`{ error: { field } }`), when it names one. */
    readonly field?: string,
  ) {
    super(message)
  }
}

export type Api = <T = unknown>(method: string, path: string, body?: unknown) => Promise<T>

export function apiClient(getToken: () => string | null): Api {
  return async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' }
    const token = getToken()
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch {
      throw new ApiError(0, 'network_error', 'the server cannot be reached')
    }
    if (res.status === 204) return undefined as T
    const text = await res.text()
    let json: unknown = undefined
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      // a non-JSON body is reported below with the status
    }
    if (!res.ok) {
      const err = (json as ApiErrorBody | undefined)?.error
      throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? (res.statusText || 'request failed'), err?.field)
    }
    return json as T
  }
}

/** The websocket endpoint of the seed, on the page's own host. */
export function socketUrl(): string {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws'
  return `${proto}://${location.host}/centrifugo/connection/websocket`
}

/**
 * The SDK's transports in the order it tries them: WebSocket, then HTTP-streaming and SSE for networks whose
 * proxies refuse WebSocket upgrades (later commands then go to `emulationUrl()`).
 */
export function transportEndpoints(): Array<{ transport: 'websocket' | 'http_stream' | 'sse'; endpoint: string }> {
  return [
    { transport: 'websocket', endpoint: socketUrl() },
    { transport: 'http_stream', endpoint: `${location.origin}/centrifugo/connection/http_stream` },
    { transport: 'sse', endpoint: `${location.origin}/centrifugo/connection/sse` },
  ]
}

/** Where the SDK sends commands of an HTTP-streaming or SSE connection. */
export function emulationUrl(): string {
  return `${location.origin}/centrifugo/emulation`
}

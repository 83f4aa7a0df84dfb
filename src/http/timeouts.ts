/**
 * How long the HTTP server waits on a client, so slow-body and slowloris connections are cut. WebSocket
 * connections leave all of these at the upgrade: Node stops tracking the request and `ws` clears the socket's
 * idle timeout, so live connections last as long as their pings are answered.
 */
import type { ServerOptions } from 'node:http'

export interface HttpTimeouts {
  /** Time to receive a request's headers; a client trickling them (slowloris) is cut with 408. @default 10_000 */
  headersTimeoutMs: number
  /** Time to receive a whole request, headers and body; a body trickled in is cut with 408. @default 30_000 */
  requestTimeoutMs: number
  /**
   * A connection with no byte in either direction for this long is destroyed: a stalled body, or an answer
   * nobody reads. Must exceed the slowest handler. @default 60_000
   */
  idleTimeoutMs: number
  /**
   * An idle keep-alive connection is closed after this long. Above a proxy's own idle timeout (nginx upstream
   * keepalive_timeout, 60 s), so the proxy never reuses a connection the node is closing. @default 72_000
   */
  keepAliveTimeoutMs: number
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 72_000,
}

/** Fastify's and Node's server options for these timeouts; 0 turns off the headers, request or idle timeout. */
export function serverTimeoutOptions(given: Partial<HttpTimeouts> = {}): {
  connectionTimeout: number
  keepAliveTimeout: number
  requestTimeout: number
  http: ServerOptions
} {
  const t: HttpTimeouts = { ...DEFAULT_HTTP_TIMEOUTS, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) }
  const requestTimeout = Math.round(t.requestTimeoutMs)
  // Node refuses headersTimeout > requestTimeout: the headers are part of the request.
  const headersTimeout = Math.round(requestTimeout > 0 ? Math.min(t.headersTimeoutMs, requestTimeout) : t.headersTimeoutMs)
  // Node looks for requests over time on this interval (its default, 30 s, would let a cut come up to 30 s late).
  const running = [headersTimeout, requestTimeout].filter((ms) => ms > 0)
  const connectionsCheckingInterval = Math.max(10, Math.min(1_000, ...running.map((ms) => Math.ceil(ms / 4))))
  return {
    // Fastify applies these three itself after creating the server (requestTimeout would otherwise be its 0).
    connectionTimeout: Math.round(t.idleTimeoutMs),
    keepAliveTimeout: Math.round(t.keepAliveTimeoutMs),
    requestTimeout,
    http: { headersTimeout, requestTimeout, connectionsCheckingInterval },
  }
}

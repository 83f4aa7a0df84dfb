/**
 * The contenders and what is measured for each. Every G variant runs the same dist/ build with other options.
 * `readIn`: the variant answers one ratio, read in the headline scenario (1k, hot, 1 KB) or, for memory, at the
 * largest N of the headline's topology and payload; a full run places it only there.
 */

const ALL = { memory: true, fixed: true, ramp: true, latency: true, overload: true }

/** G over another transport: everything but the overload phase, whose slow readers are WebSocket sinks' measure. */
const OVER_TRANSPORT = { memory: true, fixed: true, ramp: true, latency: true }

/** No pings during a run: sinks do not parse every line, and a 25 s ping per connection is noise here. */
const PING_INTERVAL_MS = 3_600_000

const historyOff = {
  historySize: 0, historyTtlMs: 300_000, forceRecovery: true, presence: true, joinLeave: false,
  allowSubscribe: false, allowPublish: false, allowHistory: false, allowPresence: false,
}
const historyOn = { ...historyOff, historySize: 1000, historyTtlMs: 3_600_000 }

export const CONTENDERS = {
  b1: { server: 'b1', label: 'B1 raw ws, pre-framed', measure: ALL },
  b1c: { server: 'b1c', label: 'B1c raw ws, coalesced', measure: ALL },
  b2: { server: 'b2', label: 'B2 Socket.IO 4', measure: ALL },
  g: { server: 'g', label: 'G livedesk', measure: ALL, realtime: { defaultNamespace: historyOff } },
  'g-nc': { server: 'g', readIn: 'headline', label: 'G, 1 message per frame', measure: { fixed: true }, realtime: { maxMessagesInFrame: 1, defaultNamespace: historyOff } },
  'g-nc-h': { server: 'g', readIn: 'headline', label: 'G, 1 message per frame, history on', measure: { fixed: true }, realtime: { maxMessagesInFrame: 1, defaultNamespace: historyOn } },
  'g-subs': { server: 'g', readIn: 'memory', label: 'G, 6 subscriptions per connection', measure: { memory: true }, subsPerConnection: 6, realtime: { defaultNamespace: historyOff } },
  'g-http': { server: 'g', readIn: 'headline', label: 'G via POST /api/publish', http: true, measure: { fixed: true, ramp: true }, realtime: { defaultNamespace: historyOff } },
  // G over its other transports (issue 13), each read beside G over JSON WebSocket in the headline scenario:
  // the same server; the load generator connects with another framing (loadgen/stream-sink.mjs).
  'g-pb': { server: 'g', transport: 'websocket-protobuf', readIn: 'headline', label: 'G over WebSocket, protobuf', measure: OVER_TRANSPORT, realtime: { defaultNamespace: historyOff } },
  'g-stream': { server: 'g', transport: 'http_stream', readIn: 'headline', label: 'G over HTTP-streaming', measure: OVER_TRANSPORT, realtime: { defaultNamespace: historyOff } },
  'g-sse': { server: 'g', transport: 'sse', readIn: 'headline', label: 'G over SSE', measure: OVER_TRANSPORT, realtime: { defaultNamespace: historyOff } },
  'g-stream-pb': { server: 'g', transport: 'http_stream-protobuf', readIn: 'headline', label: 'G over HTTP-streaming, protobuf', measure: OVER_TRANSPORT, realtime: { defaultNamespace: historyOff } },
  // Opt-in (needs --redis-url): the Redis broker and presence instead of memory.
  'g-redis': { server: 'g', readIn: 'headline', label: 'G, Redis broker', redis: true, measure: { fixed: true, ramp: true }, realtime: { defaultNamespace: historyOff } },
}

/** Options for bench/servers/server.mjs. */
export function contenderOptions(name, mode) {
  const def = CONTENDERS[name]
  return {
    contender: def.server,
    databaseUrl: mode.databaseUrl,
    redisUrl: def.redis ? mode.redisUrl : undefined,
    pingIntervalMs: PING_INTERVAL_MS,
    realtime: { pingIntervalMs: PING_INTERVAL_MS, ...def.realtime },
  }
}

/** `--transports` names (the SDK's transport names, `-protobuf` for the protobuf framing) → contenders. */
export const TRANSPORT_CONTENDERS = Object.fromEntries(Object.entries(CONTENDERS).filter(([, d]) => d.transport).map(([name, d]) => [d.transport, name]))

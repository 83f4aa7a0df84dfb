/**
 * The SDK over each transport livedesk serves (issue 13 item 5): one adapter per transport builds the real
 * `centrifuge` SDK for a livedesk, so one suite runs unchanged over all of them. `GATEWAY_TRANSPORT` names the
 * adapter `newSdk()` uses (vitest.config.ts runs test/gateway once per transport).
 */
import { Centrifuge, type Options } from 'centrifuge'
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf'
import EventSource from 'eventsource'
import { describe, it, type TestFunction } from 'vitest'
import WebSocket from 'ws'

export const GATEWAY_TRANSPORTS = ['websocket', 'websocket-protobuf', 'http_stream', 'sse'] as const
export type GatewayTransport = (typeof GATEWAY_TRANSPORTS)[number]

export interface TransportAdapter {
  name: GatewayTransport
  /** What the SDK reports as `connected.transport`. */
  sdkTransport: 'websocket' | 'http_stream' | 'sse'
  /**
   * Whether the server gets a connection's commands in the order the SDK sent them. Over emulation each command
   * batch is its own HTTP request, which the server may handle in any order (Centrifugo too; the SDK says so).
   */
  ordered: boolean
  /** The SDK for the livedesk at `baseUrl` (`http://host:port`), not yet connected. */
  newSdk(baseUrl: string, options?: Partial<Options>): Centrifuge
}

/** Short reconnect delays: tests cut connections on purpose and wait for the SDK to come back. */
const FAST_RECONNECT: Partial<Options> = { minReconnectDelay: 50, maxReconnectDelay: 300 }

const wsEndpoint = (baseUrl: string) => `${baseUrl.replace(/^http/, 'ws')}/centrifugo/connection/websocket`

/** Bidirectional emulation: the stream on `/connection/<transport>`, later commands through `/emulation`. */
function emulated(transport: 'http_stream' | 'sse'): TransportAdapter {
  return {
    name: transport,
    sdkTransport: transport,
    ordered: false,
    newSdk: (baseUrl, options = {}) =>
      new Centrifuge([{ transport, endpoint: `${baseUrl}/centrifugo/connection/${transport}` }], {
        emulationEndpoint: `${baseUrl}/centrifugo/emulation`,
        // Node 20 has no global EventSource; this is the package centrifuge-js's own tests give the SDK.
        eventsource: EventSource,
        ...FAST_RECONNECT,
        ...options,
      } as Partial<Options>),
  }
}

export const TRANSPORT_ADAPTERS: Record<GatewayTransport, TransportAdapter> = {
  websocket: {
    name: 'websocket',
    sdkTransport: 'websocket',
    ordered: true,
    newSdk: (baseUrl, options = {}) => new Centrifuge(wsEndpoint(baseUrl), { websocket: WebSocket, ...FAST_RECONNECT, ...options }),
  },
  'websocket-protobuf': {
    name: 'websocket-protobuf',
    sdkTransport: 'websocket',
    ordered: true,
    newSdk: (baseUrl, options = {}) => jsonValuedProtobufSdk(wsEndpoint(baseUrl), { websocket: WebSocket, ...FAST_RECONNECT, ...options }),
  },
  http_stream: emulated('http_stream'),
  sse: emulated('sse'),
}

/** The adapter named by `GATEWAY_TRANSPORT` (default `websocket`); an unknown name fails loudly, never falls back. */
export function gatewayTransport(): TransportAdapter {
  const name = process.env.GATEWAY_TRANSPORT || 'websocket'
  if (!(GATEWAY_TRANSPORTS as readonly string[]).includes(name)) {
    throw new Error(`GATEWAY_TRANSPORT=${name}: expected one of ${GATEWAY_TRANSPORTS.join(', ')}`)
  }
  return TRANSPORT_ADAPTERS[name as GatewayTransport]
}

const onWebSocket = () => gatewayTransport().name === 'websocket'
const skippedName = (name: string, reason: string) => `${name} (WebSocket + JSON only: ${reason})`

/**
 * A suite that only means something over WebSocket + JSON (raw frames, socket-level behaviour): it runs over
 * `websocket` and is skipped, with its reason in its name, over the other transports.
 */
export function describeWebSocketOnly(name: string, reason: string, body: () => void, options: { concurrent?: boolean } = {}): void {
  const suite = options.concurrent ? describe.concurrent : describe
  suite.skipIf(!onWebSocket())(onWebSocket() ? name : skippedName(name, reason), body)
}

/** One test of a transport-neutral suite that only means something over WebSocket + JSON; see describeWebSocketOnly. */
export function itWebSocketOnly(name: string, reason: string, body: TestFunction, timeoutMs?: number): void {
  it.skipIf(!onWebSocket())(onWebSocket() ? name : skippedName(name, reason), body, timeoutMs)
}

/** A test about the order of one connection's commands: skipped where the transport does not keep it (`ordered`). */
export function itOverOrderedTransports(name: string, body: TestFunction, timeoutMs?: number): void {
  const ordered = gatewayTransport().ordered
  it.skipIf(!ordered)(ordered ? name : `${name} (not over emulation: each command is its own HTTP request)`, body, timeoutMs)
}

/**
 * The protobuf SDK, speaking JSON values to the tests: payloads travel as the UTF-8 bytes of their JSON text
 * (livedesk's codec contract), so commands get `data` as JSON bytes and replies' payloads are parsed back.
 */
export function jsonValuedProtobufSdk(url: string, options: Partial<Options>): Centrifuge {
  const c = new CentrifugeProtobuf(url, options as never)
  const codec = (c as unknown as { _codec: { encodeCommands(cs: object[]): Uint8Array; decodeReplies(d: unknown): object[] } })._codec
  const encode = codec.encodeCommands.bind(codec)
  const decode = codec.decodeReplies.bind(codec)
  codec.encodeCommands = (commands) => encode(commands.map((cmd) => mapPayloads(cmd, (v) => (v instanceof Uint8Array ? v : Buffer.from(JSON.stringify(v))))))
  codec.decodeReplies = (data) => decode(data).map((reply) => mapPayloads(reply, (v) => (v instanceof Uint8Array && v.length ? JSON.parse(Buffer.from(v).toString()) : v)))
  return c as unknown as Centrifuge
}

const PAYLOAD_FIELDS = new Set(['data', 'info', 'conn_info', 'chan_info'])

/** Applies `f` to every payload field (`data`, `conn_info`, `chan_info`; `info` when it holds bytes), depth-bounded. */
function mapPayloads<T>(value: T, f: (v: unknown) => unknown, depth = 0): T {
  if (depth > 16 || value === null || typeof value !== 'object' || value instanceof Uint8Array) return value
  for (const [key, v] of Object.entries(value as object)) {
    if (v === undefined || v === null) continue
    const payload = PAYLOAD_FIELDS.has(key) && (key !== 'info' || v instanceof Uint8Array)
    ;(value as Record<string, unknown>)[key] = payload ? f(v) : mapPayloads(v, f, depth + 1)
  }
  return value
}

/**
 * The adapter layer itself (test/helpers/transports.ts): each vitest project really runs the gateway suite over
 * the transport and protocol its GATEWAY_TRANSPORT names, never silently over WebSocket + JSON.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { Centrifuge } from 'centrifuge'
import { PROTOBUF_SUBPROTOCOL } from '../../src/realtime/protocol-choice.js'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { newSdk, nextEvent } from '../helpers/sdk.js'
import { gatewayTransport, TRANSPORT_ADAPTERS } from '../helpers/transports.js'

/** The transport name each connect reached the server with, by user. */
const serverTransports = new Map<string, string>()
let livedesk: TestLivedesk
beforeAll(async () => {
  livedesk = await startTestLivedesk({
    hooks: {
      authenticate: async (e) => {
        const { user } = e.data as { user: string }
        serverTransports.set(user, e.transport)
        return { user, channels: [] }
      },
      rpc: async (_ctx, _method, data) => ({ echoed: data }),
    },
  })
})

const open: Centrifuge[] = []
afterEach(() => {
  for (const sdk of open.splice(0)) sdk.disconnect()
})

/** A `ws` that remembers the subprotocol its server chose: `centrifuge-protobuf` for the protobuf SDK. */
const negotiated: string[] = []
class RecordingWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args)
    this.once('open', () => negotiated.push(this.protocol))
  }
}

describe(`the gateway suite's transport (${gatewayTransport().name})`, () => {
  it('is the one GATEWAY_TRANSPORT names, end to end: SDK transport, server transport, wire protocol, payloads', async () => {
    const adapter = gatewayTransport()
    expect(adapter.name).toBe(process.env.GATEWAY_TRANSPORT || 'websocket')
    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'adapter' }, websocket: RecordingWebSocket })
    open.push(sdk)
    const connected = nextEvent(sdk, 'connected')
    sdk.connect()
    expect((await connected).transport).toBe(adapter.sdkTransport)
    expect(serverTransports.get('adapter')).toBe(adapter.sdkTransport)
    if (adapter.sdkTransport === 'websocket') expect(negotiated).toEqual([adapter.name === 'websocket-protobuf' ? PROTOBUF_SUBPROTOCOL : ''])
    else expect(negotiated).toEqual([])
    // JSON values in and out, whatever the wire protocol.
    const data = { n: 1, s: 'ü', list: [null, true] }
    expect((await sdk.rpc('echo', data)).data).toEqual({ echoed: data })
  })

  it('refuses an unknown GATEWAY_TRANSPORT and a URL that is not a livedesk WebSocket URL over another transport', () => {
    const saved = process.env.GATEWAY_TRANSPORT
    try {
      process.env.GATEWAY_TRANSPORT = 'carrier-pigeon'
      expect(() => gatewayTransport()).toThrow(/GATEWAY_TRANSPORT=carrier-pigeon: expected one of websocket, websocket-protobuf, http_stream, sse/)
      process.env.GATEWAY_TRANSPORT = 'sse'
      expect(() => newSdk('ws://127.0.0.1:1/somewhere/else')).toThrow(/not a livedesk WebSocket URL to run over sse/)
    } finally {
      if (saved === undefined) delete process.env.GATEWAY_TRANSPORT
      else process.env.GATEWAY_TRANSPORT = saved
    }
    expect(Object.keys(TRANSPORT_ADAPTERS)).toEqual(['websocket', 'websocket-protobuf', 'http_stream', 'sse'])
  })
})

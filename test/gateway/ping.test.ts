import { beforeAll, describe, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { itWebSocketOnly } from '../helpers/transports.js'
import { closedWithin, dataAuth, openRaw } from './raw.js'

let livedesk: TestLivedesk
beforeAll(async () => {
  livedesk = await startTestLivedesk({ hooks: dataAuth, realtime: { pingIntervalMs: 1_000, pongTimeoutMs: 1_000 } })
})

// Concurrent: the idle test spends its 12.5 s waiting, the others need not wait for it.
describe.concurrent('server pings', () => {
  it('keeps an idle SDK connection up past the SDK no-ping timeout (ping 1 s + 10 s) with zero reconnects', async ({ expect }) => {
    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'idle' } }) // default maxServerPingDelay (10 s)
    const connecting = collect(sdk, 'connecting')
    const disconnected = collect(sdk, 'disconnected')
    const connected = nextEvent(sdk, 'connected')
    sdk.connect()
    const { client } = await connected
    // The point of the test is time passing with nothing but pings: 12.5 s > the SDK's 11 s no-ping timeout.
    await new Promise((r) => setTimeout(r, 12_500))
    expect(sdk.state).toBe('connected')
    expect(connecting.map((c) => c.code)).toEqual([0])
    expect(disconnected).toHaveLength(0)
    expect(livedesk.node.hub.clients.has(client)).toBe(true)
    sdk.disconnect()
  }, 20_000)

  itWebSocketOnly('advertises the ping interval and closes a raw client that never answers pings with 3012', 'a raw client', async ({ expect }) => {
    const raw = await openRaw(livedesk.wsUrl)
    const reply = await raw.connect({ user: 'mute' })
    expect(reply.connect).toMatchObject({ ping: 1, pong: true })
    const ping = await raw.waitFor((l) => l.id === undefined && l.push === undefined, 3_000)
    expect(ping).toEqual({})
    const closed = await closedWithin(raw, 5_000)
    expect(closed).toEqual({ code: 3012, reason: 'no pong' })
  })

  itWebSocketOnly('keeps a raw client that answers every ping with {}', 'a raw client', async ({ expect }) => {
    const raw = await openRaw(livedesk.wsUrl)
    await raw.connect({ user: 'polite' })
    let pings = 0
    raw.ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) if (line === '{}') (pings++, raw.send('{}'))
    })
    // Three ping rounds, each followed by a pong check.
    await until(() => pings >= 3, 6_000, 'three pings')
    expect(raw.ws.readyState).toBe(raw.ws.OPEN)
    raw.ws.close()
  })
})

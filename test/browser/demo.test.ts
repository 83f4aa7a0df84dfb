/** Demo mode: startDemo drives the real API, and an operator connected with its console token receives live events. */
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { startDemo, type Demo } from '../../src/demo/simulator.js'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { newSdk, until } from '../helpers/sdk.js'

describe('demo mode', () => {
  let demo: Demo | undefined
  afterAll(async () => {
    await demo?.stop()
  })

  it('creates operators and visitors whose activity reaches the console operator live', async () => {
    const l = await startTestLivedesk({ domain: { clientPresenceGraceMs: 20, typingMinIntervalMs: 0 } } as never)
    // Up to 30 visitors (bounded) so that, whichever operator routing picks first, some reach this one; stopped once seen.
    demo = await startDemo({ baseUrl: l.url, apiKey: l.apiKey, log: pino({ level: 'silent' }), pace: 0.03, concurrentVisitors: 3, totalVisitors: 30 })

    const url = new URL(demo.consoleUrl)
    expect(url.origin).toBe(l.url)
    const token = url.searchParams.get('token')
    expect(token).toBeTruthy()

    // Connected exactly as the console connects; the demo's visitors are routed to this operator too.
    const sdk = newSdk(l.wsUrl, { data: { application: 'notifications', settings: { token } } })
    const seen = new Set<string>()
    sdk.on('publication', (ctx) => seen.add((ctx.data as { event: string }).event))
    sdk.connect()
    const wanted = ['chatSessionStarted', 'chatSessionAdded', 'chatMessageCreated', 'typing', 'clientOnline', 'sessionClosedByClient']
    try {
      await until(() => wanted.every((e) => seen.has(e)), 35_000, 'demo events').catch((err) => {
        throw new Error(`${err.message}: missing ${wanted.filter((e) => !seen.has(e)).join(', ')}; seen ${[...seen].join(', ')}`)
      })
    } finally {
      sdk.disconnect()
    }

    const started = Date.now()
    await demo.stop()
    demo = undefined
    expect(Date.now() - started).toBeLessThan(5000)
  }, 60_000)
})

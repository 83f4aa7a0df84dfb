import { expect, it } from 'vitest'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { describeWebSocketOnly } from '../helpers/transports.js'
import { dataAuth, openRaw } from './raw.js'

describeWebSocketOnly('fan-out', 'counts the lines of raw frames', () => {
  it('coalesces a burst into frames of at most maxMessagesInFrame messages, in order, for raw sockets and the SDK alike', async () => {
    const MAX_IN_FRAME = 8
    const livedesk = await startTestLivedesk({ hooks: dataAuth, realtime: { maxMessagesInFrame: MAX_IN_FRAME } })
    const channel = 'burst:1'
    const raws = await Promise.all(Array.from({ length: 5 }, () => openRaw(livedesk.wsUrl)))
    for (const [i, raw] of raws.entries()) await raw.connect({ user: `raw-${i}`, channels: [channel] })
    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'sdk', channels: [channel] } })
    const pubs = collect(sdk, 'publication')
    const ready = nextEvent(sdk, 'subscribed', (c) => c.channel === channel)
    sdk.connect()
    await ready
    const framesBefore = raws.map((r) => r.frameSizes.length)

    // One burst within a single event-loop turn: 100 publications are due at once.
    const BURST = 100
    await Promise.all(Array.from({ length: BURST }, (_, n) => livedesk.node.publish(channel, { n })))

    for (const [i, raw] of raws.entries()) {
      await until(() => raw.lines.filter((l) => l.push?.pub).length === BURST, 5_000, `the burst at raw socket ${i}`)
      const sizes = raw.frameSizes.slice(framesBefore[i])
      expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_IN_FRAME)
      expect(sizes.length).toBeLessThanOrEqual(Math.ceil(BURST / MAX_IN_FRAME) + 2)
      expect(raw.lines.filter((l) => l.push?.pub).map((l) => l.push.pub.data.n)).toEqual([...Array(BURST).keys()])
      expect(raw.lines.filter((l) => l.push?.pub).map((l) => l.push.pub.offset)).toEqual([...Array(BURST).keys()].map((n) => n + 1))
      raw.ws.close()
    }
    await until(() => pubs.length === BURST, 5_000, 'the burst at the SDK')
    expect(pubs.map((p) => p.data.n)).toEqual([...Array(BURST).keys()])
    sdk.disconnect()
  })
})

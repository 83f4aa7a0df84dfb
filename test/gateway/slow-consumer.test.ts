import type { Socket } from 'node:net'
import { expect, it } from 'vitest'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { describeWebSocketOnly } from '../helpers/transports.js'
import { dataAuth, metric, openRaw } from './raw.js'

const MAX_QUEUE = 512 * 1024
const PAD = 'x'.repeat(16 * 1024)

describeWebSocketOnly('a slow consumer', 'pauses a raw socket', () => {
  it('is disconnected with 3008 while a normal SDK client keeps its latency and server memory stays bounded', async () => {
    const livedesk = await startTestLivedesk({ hooks: dataAuth, realtime: { maxQueueBytes: MAX_QUEUE } })
    const channel = 'flood:1'

    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'fast', channels: [channel] } })
    const delays: number[] = []
    const seen: number[] = []
    sdk.on('publication', (ctx) => {
      delays.push(Date.now() - ctx.data.t)
      seen.push(ctx.data.n)
    })
    const connecting = collect(sdk, 'connecting')
    const ready = nextEvent(sdk, 'subscribed', (c) => c.channel === channel)
    sdk.connect()
    await ready

    const slow = await openRaw(livedesk.wsUrl)
    const reply = await slow.connect({ user: 'slow', channels: [channel] })
    expect(Object.keys(reply.connect.subs)).toEqual([channel])
    // Never read again: the kernel buffers fill, then the server's queue for this socket.
    ;(slow.ws as unknown as { _socket: Socket })._socket.pause()

    const slowBefore = await metric(livedesk.url, 'livedesk_slow_disconnects_total')
    const rssBefore = process.memoryUsage().rss
    let rssMax = rssBefore
    let published = 0
    const MAX_PUBLICATIONS = 4_000 // 64 MB at most through the fast client
    let cutAt = 0
    while (published < MAX_PUBLICATIONS && (cutAt === 0 || published < cutAt + 50)) {
      published++
      await livedesk.node.publish(channel, { n: published, t: Date.now(), pad: PAD })
      if (published % 10 === 0) {
        // Paced by the fast client: it must keep up, the slow one may not.
        await until(() => seen.length >= published - 20, 5_000, 'the fast client to keep up')
        rssMax = Math.max(rssMax, process.memoryUsage().rss)
        if (cutAt === 0 && livedesk.node.stats.slowDisconnects > slowBefore) cutAt = published
      }
    }
    expect(cutAt, `no slow disconnect after ${published} publications`).toBeGreaterThan(0)
    expect(await metric(livedesk.url, 'livedesk_slow_disconnects_total')).toBe(slowBefore + 1)
    expect(livedesk.node.hub.users.has('slow')).toBe(false)

    await until(() => seen.length === published, 10_000, 'every publication at the fast client')
    expect(seen).toEqual(Array.from({ length: published }, (_, i) => i + 1))
    expect(connecting.map((c) => c.code)).toEqual([0])
    const sorted = [...delays].sort((a, b) => a - b)
    const p99 = sorted[Math.floor(sorted.length * 0.99)]
    expect(p99).toBeLessThan(500)
    expect(rssMax - rssBefore).toBeLessThan(200 * 1024 * 1024)

    // Once it reads again it finds the close: 3008, or 1006 if the server had to drop the stuck socket first.
    ;(slow.ws as unknown as { _socket: Socket })._socket.resume()
    const closed = await slow.closed
    expect([3008, 1006]).toContain(closed.code)
    sdk.disconnect()
  }, 60_000)
})

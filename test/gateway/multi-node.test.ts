import { randomBytes } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { serverApi, startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { serviceUrl } from '../realtime/services.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'

const redisUrl = serviceUrl('REDIS_URL', 'gateway on two nodes over Redis')

if (redisUrl) {
  describe('gateway on two nodes over Redis', () => {
    // Names no other run on the same Redis shares.
    const run = randomBytes(4).toString('hex')
    let gate: Promise<void> | undefined
    let openGate = () => {}
    let held = 0
    const hooks = {
      authenticate: async (e: { data?: unknown }) => {
        const { user } = e.data as { user: string }
        if (gate) (held++, await gate)
        return { user, channels: [`multi:${user}`] }
      },
    }
    let a: TestLivedesk
    let b: TestLivedesk
    beforeAll(async () => {
      ;[a, b] = await Promise.all([startTestLivedesk({ hooks, redisUrl }), startTestLivedesk({ hooks, redisUrl })])
    })

    it('delivers publications made on node B to an SDK client on node A and recovers them from Redis after a cut made from B', async () => {
      const user = `u-${run}`
      const channel = `multi:${user}`
      const sdk = newSdk(a.wsUrl, { data: { user } })
      const pubs = collect(sdk, 'publication')
      const ready = nextEvent(sdk, 'subscribed', (c) => c.channel === channel)
      sdk.connect()
      await ready
      for (let seq = 1; seq <= 3; seq++) expect((await serverApi(b, 'publish', { channel, data: { seq } })).body.result.offset).toBe(seq)
      await until(() => pubs.length === 3, 5_000, 'cross-node publications')
      // Presence lives in Redis: node B sees the client of node A.
      expect((await serverApi(b, 'presence_stats', { channel })).body.result).toEqual({ num_clients: 1, num_users: 1 })

      gate = new Promise((r) => (openGate = r))
      const reconnecting = nextEvent(sdk, 'connecting', (c) => c.code === 3011)
      await serverApi(b, 'disconnect', { user, disconnect: { code: 3011, reason: 'force reconnect' } })
      await reconnecting
      await until(() => held === 1, 5_000, 'the reconnect to reach authenticate')
      for (let seq = 4; seq <= 53; seq++) await serverApi(b, 'publish', { channel, data: { seq } })
      const recovered = nextEvent(sdk, 'subscribed', (c) => c.channel === channel && c.wasRecovering)
      gate = undefined
      openGate()
      expect(await recovered).toMatchObject({ recovered: true })
      await serverApi(b, 'publish', { channel, data: { seq: 54 } })
      await until(() => pubs.length >= 54, 5_000, '54 publications')
      expect(pubs.map((p) => p.data.seq)).toEqual(Array.from({ length: 54 }, (_, i) => i + 1))
      sdk.disconnect()
    })
  })
}

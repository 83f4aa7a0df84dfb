/** What every PresenceManager does, written once and run against each implementation. */
import { randomBytes } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { PresenceManager } from '../../src/realtime/presence.js'
import type { ClientInfo } from '../../src/protocol/types.js'

export interface PresenceContractTarget {
  name: string
  /** A new manager; with `shared`, managers made by one target see the same presence. */
  newManager(opts: { ttlMs?: number }): PresenceManager
  shared: boolean
  /** Entries vanish unless re-added within `ttlMs` (needed across nodes, so a crashed node's clients go away). */
  expires: boolean
}

const channelName = () => `ch-${randomBytes(4).toString('hex')}`
const info = (user: string, client: string, extra: Partial<ClientInfo> = {}): ClientInfo => ({ user, client, ...extra })

export function presenceContract(target: PresenceContractTarget): void {
  function manager(opts: { ttlMs?: number } = {}): PresenceManager {
    const m = target.newManager(opts)
    onTestFinished(() => m.close())
    return m
  }

  describe(`${target.name}: presence`, () => {
    it('is empty for a channel nobody is in', async () => {
      const m = manager()
      const ch = channelName()
      expect(await m.presence(ch)).toEqual({})
      expect(await m.stats(ch)).toEqual({ numClients: 0, numUsers: 0 })
    })

    it('lists clients with their info and counts clients and distinct users', async () => {
      const m = manager()
      const ch = channelName()
      const alice1 = info('alice', 'c1', { conn_info: { name: 'Alice', langs: ['ru', 'en'] }, chan_info: { role: 'operator' } })
      const alice2 = info('alice', 'c2')
      const bob = info('bob', 'c3', { conn_info: { name: 'Bob' } })
      await m.add(ch, 'c1', alice1)
      await m.add(ch, 'c2', alice2)
      await m.add(ch, 'c3', bob)
      expect(await m.presence(ch)).toEqual({ c1: alice1, c2: alice2, c3: bob })
      expect(await m.stats(ch)).toEqual({ numClients: 3, numUsers: 2 })
    })

    it('replaces the info of a client added again, without counting it twice', async () => {
      const m = manager()
      const ch = channelName()
      await m.add(ch, 'c1', info('alice', 'c1', { conn_info: { v: 1 } }))
      await m.add(ch, 'c1', info('alice', 'c1', { conn_info: { v: 2 } }))
      expect(await m.presence(ch)).toEqual({ c1: info('alice', 'c1', { conn_info: { v: 2 } }) })
      expect(await m.stats(ch)).toEqual({ numClients: 1, numUsers: 1 })
    })

    it('removes a client; removing an absent one is harmless', async () => {
      const m = manager()
      const ch = channelName()
      await m.add(ch, 'c1', info('alice', 'c1'))
      await m.add(ch, 'c2', info('bob', 'c2'))
      await m.remove(ch, 'c1')
      await m.remove(ch, 'nobody')
      await m.remove(channelName(), 'c2')
      expect(await m.presence(ch)).toEqual({ c2: info('bob', 'c2') })
      expect(await m.stats(ch)).toEqual({ numClients: 1, numUsers: 1 })
      await m.remove(ch, 'c2')
      expect(await m.presence(ch)).toEqual({})
      expect(await m.stats(ch)).toEqual({ numClients: 0, numUsers: 0 })
    })

    it('keeps channels apart', async () => {
      const m = manager()
      const [a, b] = [channelName(), channelName()]
      await m.add(a, 'c1', info('alice', 'c1'))
      await m.add(b, 'c2', info('bob', 'c2'))
      expect(await m.presence(a)).toEqual({ c1: info('alice', 'c1') })
      expect(await m.stats(b)).toEqual({ numClients: 1, numUsers: 1 })
    })

    if (target.expires) {
      it('drops clients not re-added within the TTL and keeps those that are', async () => {
        const ttlMs = 800
        const m = manager({ ttlMs })
        const ch = channelName()
        await m.add(ch, 'gone', info('alice', 'gone'))
        await m.add(ch, 'kept', info('bob', 'kept'))
        const deadline = Date.now() + 5_000
        let present = await m.presence(ch)
        // The node's periodic re-add, made short: 'kept' is re-added well within its TTL until 'gone' expires.
        while ('gone' in present && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, ttlMs / 8))
          await m.add(ch, 'kept', info('bob', 'kept'))
          present = await m.presence(ch)
        }
        expect(present).toEqual({ kept: info('bob', 'kept') })
        expect(await m.stats(ch)).toEqual({ numClients: 1, numUsers: 1 })
      })
    }

    if (target.shared) {
      it('is the same seen from every node', async () => {
        const [a, b] = [manager(), manager()]
        const ch = channelName()
        await a.add(ch, 'c1', info('alice', 'c1'))
        await b.add(ch, 'c2', info('bob', 'c2'))
        expect(await b.presence(ch)).toEqual({ c1: info('alice', 'c1'), c2: info('bob', 'c2') })
        await b.remove(ch, 'c1')
        expect(await a.stats(ch)).toEqual({ numClients: 1, numUsers: 1 })
      })
    }
  })
}

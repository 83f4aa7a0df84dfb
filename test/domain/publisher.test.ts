/**
 * The publisher's promise to a change (src/domain/publisher.ts): the change's work after its events (a blocked
 * operator's disconnect) waits until they are out, also when a relay pass queued one of them first.
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { DEFAULT_DOMAIN_CONFIG } from '../../src/domain/index.js'
import type { StoredEvent } from '../../src/domain/outbox.js'
import type { LiveGateway } from '../../src/domain/ports.js'
import { EventPublisher } from '../../src/domain/publisher.js'
import { migrate } from '../../src/store/migrate.js'
import { openPglite } from '../../src/store/pglite.js'

/** A gateway whose publishes wait until `release()`: a broker that is slow to answer. */
function heldGateway() {
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  const published: string[] = []
  const live: LiveGateway = {
    async publish(channel) {
      await held
      published.push(channel)
    },
    async disconnectUser() {},
    async connectionCount() {
      return 0
    },
  }
  return { live, published, release }
}

describe('EventPublisher', () => {
  it('answers a second publish of an event already queued once it is out, not at once', async () => {
    const db = await openPglite()
    await migrate(db)
    const gateway = heldGateway()
    const publisher = new EventPublisher(db, gateway.live, DEFAULT_DOMAIN_CONFIG, pino({ level: 'silent' }), 'node-a')
    try {
      const event: StoredEvent = {
        id: 1, eventId: 'e-1', event: 'operatorBlocked', chatId: null,
        data: { id: 'op-1', reason: null, at: new Date().toISOString() }, subject: { operatorId: 'op-1' }, at: new Date().toISOString(),
      }
      const settled: string[] = []
      // A relay pass queued it first; the change that wrote it publishes it too and must wait for the same publish.
      const byRelay = publisher.publish([event]).then(() => settled.push('relay'))
      const byChange = publisher.publish([event]).then(() => settled.push('change'))
      await new Promise((r) => setTimeout(r, 50))
      expect(settled).toEqual([])
      gateway.release()
      await Promise.all([byRelay, byChange])
      expect(settled.sort()).toEqual(['change', 'relay'])
      expect(gateway.published).toEqual(['operator:op-1'])
    } finally {
      await publisher.close()
      await db.close()
    }
  })
})

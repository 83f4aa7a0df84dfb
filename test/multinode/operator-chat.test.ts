/**
 * The operator-chat domain on two nodes: what one node decides from presence and the database reaches
 * consoles connected to the other (real `centrifuge` SDK, REST API as in spec/http-api.md).
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { TestLivedesk } from '../helpers/livedesk.js'
import { api } from '../http/e2e.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { serviceUrl } from '../realtime/services.js'
import { startCluster, unique, type Cluster } from './cluster.js'

const redisUrl = serviceUrl('REDIS_URL', 'multi-node operator chat')
const databaseUrl = redisUrl ? serviceUrl('TEST_DATABASE_URL', 'multi-node operator chat') : undefined

if (redisUrl && databaseUrl) {
  describe('two nodes behind Redis and PostgreSQL: operator chat', () => {
    let cluster: Cluster
    let a: TestLivedesk
    let b: TestLivedesk

    beforeAll(async () => {
      cluster = await startCluster(redisUrl, databaseUrl)
      ;({ a, b } = cluster)
    })

    afterAll(() => cluster?.close())

    /** An operator created and logged in on `node`, with a console connected to `consoleNode`. */
    async function operatorConsole(node: TestLivedesk, consoleNode: TestLivedesk) {
      const operator = await api(node, 'POST', '/operators', { name: unique('Anna') })
      expect(operator.status).toBe(201)
      const login = await api(node, 'POST', `/operators/${operator.body.id}/tokens`, {})
      expect(login.status).toBe(201)
      const sdk = newSdk(consoleNode.wsUrl, { data: { application: 'notifications', settings: { token: login.body.token } } })
      onTestFinished(() => sdk.disconnect())
      const events = collect(sdk, 'publication')
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      await connected
      return { id: operator.body.id as string, sdk, events }
    }

    it("routes a client's message written on node B to the operator whose console is on node A", async () => {
      const operator = await operatorConsole(a, a)
      const client = await api(b, 'POST', '/clients', { name: 'Иван' })
      expect(client.status).toBe(201)
      const text = unique('Здравствуйте')
      const message = await api(b, 'POST', `/clients/${client.body.id}/messages`, { text })
      expect(message.status).toBe(201)
      const byName = (name: string) => operator.events.find((p) => (p.data as any).event === name)?.data as any
      await until(() => !!byName('chatSessionAdded') && !!byName('chatMessageCreated'), 5_000, 'the routed session and its message')
      expect(byName('chatSessionAdded').data).toMatchObject({ operatorId: operator.id, status: 'assigned', clientId: client.body.id })
      expect(byName('chatMessageCreated').data).toMatchObject({ id: message.body.id, text, author: { type: 'client' } })
    })

    it('tells a console on node A that its operator logged in again through node B, then closes it', async () => {
      const operator = await operatorConsole(a, a)
      const disconnected = nextEvent(operator.sdk, 'disconnected')
      const again = await api(b, 'POST', `/operators/${operator.id}/tokens`, {})
      expect(again.status).toBe(201)
      const closed = await disconnected
      expect(closed.code).toBeGreaterThanOrEqual(4500) // terminal: the SDK must not reconnect with the revoked token
      expect(operator.events.map((p) => (p.data as any).event)).toContain('chatUserExists')
      expect(operator.events.find((p) => (p.data as any).event === 'chatUserExists')!.data).toMatchObject({ data: { id: operator.id } })
    })
  })
}

/**
 * Issue 15, availability: `away` keeps its chats and takes no new ones; the auto-away timers (short here) and a
 * console connecting; a status a person chose survives a reconnect; `operatorStatusChanged` reaches exactly the
 * operator and the supervisors. Real server, real SDK, on PGlite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, connect, newClient, ok, settle } from '../http/e2e.js'
import { randomPrefix, serviceUrl } from '../realtime/services.js'
import { startCluster, type Cluster } from '../multinode/cluster.js'
import { onEveryDatabase, operatorWith, until } from '../helpers/databases15.js'

/** Operators of a finished test take no more chats (their consoles may still count as connected for a moment). */
async function retire(l: Parameters<typeof ok>[0], ids: string[]) {
  for (const id of ids) await ok(l, 'PUT', `/operators/${id}/status`, { status: 'offline' })
}

const AWAY_MS = 800
const OFFLINE_MS = 1_600

onEveryDatabase('availability', { domain: { operatorAutoAwayAfterMs: AWAY_MS, operatorAutoOfflineAfterMs: OFFLINE_MS, timerSweepMs: 50 } }, (env) => {
  it('away keeps its own chats and takes no new ones; online again drains the queue to it', async () => {
    const { l } = env()
    const ann = await operatorWith(l, 'Ann')
    const a = await env().console(ann.token)
    const first = await newClient(l, 'First')
    await ok(l, 'POST', `/clients/${first.id}/messages`, { text: 'one' })
    const held = await a.next('chatSessionAdded', (e) => e.data.chatId === first.chatId)

    const me = await ok(l, 'PUT', '/me/status', { status: 'away' }, ann.token)
    expect(me).toMatchObject({ id: ann.id, status: 'away', auto: false })
    const changed = await a.next('operatorStatusChanged', (e) => e.data.operator.status === 'away' && !e.data.operator.auto)
    expect(changed.data.operator).toEqual({ id: ann.id, name: 'Ann', status: 'away', previousStatus: 'online', auto: false, openSessions: 1, maxChats: 5 })

    const second = await newClient(l, 'Second')
    await ok(l, 'POST', `/clients/${second.id}/messages`, { text: 'two' })
    await a.next('operatorNotFound', (e) => e.data.chatId === second.chatId)
    // Her own chat stays hers: she still writes in it.
    await ok(l, 'POST', `/sessions/${held.data.id}/messages`, { text: 'still here' }, ann.token)
    expect((await ok(l, 'GET', '/me', undefined, ann.token)).status).toBe('away')
    expect(a.events.filter((e) => e.event === 'chatSessionAdded' && e.data.chatId === second.chatId)).toEqual([])

    await ok(l, 'PUT', '/me/status', { status: 'online' }, ann.token)
    const added = await a.next('chatSessionAdded', (e) => e.data.chatId === second.chatId)
    expect(added.data.operatorId).toBe(ann.id)
    await retire(l, [ann.id])
    a.close()
  })

  it('goes away, then offline, with no console connected, and back online when a console connects', async () => {
    const { l } = env()
    // A supervisor takes chats like anyone: with no room she only watches.
    const sue = await operatorWith(l, 'Sue', { role: 'supervisor', maxChats: 0 })
    const s = await env().console(sue.token)
    const bob = await operatorWith(l, 'Bob')
    const b = await env().console(bob.token)
    // Registered and online (under load the timer may have caught him before his console connected).
    await until(async () => (await ok(l, 'GET', '/operators/status')).items.some((o: any) => o.id === bob.id && o.connected && o.status === 'online'))
    const closedAt = Date.now()
    b.close()
    const after = (e: any) => Date.parse(e.at) >= closedAt - 5 && e.data.operator.id === bob.id
    const away = await s.next('operatorStatusChanged', (e) => after(e) && e.data.operator.status === 'away', 10_000)
    expect(away.data.operator).toMatchObject({ previousStatus: 'online', auto: true })
    // No new chats while away.
    const c = await newClient(l, 'Carl')
    await ok(l, 'POST', `/clients/${c.id}/messages`, { text: 'hello' })
    await s.next('operatorNotFound', (e) => e.data.chatId === c.chatId)
    const offline = await s.next('operatorStatusChanged', (e) => after(e) && e.data.operator.status === 'offline', 10_000)
    expect(offline.data.operator).toMatchObject({ previousStatus: 'away', auto: true })
    const status = (await ok(l, 'GET', '/operators/status')).items.find((o: any) => o.id === bob.id)
    expect(status).toMatchObject({ status: 'offline', auto: true, connected: false })

    // A console connecting undoes what the timers set, and the queue drains to him.
    const again = await env().console(bob.token)
    const online = await s.next('operatorStatusChanged', (e) => after(e) && e.data.operator.status === 'online')
    expect(online.data.operator).toMatchObject({ previousStatus: 'offline', auto: true })
    await again.next('chatSessionAdded', (e) => e.data.chatId === c.chatId)
    await retire(l, [bob.id, sue.id])
    again.close()
    s.close()
  })

  it('keeps a status a person chose across a reconnect', async () => {
    const { l } = env()
    const dan = await operatorWith(l, 'Dan')
    const d = await env().console(dan.token)
    await ok(l, 'PUT', '/me/status', { status: 'away' }, dan.token)
    await d.next('operatorStatusChanged', (e) => e.data.operator.status === 'away' && !e.data.operator.auto)
    d.close()
    const again = await env().console(dan.token)
    // The connect's registration (and any status change it makes) is committed before a queued session could go to him.
    const c = await newClient(l, 'Eve')
    await ok(l, 'POST', `/clients/${c.id}/messages`, { text: 'hi' })
    await again.next('operatorNotFound', (e) => e.data.chatId === c.chatId)
    await settle(l, again, [`operator:${dan.id}`])
    expect(again.events.filter((e) => e.event === 'operatorStatusChanged')).toEqual([])
    expect(await ok(l, 'GET', '/me', undefined, dan.token)).toMatchObject({ status: 'away', statusAuto: false })
    // Connected, so no timer touches him either.
    expect((await ok(l, 'GET', '/operators/status')).items.find((o: any) => o.id === dan.id)).toMatchObject({ status: 'away', connected: true })
    await retire(l, [dan.id])
    again.close()
  })

  it('sends operatorStatusChanged to the operator and the supervisors, nobody else', async () => {
    const { l } = env()
    const fay = await operatorWith(l, 'Fay')
    const gus = await operatorWith(l, 'Gus')
    const sam = await operatorWith(l, 'Sam', { role: 'supervisor' })
    const f = await env().console(fay.token)
    const g = await env().console(gus.token)
    const s = await env().console(sam.token)
    await ok(l, 'PUT', `/operators/${fay.id}/status`, { status: 'offline' }, sam.token)
    const byPerson = (e: any) => e.data.operator.id === fay.id && !e.data.operator.auto
    const mine = await f.next('operatorStatusChanged', byPerson)
    const seen = await s.next('operatorStatusChanged', byPerson)
    expect(seen.id).toBe(mine.id)
    expect(mine.data.operator).toMatchObject({ status: 'offline', previousStatus: 'online', auto: false })
    await settle(l, g, [`operator:${gus.id}`, 'operators:queue'])
    // (Gus may hear of his own status: created before his console connected, the short auto-away can catch him.)
    expect(g.events.filter((e) => e.event === 'operatorStatusChanged' && e.data.operator.id === fay.id)).toEqual([])
    await retire(l, [gus.id, sam.id])
    for (const c of [f, g, s]) c.close()
  })

  it('refuses a bad status naming the field', async () => {
    const { l } = env()
    const hal = await operatorWith(l, 'Hal')
    for (const body of [{ status: 'busy' }, { status: 1 }, {}]) {
      const res = await api(l, 'PUT', '/me/status', body, hal.token)
      expect(res.status).toBe(400)
      expect(res.body.error.field).toBe('status')
    }
    const res = await api(l, 'PUT', '/me/status', { status: 'away', extra: true }, hal.token)
    expect(res.status).toBe(400)
    expect(res.body.error.field).toBe('extra')
    expect((await api(l, 'PUT', '/operators/nope/status', { status: 'away' })).status).toBe(404)
  })
})

// ---- two nodes (PostgreSQL + Redis): each due timer is taken by one node; membership changes reach every node -------
const redisUrl = serviceUrl('REDIS_URL', 'availability across nodes')
const databaseUrl = redisUrl ? serviceUrl('TEST_DATABASE_URL', 'availability across nodes') : undefined

if (redisUrl && databaseUrl) {
  describe('availability on two nodes', () => {
    let cluster: Cluster
    beforeAll(async () => {
      cluster = await startCluster(redisUrl, databaseUrl, {
        domain: { operatorAutoAwayAfterMs: AWAY_MS, operatorAutoOfflineAfterMs: 0, timerSweepMs: 50 },
        redisPrefix: randomPrefix('availability'),
      })
    }, 30_000)
    afterAll(() => cluster?.close(), 30_000)

    it('sends one auto-away for an operator who left node A to a supervisor on node B', async () => {
      const { a, b } = cluster
      const sue = await operatorWith(a, 'Sue', { role: 'supervisor', maxChats: 0 })
      const s = await connect(b, 'notifications', sue.token)
      const bob = await operatorWith(a, 'Bob')
      const c = await connect(a, 'notifications', bob.token)
      await until(async () => (await ok(b, 'GET', '/operators/status')).items.some((o: any) => o.id === bob.id && o.connected && o.status === 'online'))
      const closedAt = Date.now()
      c.close()
      const isAway = (e: any) => e.data.operator.id === bob.id && e.data.operator.status === 'away' && Date.parse(e.at) >= closedAt - 5
      await s.next('operatorStatusChanged', isAway, 10_000)
      // Both nodes swept meanwhile: still one event.
      await until(async () => (await ok(a, 'GET', '/operators/status')).items.some((o: any) => o.id === bob.id && o.status === 'away'))
      await settle(a, s, ['operators:supervisors'])
      expect(s.events.filter((e) => e.event === 'operatorStatusChanged' && isAway(e))).toHaveLength(1)
      s.close()
    })

    it('subscribes a member\'s console on node B to the group queue when node A changes the members', async () => {
      const { a, b } = cluster
      const eve = await operatorWith(a, 'Eve', { maxChats: 0 })
      const e = await connect(b, 'notifications', eve.token)
      const g = await ok(a, 'POST', '/groups', { name: 'Cross' })
      await ok(a, 'PUT', `/groups/${g.id}/operators`, { operatorIds: [eve.id] })
      const client = await newClient(a, 'Zed')
      await ok(a, 'POST', `/clients/${client.id}/messages`, { text: 'hi', group: 'Cross' })
      const started = await e.next('chatSessionStarted', (x) => x.data.chatId === client.chatId)
      expect(started.data.groupId).toBe(g.id)
      e.close()
    })
  })
}

/**
 * Issue 15, supervisors: `role: 'supervisor'`; a supervisor's console gets every session event operators see and
 * every status change on `operators:supervisors`; it lists every open session, sees and sets everyone's status,
 * closes any session; plain operators may not. Real server, real SDK, on PGlite and PostgreSQL.
 */
import { expect, it } from 'vitest'
import { api, newClient, ok, settle } from './e2e.js'
import { onEveryDatabase, operatorWith, until } from '../helpers/databases15.js'

onEveryDatabase('supervisors', { domain: { timerSweepMs: 50 } }, (env) => {
  const retire = async (ids: string[]) => {
    for (const id of ids) await ok(env().l, 'PUT', `/operators/${id}/status`, { status: 'offline' })
  }

  it('sends a supervisor every session event operators see, and status changes', async () => {
    const { l } = env()
    const sue = await operatorWith(l, 'Sue', { role: 'supervisor', maxChats: 0 })
    expect((await ok(l, 'GET', '/me', undefined, sue.token)).role).toBe('supervisor')
    const ann = await operatorWith(l, 'Ann')
    const bea = await operatorWith(l, 'Bea', { maxChats: 0 })
    const s = await env().console(sue.token)
    await env().console(ann.token)
    const b = await env().console(bea.token)
    const c = await newClient(l, 'Carl')
    await ok(l, 'POST', `/clients/${c.id}/messages`, { text: 'hello' })
    const added = await s.next('chatSessionAdded', (e) => e.data.chatId === c.chatId)
    expect(added.data.operatorId).toBe(ann.id)
    await s.next('chatSessionStarted', (e) => e.data.chatId === c.chatId)
    await s.next('chatMessageCreated', (e) => e.data.chatId === c.chatId && e.data.text === 'hello')
    await ok(l, 'POST', `/sessions/${added.data.id}/messages`, { text: 'hi, Ann here' }, ann.token)
    await s.next('chatMessageCreated', (e) => e.data.text === 'hi, Ann here')
    await ok(l, 'PUT', '/me/status', { status: 'away' }, ann.token)
    await s.next('operatorStatusChanged', (e) => e.data.operator.id === ann.id && e.data.operator.status === 'away')
    await ok(l, 'POST', `/clients/${c.id}/close`)
    await s.next('sessionClosedByClient', (e) => e.data.id === added.data.id)
    // Another operator's console gets only the queue's part: not Ann's chat, nor her status.
    await settle(l, b, [`operator:${bea.id}`, 'operators:queue'])
    expect(b.names().filter((n) => n !== 'marker')).toEqual(['chatSessionStarted'])
    await retire([ann.id])
  })

  it('lists every open session for a supervisor, and only its own and the queue for an operator', async () => {
    const { l } = env()
    const sam = await operatorWith(l, 'Sam', { role: 'supervisor', maxChats: 0 })
    const bob = await operatorWith(l, 'Bob', { maxChats: 1 })
    const b = await env().console(bob.token)
    const held = await newClient(l, 'Held')
    await ok(l, 'POST', `/clients/${held.id}/messages`, { text: 'one' })
    const heldSession = await b.next('chatSessionAdded', (e) => e.data.chatId === held.chatId)
    const bot = await newClient(l, 'Bot')
    await ok(l, 'POST', `/clients/${bot.id}/messages`, { text: 'to the bot', mode: 'bot' })
    const queued = await newClient(l, 'Queued')
    await ok(l, 'POST', `/clients/${queued.id}/messages`, { text: 'two' })
    await b.next('operatorNotFound', (e) => e.data.chatId === queued.chatId)

    const all = (await ok(l, 'GET', '/sessions?limit=200', undefined, sam.token)).items.map((x: any) => x.chatId)
    expect(all).toEqual(expect.arrayContaining([held.chatId, bot.chatId, queued.chatId]))
    const mine = (await ok(l, 'GET', '/sessions?limit=200', undefined, bob.token)).items.map((x: any) => x.chatId)
    expect(mine).toEqual(expect.arrayContaining([held.chatId, queued.chatId]))
    expect(mine).not.toContain(bot.chatId)
    // A supervisor reads and closes any session; an operator only its own.
    expect((await ok(l, 'GET', `/sessions/${heldSession.data.id}/messages`, undefined, sam.token)).items.map((m: any) => m.text)).toEqual(['one'])
    const other = await operatorWith(l, 'Other')
    expect((await api(l, 'POST', `/sessions/${heldSession.data.id}/close`, undefined, other.token)).status).toBe(403)
    expect((await ok(l, 'POST', `/sessions/${heldSession.data.id}/close`, undefined, sam.token)).status).toBe('closed')
    // Bob learns his chat was closed by someone else.
    const deleted = await b.next('chatSessionDeleted', (e) => e.data.id === heldSession.data.id)
    expect(deleted.data.reason).toBe('closed')
    // Bob's slot is free again: the queue drains to him.
    await b.next('chatSessionAdded', (e) => e.data.chatId === queued.chatId)
    await retire([bob.id])
  })

  it('shows and sets everyone\'s status to a supervisor or the API key, not to operators', async () => {
    const { l } = env()
    const sid = await operatorWith(l, 'Sid', { role: 'supervisor', maxChats: 0 })
    const cat = await operatorWith(l, 'Cat', { maxChats: 3 })
    const c = await env().console(cat.token)
    // The console's registration commits just after its connect reply.
    const items = await until(async () => {
      const { items } = await ok(l, 'GET', '/operators/status', undefined, sid.token)
      return items.find((o: any) => o.id === cat.id)?.connected && items
    })
    expect(items.find((o: any) => o.id === cat.id)).toEqual({
      id: cat.id, name: 'Cat', status: 'online', auto: false, role: 'operator', connected: true, openSessions: 0, maxChats: 3, groups: [],
    })
    expect((await ok(l, 'GET', '/operators/status')).items.length).toBe(items.length)
    // Any operator reads it (the transfer dialog lists colleagues); setting another's status stays a supervisor's.
    expect((await ok(l, 'GET', '/operators/status', undefined, cat.token)).items.length).toBe(items.length)
    expect((await api(l, 'PUT', `/operators/${sid.id}/status`, { status: 'away' }, cat.token)).status).toBe(403)
    expect(await ok(l, 'PUT', `/operators/${cat.id}/status`, { status: 'away' }, sid.token)).toMatchObject({ status: 'away', auto: false })
    await c.next('operatorStatusChanged', (e) => e.data.operator.status === 'away')
    const bad = await api(l, 'PUT', `/operators/${cat.id}/status`, { status: 'gone' }, sid.token)
    expect([bad.status, bad.body.error.field]).toEqual([400, 'status'])
    await retire([cat.id])
  })

  it('makes an operator a supervisor (and back) with the API key; the live console follows; bad roles are 400', async () => {
    const { l } = env()
    const dee = await operatorWith(l, 'Dee', { maxChats: 0 })
    const d = await env().console(dee.token)
    expect((await ok(l, 'PATCH', `/operators/${dee.id}`, { role: 'supervisor' })).role).toBe('supervisor')
    await ok(l, 'PUT', `/operators/${dee.id}/status`, { status: 'away' })
    // Her console was subscribed to operators:supervisors server-side: a session event of someone else reaches it.
    const c = await newClient(l, 'Eli')
    await ok(l, 'POST', `/clients/${c.id}/messages`, { text: 'hi' })
    await d.next('chatSessionStarted', (e) => e.data.chatId === c.chatId)
    await d.next('chatMessageCreated', (e) => e.data.chatId === c.chatId)
    for (const [method, path, body] of [
      ['POST', '/operators', { name: 'X', role: 'boss' }],
      ['PATCH', `/operators/${dee.id}`, { role: 'admin' }],
      ['PATCH', `/operators/${dee.id}`, { role: null }],
    ] as const) {
      const res = await api(l, method, path, body)
      expect([res.status, res.body.error.field], `${method} ${JSON.stringify(body)}`).toEqual([400, 'role'])
    }
    expect((await ok(l, 'PATCH', `/operators/${dee.id}`, { role: 'operator' })).role).toBe('operator')
    expect((await api(l, 'PUT', `/operators/${dee.id}/status`, { status: 'away' }, dee.token)).status).toBe(403)
  })
})

/**
 * Issue 15, groups: a grouped session goes only to its members and waits in `operators:queue:<groupId>`, which
 * reaches members only; the fallback group; working hours (the rule with a fixed `now`, and a closed group's
 * `groupClosed` until its hours open); 4xx naming the field. Real server, real SDK, on PGlite and PostgreSQL.
 */
import { describe, expect, it } from 'vitest'
import { isOpenAt } from '../../src/domain/groups.js'
import { api, newClient, ok, settle } from './e2e.js'
import { onEveryDatabase, operatorWith } from '../helpers/databases15.js'

describe('working hours (the rule, at a fixed now)', () => {
  const weekdays = { mon: [['09:00', '18:00']], tue: [['09:00', '12:00'], ['13:00', '18:00']], sat: [['10:00', '24:00']] } as any
  it('opens within an interval of the weekday in the group time zone', () => {
    // 2026-11-30 is a Monday.
    expect(isOpenAt(weekdays, 'UTC', new Date('2026-11-30T09:00:00Z'))).toBe(true)
    expect(isOpenAt(weekdays, 'UTC', new Date('2026-11-30T17:59:00Z'))).toBe(true)
    expect(isOpenAt(weekdays, 'UTC', new Date('2026-11-30T18:00:00Z'))).toBe(false)
    expect(isOpenAt(weekdays, 'UTC', new Date('2026-11-30T08:59:00Z'))).toBe(false)
    // Tuesday's lunch break, Wednesday left out, Saturday until midnight.
    expect(isOpenAt(weekdays, 'UTC', new Date('2026-12-01T12:30:00Z'))).toBe(false)
    expect(isOpenAt(weekdays, 'UTC', new Date('2026-12-01T13:00:00Z'))).toBe(true)
    expect(isOpenAt(weekdays, 'UTC', new Date('2026-12-02T10:00:00Z'))).toBe(false)
    expect(isOpenAt(weekdays, 'UTC', new Date('2026-12-05T23:59:00Z'))).toBe(true)
  })
  it('reads the weekday and time in the time zone, and is always open without hours', () => {
    // 07:30 UTC on Monday is 09:30 in Europe/Helsinki (UTC+2 in winter): open there, closed in UTC.
    expect(isOpenAt(weekdays, 'Europe/Helsinki', new Date('2026-11-30T07:30:00Z'))).toBe(true)
    expect(isOpenAt(weekdays, null, new Date('2026-11-30T07:30:00Z'))).toBe(false)
    // Sunday 23:30 in New York is Monday 04:30 UTC: Sunday's (no) hours apply.
    expect(isOpenAt({ sun: [['20:00', '24:00']] }, 'America/New_York', new Date('2026-11-30T04:30:00Z'))).toBe(true)
    expect(isOpenAt(null, 'UTC', new Date('2026-11-30T03:00:00Z'))).toBe(true)
    expect(isOpenAt({}, 'UTC', new Date('2026-11-30T12:00:00Z'))).toBe(false)
  })
})

onEveryDatabase('groups', { domain: { timerSweepMs: 50 } }, (env) => {
  /** Operators of a finished test take no more chats. */
  const retire = async (ids: string[]) => {
    for (const id of ids) await ok(env().l, 'PUT', `/operators/${id}/status`, { status: 'offline' })
  }

  it('creates, lists, changes groups and their members; operators show their groups', async () => {
    const { l } = env()
    const ann = await operatorWith(l, 'Ann')
    const sales = await ok(l, 'POST', '/groups', { name: 'Sales' })
    expect(sales).toMatchObject({ name: 'Sales', fallbackGroupId: null, workingHours: null, timeZone: null, operatorIds: [], open: true })
    const hours = { mon: [['09:00', '18:00']], fri: [['09:00', '17:00']] }
    const patched = await ok(l, 'PATCH', `/groups/${sales.id}`, { workingHours: hours, timeZone: 'Europe/Berlin' })
    expect(patched).toMatchObject({ workingHours: hours, timeZone: 'Europe/Berlin' })
    expect(await ok(l, 'PUT', `/groups/${sales.id}/operators`, { operatorIds: [ann.id, ann.id] })).toMatchObject({ operatorIds: [ann.id] })
    expect((await ok(l, 'GET', `/operators/${ann.id}`)).groups).toEqual([sales.id])
    expect((await ok(l, 'GET', '/me', undefined, ann.token)).groups).toEqual([sales.id])
    expect((await ok(l, 'GET', '/groups', undefined, ann.token)).items.map((g: any) => g.name)).toContain('Sales')
    await ok(l, 'PATCH', `/groups/${sales.id}`, { workingHours: null, timeZone: null })
    expect(await ok(l, 'GET', `/groups/${sales.id}`)).toMatchObject({ workingHours: null, timeZone: null, open: true })
    await ok(l, 'PUT', `/groups/${sales.id}/operators`, { operatorIds: [] })
    expect((await ok(l, 'GET', `/operators/${ann.id}`)).groups).toEqual([])
  })

  it('routes a grouped session only to members, over its own queue channel', async () => {
    const { l } = env()
    // Bob is older and idle: without groups he would get it.
    const bob = await operatorWith(l, 'Bob')
    const ann = await operatorWith(l, 'Ann')
    const g = await ok(l, 'POST', '/groups', { name: 'Billing' })
    await ok(l, 'PUT', `/groups/${g.id}/operators`, { operatorIds: [ann.id] })
    const b = await env().console(bob.token)
    const a = await env().console(ann.token)
    const c = await newClient(l, 'Carl')
    await ok(l, 'POST', `/clients/${c.id}/messages`, { text: 'invoice?', group: 'Billing' })
    const added = await a.next('chatSessionAdded', (e) => e.data.chatId === c.chatId)
    expect(added.data).toMatchObject({ operatorId: ann.id, groupId: g.id, groupClosed: false })
    // The group queue heard it start; the shared queue (Bob) did not.
    await a.next('chatSessionStarted', (e) => e.data.chatId === c.chatId)
    await settle(l, b, [`operator:${bob.id}`, 'operators:queue'])
    expect(b.events.filter((e) => e.data?.chatId === c.chatId)).toEqual([])
    // Ann is away: the next one waits in the group's queue, seen by members only; Bob (online, idle) does not get it.
    await ok(l, 'PUT', '/me/status', { status: 'away' }, ann.token)
    const d = await newClient(l, 'Dora')
    await ok(l, 'POST', `/clients/${d.id}/messages`, { text: 'refund?', group: g.id })
    const waiting = await a.next('operatorNotFound', (e) => e.data.chatId === d.chatId)
    await settle(l, b, [`operator:${bob.id}`, 'operators:queue'])
    expect(b.events.filter((e) => e.data?.chatId === d.chatId)).toEqual([])
    const bobSees = await ok(l, 'GET', '/sessions', undefined, bob.token)
    expect(bobSees.items.map((s: any) => s.id)).not.toContain(waiting.data.sessionId)
    expect((await ok(l, 'GET', '/sessions', undefined, ann.token)).items.map((s: any) => s.id)).toContain(waiting.data.sessionId)
    // Nor may he take it by hand.
    expect((await api(l, 'POST', `/sessions/${waiting.data.sessionId}/accept`, undefined, bob.token)).status).toBe(403)
    // A new member's live console is subscribed to the group's queue at once, and she gets it.
    const eve = await operatorWith(l, 'Eve')
    const e = await env().console(eve.token)
    await ok(l, 'PUT', `/groups/${g.id}/operators`, { operatorIds: [ann.id, eve.id] })
    await e.next('chatSessionAdded', (x) => x.data.chatId === d.chatId)
    const f = await newClient(l, 'Finn')
    await ok(l, 'POST', `/clients/${f.id}/messages`, { text: 'hello', group: g.id })
    await e.next('chatSessionStarted', (x) => x.data.chatId === f.chatId)
    await retire([bob.id, ann.id, eve.id])
  })

  it('falls back to the fallback group with no member online, or outside working hours', async () => {
    const { l } = env()
    const gil = await operatorWith(l, 'Gil')
    const hal = await operatorWith(l, 'Hal')
    const night = await ok(l, 'POST', '/groups', { name: 'Night' })
    await ok(l, 'PUT', `/groups/${night.id}/operators`, { operatorIds: [hal.id] })
    const day = await ok(l, 'POST', '/groups', { name: 'Day', fallbackGroupId: night.id })
    await ok(l, 'PUT', `/groups/${day.id}/operators`, { operatorIds: [gil.id] })
    const h = await env().console(hal.token)
    // Gil is not connected: Day has nobody online, so Night takes it.
    const c = await newClient(l, 'Ida')
    await ok(l, 'POST', `/clients/${c.id}/messages`, { text: 'hi', group: 'Day' })
    expect((await h.next('chatSessionAdded', (e) => e.data.chatId === c.chatId)).data).toMatchObject({ groupId: night.id, operatorId: hal.id })
    // Gil online, but Day is closed all week: Night again.
    const g = await env().console(gil.token)
    await ok(l, 'PATCH', `/groups/${day.id}`, { workingHours: {} })
    const d = await newClient(l, 'Jo')
    await ok(l, 'POST', `/clients/${d.id}/messages`, { text: 'hi', group: day.id })
    await h.next('chatSessionAdded', (e) => e.data.chatId === d.chatId)
    expect(g.events.filter((e) => e.data?.chatId === d.chatId)).toEqual([])
    await retire([gil.id, hal.id])
  })

  it('keeps a session of a closed group with no fallback queued (groupClosed) until its hours open', async () => {
    const { l } = env()
    const kim = await operatorWith(l, 'Kim')
    const grp = await ok(l, 'POST', '/groups', { name: 'Weekend', workingHours: {}, timeZone: 'Asia/Tokyo' })
    expect(grp.open).toBe(false)
    await ok(l, 'PUT', `/groups/${grp.id}/operators`, { operatorIds: [kim.id] })
    const k = await env().console(kim.token)
    // A widget client signed up for the group, by name.
    const signup = await ok(l, 'POST', '/widget/clients', { name: 'Lou', group: 'Weekend' })
    await ok(l, 'POST', '/widget/messages', { text: 'anyone?' }, signup.token)
    const started = await k.next('chatSessionStarted', (e) => e.data.chatId === signup.client.chatId)
    expect(started.data).toMatchObject({ status: 'queued', groupId: grp.id, groupClosed: true })
    await k.next('operatorNotFound', (e) => e.data.chatId === signup.client.chatId)
    const listed = (await ok(l, 'GET', '/sessions', undefined, kim.token)).items.find((s: any) => s.id === started.data.id)
    expect(listed).toMatchObject({ status: 'queued', groupClosed: true })
    // The hours open (any day, any time): the waiting session goes to Kim.
    await ok(l, 'PATCH', `/groups/${grp.id}`, { workingHours: null })
    const added = await k.next('chatSessionAdded', (e) => e.data.id === started.data.id)
    expect(added.data).toMatchObject({ operatorId: kim.id, groupClosed: false })
    await retire([kim.id])
  })

  it('refuses bad group input naming the field', async () => {
    const { l } = env()
    const c = await newClient(l, 'Max')
    const bad: Array<[string, string, unknown, string, number?]> = [
      ['POST', '/groups', {}, 'name'],
      ['POST', '/groups', { name: '' }, 'name'],
      ['POST', '/groups', { name: 'X', timeZone: 'Mars/Olympus' }, 'timeZone'],
      ['POST', '/groups', { name: 'X', workingHours: { mon: [['18:00', '09:00']] } }, 'workingHours.mon.0'],
      ['POST', '/groups', { name: 'X', workingHours: { mon: [['9:00', '18:00']] } }, 'workingHours.mon.0.0'],
      ['POST', '/groups', { name: 'X', workingHours: { someday: [] } }, 'workingHours.someday'],
      ['POST', '/groups', { name: 'X', fallbackGroupId: 'nope' }, 'fallbackGroupId'],
      ['POST', `/clients/${c.id}/messages`, { text: 'hi', group: 'no such group' }, 'group'],
      ['POST', '/widget/clients', { group: 'no such group' }, 'group'],
      ['POST', '/clients', { name: 'Y', group: 'no such group' }, 'group'],
    ]
    for (const [method, path, body, field] of bad) {
      const res = await api(l, method, path, body)
      expect([res.status, res.body?.error?.field], `${method} ${path} ${JSON.stringify(body)}`).toEqual([400, field])
    }
    const widget = await ok(l, 'POST', '/widget/clients', { name: 'Wes' })
    const wm = await api(l, 'POST', '/widget/messages', { text: 'hi', group: 'no such group' }, widget.token)
    expect([wm.status, wm.body.error.field]).toEqual([400, 'group'])
    const g = await ok(l, 'POST', '/groups', { name: 'Unique' })
    const dup = await api(l, 'POST', '/groups', { name: 'Unique' })
    expect([dup.status, dup.body.error.field]).toEqual([409, 'name'])
    const members = await api(l, 'PUT', `/groups/${g.id}/operators`, { operatorIds: ['nobody'] })
    expect([members.status, members.body.error.field]).toEqual([400, 'operatorIds'])
    const self = await api(l, 'PATCH', `/groups/${g.id}`, { fallbackGroupId: g.id })
    expect([self.status, self.body.error.field]).toEqual([400, 'fallbackGroupId'])
    expect((await api(l, 'PATCH', '/groups/nope', { name: 'Z' })).status).toBe(404)
    // Groups are changed with the API key only.
    const op = await operatorWith(l, 'Ned')
    expect((await api(l, 'POST', '/groups', { name: 'Mine' }, op.token)).status).toBe(401)
  })
})

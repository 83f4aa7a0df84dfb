/**
 * Issue 16 item 3, canned replies over /api/v1: shared (API key or a supervisor) and personal; an operator lists the
 * shared ones and its own, its own first on a shortcut clash; 403/404/409 and 400s naming the field. Real server,
 * on PGlite and PostgreSQL.
 */
import { expect, it } from 'vitest'
import { api, ok } from './e2e.js'
import { onEveryDatabase, operatorWith } from '../helpers/databases15.js'

onEveryDatabase('canned replies', {}, (env) => {
  it('creates, lists, changes and deletes shared and personal replies, each in its scope', async () => {
    const { l } = env()
    const ann = await operatorWith(l, 'Ann')
    const bob = await operatorWith(l, 'Bob')
    const shared = await api(l, 'POST', '/canned-replies', { shortcut: 'refund', title: 'Refund', text: 'Refunds take 5 days.' })
    expect(shared.status).toBe(201)
    expect(shared.body).toMatchObject({ shortcut: 'refund', shared: true, operatorId: null })
    const own = await api(l, 'POST', '/canned-replies', { shortcut: 'refund', title: 'My refund', text: 'I will refund you now.' }, ann.token)
    expect(own.status).toBe(201)
    expect(own.body).toMatchObject({ shortcut: 'refund', shared: false, operatorId: ann.id })
    await ok(l, 'POST', '/canned-replies', { shortcut: 'hi', title: 'Hello', text: 'Hello! How can I help?' }, ann.token)

    // Ann: her own first on the clash, then the rest; Bob: only the shared one; the API key: the shared ones.
    const annList = (await ok(l, 'GET', '/canned-replies', undefined, ann.token)).items
    expect(annList.map((r: any) => [r.shortcut, r.shared])).toEqual([['hi', false], ['refund', false], ['refund', true]])
    expect((await ok(l, 'GET', '/canned-replies', undefined, bob.token)).items.map((r: any) => r.id)).toEqual([shared.body.id])
    expect((await ok(l, 'GET', '/canned-replies')).items.map((r: any) => r.id)).toEqual([shared.body.id])

    const patched = await ok(l, 'PATCH', `/canned-replies/${own.body.id}`, { text: 'Refunded today.' }, ann.token)
    expect(patched).toMatchObject({ shortcut: 'refund', title: 'My refund', text: 'Refunded today.' })
    // Bob cannot see Ann's reply (404) nor manage the shared one (403).
    const hidden = await api(l, 'PATCH', `/canned-replies/${own.body.id}`, { text: 'x' }, bob.token)
    expect(hidden.status).toBe(404)
    expect((await api(l, 'DELETE', `/canned-replies/${own.body.id}`, undefined, bob.token)).status).toBe(404)
    const forbidden = await api(l, 'PATCH', `/canned-replies/${shared.body.id}`, { text: 'x' }, bob.token)
    expect(forbidden.status).toBe(403)
    expect(forbidden.body.error).toMatchObject({ code: 'forbidden', field: 'shared' })
    expect((await api(l, 'POST', '/canned-replies', { shortcut: 'bye', title: 'Bye', text: 'Bye', shared: true }, bob.token)).status).toBe(403)

    expect((await api(l, 'DELETE', `/canned-replies/${own.body.id}`, undefined, ann.token)).status).toBe(204)
    expect((await api(l, 'DELETE', `/canned-replies/${own.body.id}`, undefined, ann.token)).status).toBe(404)
    expect((await ok(l, 'GET', '/canned-replies', undefined, ann.token)).items.map((r: any) => [r.shortcut, r.shared])).toEqual([['hi', false], ['refund', true]])
    expect((await api(l, 'DELETE', `/canned-replies/${shared.body.id}`)).status).toBe(204)
  })

  it('lets a supervisor manage shared replies', async () => {
    const { l } = env()
    const sue = await operatorWith(l, 'Sue', { role: 'supervisor' })
    const r = await api(l, 'POST', '/canned-replies', { shortcut: 'wait', title: 'Wait', text: 'One moment please.', shared: true }, sue.token)
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ shared: true, operatorId: null })
    expect(await ok(l, 'PATCH', `/canned-replies/${r.body.id}`, { title: 'Please wait' }, sue.token)).toMatchObject({ title: 'Please wait', shared: true })
    expect((await api(l, 'DELETE', `/canned-replies/${r.body.id}`, undefined, sue.token)).status).toBe(204)
  })

  it('answers 409 on a shortcut the owner has, and 400 naming the field for bad input', async () => {
    const { l } = env()
    const cat = await operatorWith(l, 'Cat')
    const a = await ok(l, 'POST', '/canned-replies', { shortcut: 'ship', title: 'Shipping', text: 'Ships in 2 days.' }, cat.token)
    const b = await ok(l, 'POST', '/canned-replies', { shortcut: 'track', title: 'Tracking', text: 'Track it here.' }, cat.token)
    const dup = await api(l, 'POST', '/canned-replies', { shortcut: 'ship', title: 'Again', text: 'Again' }, cat.token)
    expect(dup.status).toBe(409)
    expect(dup.body.error).toMatchObject({ code: 'conflict', field: 'shortcut' })
    const renamed = await api(l, 'PATCH', `/canned-replies/${b.id}`, { shortcut: 'ship' }, cat.token)
    expect(renamed.status).toBe(409)
    expect(renamed.body.error.field).toBe('shortcut')
    // The same shortcut shared is no clash with a personal one.
    const sharedShip = await api(l, 'POST', '/canned-replies', { shortcut: 'ship', title: 'Shipping', text: 'Shared.' })
    expect(sharedShip.status).toBe(201)
    expect((await api(l, 'POST', '/canned-replies', { shortcut: 'ship', title: 'x', text: 'x' })).status).toBe(409)

    const bad = async (body: unknown, field: string, method = 'POST', path = '/canned-replies') => {
      const r = await api(l, method, path, body, cat.token)
      expect(r.status, JSON.stringify(body)).toBe(400)
      expect(r.body.error.field, JSON.stringify(r.body)).toBe(field)
    }
    await bad({ shortcut: 'Refund!', title: 't', text: 't' }, 'shortcut')
    await bad({ shortcut: 'x'.repeat(33), title: 't', text: 't' }, 'shortcut')
    await bad({ shortcut: 'ok', title: 't', text: 'x'.repeat(4001) }, 'text')
    await bad({ shortcut: 'ok', title: '', text: 't' }, 'title')
    await bad({ shortcut: 'ok', title: 't' }, 'text')
    await bad({ shortcut: 'ok', title: 't', text: 't', color: 'red' }, 'color')
    await bad({ text: '' }, 'text', 'PATCH', `/canned-replies/${a.id}`)
    expect((await api(l, 'GET', '/canned-replies', undefined, null)).status).toBe(401)
    expect((await api(l, 'PATCH', '/canned-replies/nope', { text: 'x' }, cat.token)).status).toBe(404)
  })
})

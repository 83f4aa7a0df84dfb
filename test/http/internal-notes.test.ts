/**
 * Issue 16 item 2: internal notes (POST /api/v1/sessions/{id}/messages with `internal: true`), on PGlite and
 * PostgreSQL, observed with the real `centrifuge` SDK: the operators' side and supervisors get the note marked
 * `internal`; the client's channel (seed widget options) never does, while it gets the next normal message.
 */
import { expect, it } from 'vitest'
import { api, connect, newClient, ok, settle } from './e2e.js'
import { onEveryDatabase, operatorWith } from '../helpers/databases15.js'

onEveryDatabase('internal notes', {}, (env) => {
  it('reach the holder and supervisors, never the client; the widget history skips them, operators see them marked', async () => {
    const { l } = env()
    const sue = await operatorWith(l, 'Sue', { role: 'supervisor', maxChats: 0 })
    const ann = await operatorWith(l, 'Ann')
    const sueConsole = await env().console(sue.token)
    const annConsole = await env().console(ann.token)
    const client = await newClient(l)
    const first = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'my order is late' })
    const sessionId = first.sessionId as string
    await annConsole.next('chatSessionAdded', (e) => e.data.id === sessionId)
    const widget = await connect(l, 'widget', client.token)
    env().consoles.push(widget)

    const NOTE = 'refund approved by billing, do not promise a date'
    const note = await ok(l, 'POST', `/sessions/${sessionId}/messages`, { text: NOTE, internal: true }, ann.token)
    expect(note).toMatchObject({ sessionId, text: NOTE, internal: true, author: { type: 'operator', id: ann.id } })
    for (const c of [annConsole, sueConsole]) {
      const e = await c.next('chatMessageCreated', (e) => e.data.id === note.id)
      expect(e.data).toMatchObject({ text: NOTE, internal: true })
    }
    // not the operator's answer, nor the last message
    const view = await ok(l, 'GET', `/sessions/${sessionId}`, undefined, ann.token)
    expect(view.lastMessage?.text).toBe('my order is late')
    expect(view.lastOperatorMessage).toBeNull()

    const reply = await ok(l, 'POST', `/sessions/${sessionId}/messages`, { text: 'It ships today.' }, ann.token)
    expect(reply.internal).toBeUndefined()
    await widget.next('chatMessageCreated', (e) => e.data.id === reply.id)
    await settle(l, widget, [`client:${client.id}`])
    expect(JSON.stringify(widget.events)).not.toContain(NOTE)

    const history = await ok(l, 'GET', '/widget/messages', undefined, client.token)
    expect(history.items.map((m: any) => m.text)).toEqual(['my order is late', 'It ships today.'])
    const ops = await ok(l, 'GET', `/sessions/${sessionId}/messages`, undefined, ann.token)
    expect(ops.items.map((m: any) => [m.text, m.internal ?? false])).toEqual([['my order is late', false], [NOTE, true], ['It ships today.', false]])
    // the client cannot mark a note read either: it is not in the chat the client sees
    const read = await api(l, 'POST', '/widget/read', { messageId: reply.id }, client.token)
    expect(read.status).toBeLessThan(300)
    const after = await ok(l, 'GET', `/sessions/${sessionId}/messages`, undefined, ann.token)
    expect(after.items.find((m: any) => m.id === note.id).readAt).toBeNull()
    await ok(l, 'PATCH', `/operators/${ann.id}`, { maxChats: 0 }) // the next test's sessions are its own
  })

  it('may be written by the holder, a supervisor, or anyone while queued; bad input names the field', async () => {
    const { l } = env()
    const sid = await operatorWith(l, 'Sid', { role: 'supervisor', maxChats: 0 })
    const bo = await operatorWith(l, 'Bo')
    const boConsole = await env().console(bo.token)
    const cy = await operatorWith(l, 'Cy', { maxChats: 0 })
    const client = await newClient(l)
    const { sessionId } = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hi' })
    await boConsole.next('chatSessionAdded', (e) => e.data.id === sessionId)
    const url = `/sessions/${sessionId}/messages`

    expect((await api(l, 'POST', url, { text: 'not mine', internal: true }, cy.token)).status).toBe(403)
    expect((await api(l, 'POST', url, { text: 'supervising', internal: true }, sid.token)).status).toBe(201)
    expect((await api(l, 'POST', url, { text: 'by the holder', internal: true }, bo.token)).status).toBe(201)
    const cases: Array<[unknown, string | null, number, string | undefined]> = [
      [{ text: 'bot note', internal: true }, l.apiKey, 400, 'internal'],
      [{ text: 'x', internal: 'yes' }, bo.token, 400, 'internal'],
      [{ text: '', internal: true }, bo.token, 400, 'text'],
      [{ text: 'client note', internal: true }, client.token, 401, undefined],
    ]
    for (const [body, token, status, field] of cases) {
      const res = await api(l, 'POST', url, body, token)
      expect(res.status, JSON.stringify(res.body)).toBe(status)
      if (field) expect(res.body.error.field).toBe(field)
    }

    // queued: any operator may leave a note (Bo takes no more chats, so the next session waits)
    await ok(l, 'PATCH', `/operators/${bo.id}`, { maxChats: 0 })
    const other = await newClient(l)
    const queued = await ok(l, 'POST', `/clients/${other.id}/messages`, { text: 'anyone?' })
    const session = await ok(l, 'GET', `/sessions/${queued.sessionId}`, undefined, sid.token)
    expect(session.status).toBe('queued')
    expect((await api(l, 'POST', `/sessions/${queued.sessionId}/messages`, { text: 'queued note', internal: true }, cy.token)).status).toBe(201)

    await ok(l, 'POST', `/sessions/${sessionId}/close`, {}, bo.token)
    expect((await api(l, 'POST', url, { text: 'too late', internal: true }, bo.token)).status).toBe(409)
  })
})

onEveryDatabase('internal notes and answer timers', { domain: { timerSweepMs: 50, firstAnswerTimeoutSec: 0.5, reassignOfflineAfterMs: 0 } }, (env) => {
  it('a note is not the first answer: the session still moves when the timer runs out', async () => {
    const { l } = env()
    const ann = await operatorWith(l, 'Ann', { maxChats: 1 })
    const annConsole = await env().console(ann.token)
    const client = await newClient(l)
    const { sessionId } = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hello?' })
    await annConsole.next('chatSessionAdded', (e) => e.data.id === sessionId)
    await ok(l, 'POST', `/sessions/${sessionId}/messages`, { text: 'looking into it', internal: true }, ann.token)
    const bob = await operatorWith(l, 'Bob', { maxChats: 1 })
    const bobConsole = await env().console(bob.token)
    const added = await bobConsole.next('chatSessionAdded', (e) => e.data.id === sessionId, 15_000)
    expect(added.data).toMatchObject({ operatorId: bob.id, previousOperator: { id: ann.id } })
  }, 30_000)
})

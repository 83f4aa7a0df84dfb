/** The console's event rules (web/src/console/state.ts) without a browser: what each event does to the state. */
import { describe, expect, it } from 'vitest'
import { ConsoleState, isClientOnline } from '../../web/src/console/state.js'
import type { ChatSession, Message } from '../../web/src/shared/types.js'

const ME = { id: 'op1', name: 'Olga', maxChats: 5, blocked: false, online: true }
const T0 = '2030-01-01T10:00:00.000Z'

function session(over: Partial<ChatSession> = {}): ChatSession {
  return {
    id: 's1', chatId: 'c1', clientId: 'cl1', name: 'Anna', markedAsSpam: false, operatorId: 'op1', channel: 'widget',
    status: 'assigned', botStatus: 'OPERATOR', startedAt: T0, lastMessageCreatedAt: null, operatorAssignedAt: T0,
    timerFirstAnswer: 60, timerNextAnswers: 120, ...over,
  }
}

function message(id: string, type: 'client' | 'operator', at: string, over: Partial<Message> = {}): Message {
  return { id, chatId: 'c1', sessionId: 's1', text: id, author: { type, id: type === 'operator' ? 'op1' : 'cl1', name: null }, createdAt: at, editedAt: null, readAt: null, attachments: [], ...over }
}

function fresh(): ConsoleState {
  const s = new ConsoleState()
  s.me = ME
  return s
}

describe('console state', () => {
  it('puts my sessions and the queue apart, and hides sessions of others', () => {
    const s = fresh()
    s.apply({ event: 'chatSessionStarted', data: session({ id: 'q', status: 'queued', botStatus: 'HELP', operatorId: null }), id: 'e1' })
    s.apply({ event: 'chatSessionAdded', data: session({ id: 'm' }), id: 'e2' })
    s.apply({ event: 'chatSessionStarted', data: session({ id: 'o', operatorId: 'op2' }), id: 'e3' })
    expect(s.mine().map((x) => x.id)).toEqual(['m'])
    expect(s.queue().map((x) => x.id)).toEqual(['q'])
    // Another operator takes the queued one: it leaves this queue.
    s.apply({ event: 'chatSessionAssigned', data: session({ id: 'q', operatorId: 'op2' }), id: 'e4' })
    expect(s.queue()).toEqual([])
  })

  it('keeps a chat the client closed only while it is open, and forgets sessions sent back to the bot', () => {
    const s = fresh()
    s.apply({ event: 'chatSessionAdded', data: session({ id: 'a', chatId: 'ca' }), id: 'e1' })
    s.apply({ event: 'chatSessionAdded', data: session({ id: 'b', chatId: 'cb' }), id: 'e2' })
    s.apply({ event: 'chatSessionAdded', data: session({ id: 'c', chatId: 'cc' }), id: 'e3' })
    s.openSessionId = 'a'
    s.apply({ event: 'sessionClosedByClient', data: { id: 'a', chatId: 'ca', closedAt: T0 }, id: 'e4' })
    s.apply({ event: 'sessionClosedByClient', data: { id: 'b', chatId: 'cb', closedAt: T0 }, id: 'e5' })
    expect(s.mine().map((x) => `${x.id}:${x.status}`).sort()).toEqual(['a:closed', 'c:assigned'])
    s.openSessionId = 'c'
    s.dropClosed()
    expect(s.mine().map((x) => x.id)).toEqual(['c'])
    const change = s.apply({ event: 'chatSessionDeleted', data: { id: 'c', chatId: 'cc', reason: 'bot' }, id: 'e6' })
    expect(change.chat).toBe(true)
    expect(s.openSessionId).toBeNull()
    expect(s.mine()).toEqual([])
  })

  it('drops a duplicate envelope by id and counts a client message once', () => {
    const s = fresh()
    s.apply({ event: 'chatSessionAdded', data: session(), id: 'e1' })
    const env = { event: 'chatMessageCreated', data: message('m1', 'client', '2030-01-01T10:00:05.000Z'), id: 'e2' }
    for (const e of [env, env]) if (!s.isDuplicate(e.id)) s.apply(e)
    // Replayed after a refetch (same message, new delivery): still once.
    s.apply({ ...env, id: 'e2-replayed' })
    expect(s.sessions.get('s1')!.unreadClientMessageCount).toBe(1)
  })

  it('runs the first-answer timer from the first unanswered client message, then the next-answer timer', () => {
    const s = fresh()
    s.apply({ event: 'chatSessionAdded', data: session(), id: 'e1' })
    s.apply({ event: 'chatMessageCreated', data: message('m1', 'client', '2030-01-01T10:00:05.000Z'), id: 'e2' })
    s.apply({ event: 'chatMessageCreated', data: message('m2', 'client', '2030-01-01T10:00:09.000Z'), id: 'e3' })
    expect(s.answerDeadline(s.sessions.get('s1')!)).toBe(Date.parse('2030-01-01T10:01:05.000Z'))
    s.apply({ event: 'chatMessageCreated', data: message('m3', 'operator', '2030-01-01T10:00:20.000Z'), id: 'e4' })
    expect(s.answerDeadline(s.sessions.get('s1')!)).toBeNull()
    s.apply({ event: 'chatMessageCreated', data: message('m4', 'client', '2030-01-01T10:00:30.000Z'), id: 'e5' })
    expect(s.answerDeadline(s.sessions.get('s1')!)).toBe(Date.parse('2030-01-01T10:02:30.000Z'))
  })

  it('shows the client typing with its draft until cleared or expired; operators typing is not the client', () => {
    const s = fresh()
    s.apply({ event: 'chatSessionAdded', data: session(), id: 'e1' })
    const until = new Date(Date.now() + 5000).toISOString()
    const author = { type: 'client' as const, id: 'cl1', name: 'Anna' }
    s.apply({ event: 'typing', data: { chatId: 'c1', sessionId: 's1', clientId: 'cl1', active: true, until, text: 'Hel', author }, id: 'e2' })
    expect(s.typing.get('c1')?.text).toBe('Hel')
    s.apply({ event: 'typing', data: { chatId: 'c1', sessionId: 's1', clientId: 'cl1', active: false, until, author }, id: 'e3' })
    expect(s.typing.has('c1')).toBe(false)
    s.apply({ event: 'typing', data: { chatId: 'c1', sessionId: 's1', clientId: 'cl1', active: true, until, author: { type: 'operator', id: 'op2', name: 'B' } }, id: 'e4' })
    expect(s.typing.has('c1')).toBe(false)
    s.apply({ event: 'typing', data: { chatId: 'c1', sessionId: 's1', clientId: 'cl1', active: true, until, author }, id: 'e5' })
    expect(s.expireTyping(Date.now() + 6000)).toBe(true)
    expect(s.typing.has('c1')).toBe(false)
  })

  it('follows presence, read ticks and edits, and ends the session on the three terminal events', () => {
    const s = fresh()
    s.apply({ event: 'chatSessionAdded', data: session(), id: 'e1' })
    s.setMessages('s1', [message('m1', 'operator', '2030-01-01T10:00:05.000Z')])
    s.apply({ event: 'clientOnline', action: 'clientOnline', data: { id: 'cl1' }, id: 'e2', at: T0 })
    expect(isClientOnline(s.sessions.get('s1')!)).toBe(true)
    s.apply({ action: 'clientOffline', data: { id: 'cl1' }, id: 'e3', at: T0 })
    expect(isClientOnline(s.sessions.get('s1')!)).toBe(false)
    s.apply({ event: 'chatMessageRead', data: { chatId: 'c1', sessionId: 's1', messageIds: ['m1'], readAt: T0 }, id: 'e4' })
    expect(s.messages.get('s1')![0]!.readAt).toBe(T0)
    s.apply({ event: 'chatMessageEdited', data: message('m1', 'operator', '2030-01-01T10:00:05.000Z', { text: 'fixed', editedAt: T0 }), id: 'e5' })
    expect(s.messages.get('s1')![0]!.text).toBe('fixed')
    // An edit event sent before the read (readAt null) does not take the read tick away.
    expect(s.messages.get('s1')![0]!.readAt).toBe(T0)
    for (const kind of ['operatorBlocked', 'chatUserExists', 'operatorLoggedOut'] as const) {
      expect(s.apply({ event: kind, data: { id: 'op1', at: T0 }, id: kind }).end?.kind).toBe(kind)
    }
  })

  it('keeps the read tick and the latest edit when an older copy of the message arrives (our POST answered after the read)', () => {
    const s = fresh()
    s.apply({ event: 'chatSessionAdded', data: session(), id: 'e1' })
    s.setMessages('s1', [])
    const sent = message('m1', 'operator', '2030-01-01T10:00:05.000Z', { text: 'We are on it' })
    // The event of our own message, then the client's read, then the answer to our POST (written before the read).
    s.apply({ event: 'chatMessageCreated', data: sent, id: 'e2' })
    s.apply({ event: 'chatMessageRead', data: { chatId: 'c1', sessionId: 's1', messageIds: ['m1'], readAt: T0 }, id: 'e3' })
    s.apply({ event: 'chatMessageCreated', data: sent })
    expect(s.messages.get('s1')!.map((m) => m.readAt)).toEqual([T0])
    expect(s.sessions.get('s1')!.lastMessage?.readAt).toBe(T0)
    // An edit, then the answer of an older PATCH: the newer text stays; a later edit replaces it.
    s.apply({ event: 'chatMessageEdited', data: { ...sent, text: 'second', editedAt: '2030-01-01T10:00:09.000Z' }, id: 'e4' })
    s.apply({ event: 'chatMessageEdited', data: { ...sent, text: 'first', editedAt: '2030-01-01T10:00:08.000Z' } })
    expect(s.messages.get('s1')![0]).toMatchObject({ text: 'second', readAt: T0 })
    s.apply({ event: 'chatMessageEdited', data: { ...sent, text: 'third', editedAt: '2030-01-01T10:00:10.000Z' }, id: 'e5' })
    expect(s.messages.get('s1')![0]!.text).toBe('third')
  })
})

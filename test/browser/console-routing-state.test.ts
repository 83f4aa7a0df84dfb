/** The console's issue-15 rules (web/src/console/state.ts) without a browser: status, group queues, transfers, supervisors. */
import { describe, expect, it } from 'vitest'
import { ConsoleState } from '../../web/src/console/state.js'
import type { ChatSession, Operator, SessionTransfer } from '../../web/src/shared/types.js'

const T0 = '2030-01-01T10:00:00.000Z'

function session(over: Partial<ChatSession> = {}): ChatSession {
  return {
    id: 's1', chatId: 'c1', clientId: 'cl1', name: 'Anna', markedAsSpam: false, operatorId: 'op1', channel: 'widget',
    status: 'assigned', botStatus: 'OPERATOR', startedAt: T0, lastMessageCreatedAt: null, operatorAssignedAt: T0,
    timerFirstAnswer: 60, timerNextAnswers: 120, ...over,
  }
}

function queued(id: string, groupId: string | null, startedAt = T0): ChatSession {
  return session({ id, chatId: `c-${id}`, name: id, status: 'queued', botStatus: 'HELP', operatorId: null, operatorAssignedAt: null, groupId, startedAt })
}

function fresh(me: Partial<Operator> = {}): ConsoleState {
  const s = new ConsoleState()
  s.me = { id: 'op1', name: 'Olga', maxChats: 5, blocked: false, online: true, ...me }
  return s
}

const status = (id: string, name: string, st: 'online' | 'away' | 'offline', previous: 'online' | 'away' | 'offline', auto = false, openSessions = 0) => ({
  event: 'operatorStatusChanged',
  data: { operator: { id, name, status: st, previousStatus: previous, auto, openSessions, maxChats: 3 } },
  id: `st-${id}-${st}-${auto}`,
})

const transfer = (over: Partial<SessionTransfer> = {}): SessionTransfer => ({
  by: { id: 'op2', name: 'Petr', type: 'operator' }, fromOperatorId: 'op2', toOperatorId: 'op1', toGroupId: null, note: 'VIP, wants a refund', ...over,
})

describe('console state, issue 15', () => {
  it('follows my status from /me and operatorStatusChanged, telling me when a timer set it', () => {
    expect(fresh().myStatus()).toEqual({ status: 'online', auto: false })
    const s = fresh({ status: 'away', statusAuto: true, role: 'operator', groups: [] })
    expect(s.myStatus()).toEqual({ status: 'away', auto: true })

    // My console connected: the auto-set away turns online again, and the console says why.
    const back = s.apply(status('op1', 'Olga', 'online', 'away', true))
    expect(back).toMatchObject({ status: true, operators: true })
    expect(back.notice).toMatch(/online again/)
    expect(s.myStatus()).toEqual({ status: 'online', auto: true })

    // A person chose it (this console's switch or another tab): no notice, the switch follows.
    const chosen = s.apply(status('op1', 'Olga', 'offline', 'online'))
    expect(chosen.notice).toBeUndefined()
    expect(s.myStatus()).toEqual({ status: 'offline', auto: false })

    // Someone else's status is the team's, not mine.
    const other = s.apply(status('op2', 'Petr', 'away', 'online', true, 2))
    expect(other).toEqual({ operators: true })
    expect(s.myStatus().status).toBe('offline')
    expect(s.operators.get('op2')).toMatchObject({ name: 'Petr', status: 'away', auto: true, openSessions: 2, maxChats: 3 })
    // A duplicate envelope (the same event on my channel and the supervisors') is dropped before apply.
    expect(s.isDuplicate('x')).toBe(false)
    expect(s.isDuplicate('x')).toBe(true)
  })

  it('keeps one queue per group of mine beside the shared one, by group name, oldest first', () => {
    const s = fresh({ groups: ['g-sales', 'g-billing'] })
    s.groupNames.set('g-sales', 'Sales').set('g-billing', 'Billing')
    s.apply({ event: 'chatSessionStarted', data: queued('shared', null), id: 'e1' })
    s.apply({ event: 'chatSessionStarted', data: queued('sales-2', 'g-sales', '2030-01-01T10:00:02.000Z'), id: 'e2' })
    s.apply({ event: 'chatSessionStarted', data: queued('sales-1', 'g-sales', '2030-01-01T10:00:01.000Z'), id: 'e3' })
    const queues = s.queues()
    expect(queues.map((q) => [q.groupId && s.groupName(q.groupId), q.sessions.map((x) => x.id)])).toEqual([
      [null, ['shared']],
      ['Billing', []],
      ['Sales', ['sales-1', 'sales-2']],
    ])
    // Taken from a group queue: it leaves it like it leaves the shared one.
    s.apply({ event: 'chatSessionAssigned', data: { ...queued('sales-1', 'g-sales'), status: 'assigned', operatorId: 'op2' }, id: 'e4' })
    expect(s.queues()[2]!.sessions.map((x) => x.id)).toEqual(['sales-2'])
    // A group I was added to after signing in still shows (its name unknown yet: its id).
    s.apply({ event: 'chatSessionStarted', data: queued('new', 'g-new'), id: 'e5' })
    expect(s.queues().map((q) => q.groupId)).toEqual([null, 'g-billing', 'g-new', 'g-sales'])
  })

  it('shows the new holder who transferred a chat and the note, and tells the old holder where it went', () => {
    const receiver = fresh()
    const change = receiver.apply({ event: 'chatSessionAdded', data: session({ transfer: transfer(), previousOperator: { id: 'op2', name: 'Petr' } }), id: 'e1' })
    expect(receiver.mine().map((x) => x.id)).toEqual(['s1'])
    expect(change.notice).toBe('Petr transferred the chat with Anna to you: “VIP, wants a refund”')
    expect(receiver.transfers.get('s1')?.note).toBe('VIP, wants a refund')
    // A refetch keeps the note of a session still there.
    receiver.replaceSessions([session()])
    expect(receiver.transfers.get('s1')?.note).toBe('VIP, wants a refund')
    // Routed to me again later without a transfer: the old note no longer says how it came.
    receiver.apply({ event: 'chatSessionAdded', data: session({ previousOperator: { id: 'op1', name: 'Olga' } }), id: 'e1b' })
    expect(receiver.transfers.has('s1')).toBe(false)

    // Reassigned to me by the timers: who had it before.
    const next = fresh().apply({ event: 'chatSessionAdded', data: session({ previousOperator: { id: 'op3', name: 'Ivan' } }), id: 'e2' })
    expect(next.notice).toBe('The chat with Anna came to you from Ivan.')

    // The old holder (op1 here) loses it with a notice naming the target, and the open chat closes.
    const sender = fresh()
    sender.operators.set('op2', { id: 'op2', name: 'Petr', status: 'online', auto: false, openSessions: 0, maxChats: 3 })
    sender.apply({ event: 'chatSessionAdded', data: session(), id: 'e3' })
    sender.openSessionId = 's1'
    const gone = sender.apply({ event: 'chatSessionDeleted', data: { id: 's1', chatId: 'c1', reason: 'transferred', transfer: transfer({ by: { id: 'sup', name: 'Sam', type: 'supervisor' }, fromOperatorId: 'op1', toOperatorId: 'op2' }) }, id: 'e4' })
    expect(gone.notice).toBe('The chat with Anna was transferred to Petr by Sam.')
    expect(sender.sessions.has('s1')).toBe(false)
    expect(sender.openSessionId).toBeNull()
    // To a group's queue, by the holder: no "by".
    sender.groupNames.set('g-sales', 'Sales')
    sender.apply({ event: 'chatSessionAdded', data: session({ id: 's2', chatId: 'c2' }), id: 'e5' })
    const toGroup = sender.apply({ event: 'chatSessionDeleted', data: { id: 's2', chatId: 'c2', reason: 'transferred', transfer: transfer({ by: { id: 'op1', name: 'Olga', type: 'operator' }, fromOperatorId: 'op1', toOperatorId: null, toGroupId: 'g-sales' }) }, id: 'e6' })
    expect(toGroup.notice).toBe('The chat with Anna was transferred to the Sales queue.')
    // Reassigned away from me (no answer in time, or I was offline).
    sender.apply({ event: 'chatSessionAdded', data: session({ id: 's3', chatId: 'c3' }), id: 'e7' })
    const reassigned = sender.apply({ event: 'chatSessionDeleted', data: { id: 's3', chatId: 'c3', reason: 'reassigned' }, id: 'e8' })
    expect(reassigned.notice).toMatch(/^The chat with Anna went to another operator/)
    expect(sender.mine()).toEqual([])
  })

  it('gives a supervisor every open session with its holder, whatever order a move’s two events arrive in', () => {
    const sup = fresh({ id: 'sup', name: 'Sam', role: 'supervisor', groups: [] })
    expect(sup.isSupervisor()).toBe(true)
    sup.setOperators([
      { id: 'op1', name: 'Olga', status: 'online', auto: false, connected: true, openSessions: 0, maxChats: 2, groups: [] },
      { id: 'op2', name: 'Petr', status: 'online', auto: false, connected: true, openSessions: 0, maxChats: 2, groups: [] },
    ])
    sup.apply({ event: 'chatSessionStarted', data: queued('q1', null), id: 'e1' })
    sup.apply({ event: 'chatSessionStarted', data: queued('q2', 'g-other'), id: 'e2' })
    sup.apply({ event: 'chatSessionAdded', data: session({ id: 'a1', operatorId: 'op1' }), id: 'e3' })
    expect(sup.supervised().map((x) => x.id).sort()).toEqual(['a1', 'q1', 'q2'])
    // Not a member of g-other: that queue is not one of mine, but the supervisor view has it.
    expect(sup.queue().map((x) => x.id)).toEqual(['q1'])
    expect(sup.mine()).toEqual([])
    const load = () => Object.fromEntries([...sup.operators.values()].map((o) => [o.name, sup.loadOf(o)]))
    expect(load()).toEqual({ Olga: 1, Petr: 0 })

    // Transfer a1 from Olga to Petr: Added first, then the old holder's Deleted; the session stays, with Petr.
    const moved = transfer({ by: { id: 'sup', name: 'Sam', type: 'supervisor' }, fromOperatorId: 'op1', toOperatorId: 'op2' })
    sup.apply({ event: 'chatSessionAdded', data: session({ id: 'a1', operatorId: 'op2', transfer: moved }), id: 'e4' })
    const deleted = sup.apply({ event: 'chatSessionDeleted', data: { id: 'a1', chatId: 'c1', reason: 'transferred', transfer: moved }, id: 'e5' })
    expect(deleted.notice).toBeUndefined()
    expect(sup.sessions.get('a1')?.operatorId).toBe('op2')
    expect(load()).toEqual({ Olga: 0, Petr: 1 })
    // The other order: Deleted, then where it went (back to the queue here).
    sup.apply({ event: 'chatSessionDeleted', data: { id: 'a1', chatId: 'c1', reason: 'reassigned' }, id: 'e6' })
    expect(sup.sessions.has('a1')).toBe(true)
    sup.apply({ event: 'chatSessionStarted', data: { ...queued('a1', null), chatId: 'c1' }, id: 'e7' })
    expect(sup.supervised().find((x) => x.id === 'a1')?.status).toBe('queued')
    expect(load()).toEqual({ Olga: 0, Petr: 0 })

    // Someone closes q1 (an operator, or the supervisor elsewhere): it leaves the view.
    sup.apply({ event: 'sessionClosedByOperator', data: { id: 'q1', chatId: 'c-q1', closedAt: T0 }, id: 'e8' })
    expect(sup.supervised().map((x) => x.id).sort()).toEqual(['a1', 'q2'])
    // A status change of someone the list did not have yet adds them.
    sup.apply(status('op3', 'Ivan', 'online', 'offline', true))
    expect([...sup.operators.values()].map((o) => `${o.name}:${o.status}`).sort()).toEqual(['Ivan:online', 'Olga:online', 'Petr:online'])
    expect(sup.operators.get('op3')?.connected).toBe(true)
    sup.apply(status('op1', 'Olga', 'away', 'online'))
    expect(sup.operators.get('op1')).toMatchObject({ status: 'away', connected: true })
    // The timers set a status only when no console is connected.
    sup.apply(status('op1', 'Olga', 'offline', 'away', true))
    expect(sup.operators.get('op1')).toMatchObject({ status: 'offline', auto: true, connected: false })
  })
})

/** The event map narrows on `event` for console developers (checked by the compiler through vitest's typecheck helpers). */
import { expect, expectTypeOf, it } from 'vitest'
import { EVENT_NAMES, type ChatSession, type EventEnvelope, type OperatorNotFoundData, type TypingData } from '../../src/domain/events.js'

it('narrows data by event and carries action on the three seed-spelled events', () => {
  const handle = (e: EventEnvelope) => {
    switch (e.event) {
      case 'chatSessionStarted':
        expectTypeOf(e.data).toEqualTypeOf<ChatSession>()
        return e.data.chatId
      case 'operatorNotFound':
        expectTypeOf(e.data).toEqualTypeOf<OperatorNotFoundData>()
        expectTypeOf(e.action).toEqualTypeOf<'operatorNotFound'>()
        return e.data.sessionId
      case 'typing':
        expectTypeOf(e.data).toEqualTypeOf<TypingData>()
        return e.data.until
      default:
        return e.event
    }
  }
  expect(handle({ event: 'typing', id: '1', at: 'now', data: { chatId: 'c', sessionId: 's', clientId: 'k', active: true, until: 'u', author: { type: 'client', id: 'k', name: null } } })).toBe('u')
  // The fifteen events of the seed are all in the map.
  expect(EVENT_NAMES).toEqual(expect.arrayContaining([
    'chatSessionStarted', 'operatorNotFound', 'chatSessionAdded', 'chatMessageCreated', 'chatMessageEdited', 'chatMessageRead',
    'chatSessionDeleted', 'chatSessionSwitchedFromBotToOperator', 'sessionClosedByClient', 'operatorBlocked', 'chatUserExists',
    'typing', 'operatorLoggedOut', 'clientOnline', 'clientOffline',
  ]))
})

import { describe, expect, it } from 'vitest'
import { Disconnect, Disconnects, ErrorCode, Errors, ReplyError, UnsubscribeCode, limitCloseReason } from '../../src/protocol/codes.js'

describe('disconnect codes (centrifuge disconnect.go)', () => {
  const expected: Array<[keyof typeof Disconnects, number, string, boolean]> = [
    ['connectionClosed', 3000, 'connection closed', true],
    ['shutdown', 3001, 'shutdown', true],
    ['internal', 3004, 'internal server error', true],
    ['expired', 3005, 'connection expired', true],
    ['subExpired', 3006, 'subscription expired', true],
    ['slow', 3008, 'slow', true],
    ['writeError', 3009, 'write error', true],
    ['insufficientState', 3010, 'insufficient state', true],
    ['forceReconnect', 3011, 'force reconnect', true],
    ['noPong', 3012, 'no pong', true],
    ['tooManyRequests', 3013, 'too many requests', true],
    ['invalidToken', 3500, 'invalid token', false],
    ['badRequest', 3501, 'bad request', false],
    ['stale', 3502, 'stale', false],
    ['forceNoReconnect', 3503, 'force disconnect', false],
    ['connectionLimit', 3504, 'connection limit', false],
    ['channelLimit', 3505, 'channel limit', false],
    ['inappropriateProtocol', 3506, 'inappropriate protocol', false],
    ['permissionDenied', 3507, 'permission denied', false],
    ['notAvailable', 3508, 'not available', false],
    ['tooManyErrors', 3509, 'too many errors', false],
  ]
  for (const [name, code, reason, reconnect] of expected) {
    it(`${name} is ${code} "${reason}" and ${reconnect ? 'reconnects' : 'is terminal'}`, () => {
      const d = Disconnects[name]
      expect([d.code, d.reason, d.reconnect]).toEqual([code, reason, reconnect])
      // Terminal codes only stay terminal for the SDK with a non-empty reason; Centrifugo keeps reasons ≤ 32 bytes.
      expect(Buffer.byteLength(d.reason)).toBeGreaterThan(0)
      expect(Buffer.byteLength(d.reason)).toBeLessThanOrEqual(32)
    })
  }

  it('applies the SDK range rule to application codes', () => {
    const rule = (code: number) => new Disconnect(code, 'x').reconnect
    expect([4000, 4499, 3499, 5000].map(rule)).toEqual([true, true, true, true])
    expect([3500, 3999, 4500, 4999].map(rule)).toEqual([false, false, false, false])
  })
})

describe('reply errors (centrifuge errors.go)', () => {
  it('carry the code, message and temporary flag of the spec', () => {
    const table: Array<[ReplyError, number, string, boolean]> = [
      [Errors.internal(), 100, 'internal server error', true],
      [Errors.unauthorized(), 101, 'unauthorized', false],
      [Errors.unknownChannel(), 102, 'unknown channel', false],
      [Errors.permissionDenied(), 103, 'permission denied', false],
      [Errors.methodNotFound(), 104, 'method not found', false],
      [Errors.alreadySubscribed(), 105, 'already subscribed', false],
      [Errors.limitExceeded(), 106, 'limit exceeded', false],
      [Errors.badRequest(), 107, 'bad request', false],
      [Errors.notAvailable(), 108, 'not available', false],
      [Errors.tokenExpired(), 109, 'token expired', false],
      [Errors.expired(), 110, 'expired', false],
      [Errors.tooManyRequests(), 111, 'too many requests', true],
      [Errors.unrecoverablePosition(), 112, 'unrecoverable position', false],
    ]
    for (const [err, code, message, temporary] of table) {
      expect([err.code, err.message, err.temporary]).toEqual([code, message, temporary])
      expect(Object.values(ErrorCode)).toContain(code)
    }
  })

  it('serialise without `temporary` unless it is set', () => {
    expect(JSON.stringify(Errors.permissionDenied())).toBe('{"code":103,"message":"permission denied"}')
    expect(JSON.stringify(Errors.internal())).toBe('{"code":100,"message":"internal server error","temporary":true}')
  })

  it('are fresh objects, so one refusal cannot leak state into another', () => {
    expect(Errors.badRequest()).not.toBe(Errors.badRequest())
  })
})

describe('unsubscribe codes and close reasons', () => {
  it('keeps server unsubscribes final (< 2500) and resubscribe codes ≥ 2500', () => {
    expect(UnsubscribeCode.Server).toBeLessThan(2500)
    for (const c of [UnsubscribeCode.InsufficientState, UnsubscribeCode.Expired, UnsubscribeCode.StateInvalidated]) expect(c).toBeGreaterThanOrEqual(2500)
  })

  it('fits a close reason into a close frame (≤ 123 bytes), leaving short ones alone', () => {
    expect(limitCloseReason('shutdown')).toBe('shutdown')
    for (const long of ['x'.repeat(500), 'я'.repeat(200), '😀'.repeat(100)]) {
      const r = limitCloseReason(long)
      expect(Buffer.byteLength(r)).toBeLessThanOrEqual(123)
      expect(r.length).toBeGreaterThan(0)
    }
  })
})

/** The three code tables of the Centrifugo client protocol v2 (centrifuge `errors.go`, `disconnect.go`, `unsubscribe.go`). */

/** A reply error: `temporary` errors make the SDK retry; 400–1999 are free for applications. */
export class ReplyError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly temporary = false,
  ) {
    super(message)
  }
  toJSON(): { code: number; message: string; temporary?: boolean } {
    return this.temporary ? { code: this.code, message: this.message, temporary: true } : { code: this.code, message: this.message }
  }
}

export const ErrorCode = {
  Internal: 100,
  Unauthorized: 101,
  UnknownChannel: 102,
  PermissionDenied: 103,
  MethodNotFound: 104,
  AlreadySubscribed: 105,
  LimitExceeded: 106,
  BadRequest: 107,
  NotAvailable: 108,
  TokenExpired: 109,
  Expired: 110,
  TooManyRequests: 111,
  UnrecoverablePosition: 112,
} as const

export const Errors = {
  internal: () => new ReplyError(100, 'internal server error', true),
  unauthorized: () => new ReplyError(101, 'unauthorized'),
  unknownChannel: () => new ReplyError(102, 'unknown channel'),
  permissionDenied: () => new ReplyError(103, 'permission denied'),
  methodNotFound: () => new ReplyError(104, 'method not found'),
  alreadySubscribed: () => new ReplyError(105, 'already subscribed'),
  limitExceeded: () => new ReplyError(106, 'limit exceeded'),
  badRequest: () => new ReplyError(107, 'bad request'),
  notAvailable: () => new ReplyError(108, 'not available'),
  tokenExpired: () => new ReplyError(109, 'token expired'),
  expired: () => new ReplyError(110, 'expired'),
  tooManyRequests: () => new ReplyError(111, 'too many requests', true),
  unrecoverablePosition: () => new ReplyError(112, 'unrecoverable position'),
}

/** A disconnect closes the connection: 3000–3499 and 4000–4499 reconnect, 3500–3999 and 4500–4999 are terminal. */
export class Disconnect extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(reason)
  }
  /** Whether the SDK reconnects after this code (its own rule for a non-empty close reason). */
  get reconnect(): boolean {
    return !((this.code >= 3500 && this.code < 4000) || (this.code >= 4500 && this.code < 5000))
  }
}

export const Disconnects = {
  connectionClosed: new Disconnect(3000, 'connection closed'),
  shutdown: new Disconnect(3001, 'shutdown'),
  internal: new Disconnect(3004, 'internal server error'),
  expired: new Disconnect(3005, 'connection expired'),
  subExpired: new Disconnect(3006, 'subscription expired'),
  slow: new Disconnect(3008, 'slow'),
  writeError: new Disconnect(3009, 'write error'),
  insufficientState: new Disconnect(3010, 'insufficient state'),
  forceReconnect: new Disconnect(3011, 'force reconnect'),
  noPong: new Disconnect(3012, 'no pong'),
  tooManyRequests: new Disconnect(3013, 'too many requests'),
  invalidToken: new Disconnect(3500, 'invalid token'),
  badRequest: new Disconnect(3501, 'bad request'),
  stale: new Disconnect(3502, 'stale'),
  forceNoReconnect: new Disconnect(3503, 'force disconnect'),
  connectionLimit: new Disconnect(3504, 'connection limit'),
  channelLimit: new Disconnect(3505, 'channel limit'),
  inappropriateProtocol: new Disconnect(3506, 'inappropriate protocol'),
  permissionDenied: new Disconnect(3507, 'permission denied'),
  notAvailable: new Disconnect(3508, 'not available'),
  tooManyErrors: new Disconnect(3509, 'too many errors'),
} as const

/** Unsubscribe push codes: below 2500 final, 2500 and up make the SDK resubscribe. */
export const UnsubscribeCode = {
  Server: 2000,
  InsufficientState: 2500,
  Expired: 2501,
  StateInvalidated: 2502,
} as const

/** Bits of a subscribe request's `flag` (centrifuge `client.go`). */
export const SubscribeFlag = {
  /** The client accepts numeric channel ids in pushes; a server may ignore it. */
  ChannelCompaction: 1,
  /** A recovery that fails answers 112 instead of subscribing with `recovered: false` (the SDK sets it with `getState`). */
  RejectUnrecovered: 2,
} as const

/** A subscribe request's `type` (centrifuge `options.go`); absent or 0 is a stream. */
export const SubscriptionType = { Stream: 0, Map: 1, MapClients: 2, MapUsers: 3, SharedPoll: 4 } as const

/** A publish request's `type`: 1 is a map publish or removal. */
export const PublishType = { Stream: 0, Map: 1 } as const

/** Close reasons must fit a close frame (123 bytes); Centrifugo's docs ask for 32. */
export function limitCloseReason(reason: string): string {
  return Buffer.byteLength(reason) <= 123 ? reason : reason.slice(0, 40)
}

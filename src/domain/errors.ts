/** The one error the domain throws on purpose; the HTTP layer and the gateway map `code` to their own codes. */
export type DomainErrorCode =
  | 'bad_request'
  | 'unauthorized'
  /** Credentials that were valid and have expired: 401 over HTTP, 110 expired over the socket. */
  | 'token_expired'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  /** 409: the operator a session is transferred to cannot take it now (status, block, maxChats). */
  | 'target_unavailable'
  | 'payload_too_large'
  /** 415: a file whose type is not accepted (attachments). */
  | 'unsupported_media_type'
  | 'rate_limited'

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** The input field at fault, for bad_request. */
    readonly field?: string,
    /** For rate_limited: seconds until a retry may pass (HTTP Retry-After). */
    readonly retryAfterSec?: number,
  ) {
    super(message)
    this.name = 'DomainError'
  }
}

/** The one error the domain throws on purpose; the HTTP layer and the gateway map `code` to their own codes. */
export type DomainErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** The input field at fault, for bad_request. */
    readonly field?: string,
  ) {
    super(message)
    this.name = 'DomainError'
  }
}

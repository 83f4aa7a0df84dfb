/**
 * How many messages one client and one operator may write per window, whichever endpoint they use; counted in
 * Redis when there is one, so the limit holds across nodes. Past it: 429 rate_limited with Retry-After.
 */
import { DomainError } from '../domain/errors.js'
import { Throttle, type RateLimit } from '../realtime/limits.js'

export const DEFAULT_CLIENT_MESSAGES: RateLimit = { points: 120, windowMs: 60_000 }
export const DEFAULT_OPERATOR_MESSAGES: RateLimit = { points: 240, windowMs: 60_000 }

export interface MessageLimitsOptions {
  client?: RateLimit
  operator?: RateLimit
  /** An ioredis client shared by the nodes; absent: this process. */
  redis?: unknown
  prefix?: string
}

export interface MessageLimits {
  /** Counts one message of the client; throws rate_limited past the limit. */
  client(clientId: string): Promise<void>
  /** Counts one message of the operator; throws rate_limited past the limit. */
  operator(operatorId: string): Promise<void>
}

export function messageLimits(opts: MessageLimitsOptions): MessageLimits {
  const gate = (who: 'client' | 'operator', rate: RateLimit) => {
    const throttle = new Throttle(`messages.${who}`, rate, opts)
    const per = rate.windowMs % 60_000 === 0 ? `${rate.windowMs / 60_000} min` : `${rate.windowMs / 1000} s`
    return async (id: string) => {
      const refused = await throttle.take(id)
      if (refused) throw new DomainError('rate_limited', `a ${who} may send at most ${rate.points} messages per ${per}`, undefined, Math.ceil(refused.retryAfterMs / 1000))
    }
  }
  return {
    client: gate('client', opts.client ?? DEFAULT_CLIENT_MESSAGES),
    operator: gate('operator', opts.operator ?? DEFAULT_OPERATOR_MESSAGES),
  }
}

/**
 * Idempotent requests that create something other than a message (messages keep their key themselves,
 * store/chat.ts): the first answer is kept for `idempotencyWindowMs`, and a retry with the same key, on any node,
 * gets it again and creates nothing. A retry while the first is still running is a conflict. Answers are kept
 * as given, so a caller must not put secrets in them (a client's token is issued again on replay, clients.ts).
 */
import { answerKey, claimKey, releaseKey } from '../store/idempotency.js'
import type { DomainContext } from './context.js'
import { DomainError } from './errors.js'

/** A claim whose request never answered (its node died) is taken over after this. */
const ABANDONED_AFTER_MS = 60_000

export interface Answer<T> {
  status: number
  body: T
  /** True when this is the first request's answer again. */
  replayed: boolean
}

export class IdempotentRequests {
  constructor(private readonly ctx: DomainContext) {}

  async once<T>(scope: string, key: string | undefined, create: () => Promise<{ status: number; body: T }>): Promise<Answer<T>> {
    if (key === undefined) return { ...(await create()), replayed: false }
    const { db, config } = this.ctx
    const claim = await claimKey(db, scope, key, config.idempotencyWindowMs, ABANDONED_AFTER_MS)
    if (claim.state === 'done') return { status: claim.status, body: claim.response as T, replayed: true }
    if (claim.state === 'in_progress') throw new DomainError('conflict', 'a request with this Idempotency-Key is still running', 'Idempotency-Key')
    let answer: { status: number; body: T }
    try {
      answer = await create()
    } catch (err) {
      await releaseKey(db, scope, key).catch(() => {})
      throw err
    }
    await answerKey(db, scope, key, answer.status, answer.body)
    return { ...answer, replayed: false }
  }
}

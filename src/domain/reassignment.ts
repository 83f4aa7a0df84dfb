/**
 * Sessions that go back to routing without their holder's say: the holder has been `offline` for
 * `REASSIGN_OFFLINE_AFTER`, or missed an answer timer (`FIRST_ANSWER_TIMEOUT`, `NEXT_ANSWER_TIMEOUT`). Shared
 * timers: every node sweeps, the store says what is due, and each move runs under the queue lock and re-checks
 * that the session is still due, so exactly one node moves it. The move is ordinary routing (Router.drain) told
 * to avoid the holder; the session keeps its place in the queue (its first queued time orders it).
 */
import { sessionById, type SessionRow } from '../store/chat.js'
import type { Db } from '../store/db.js'
import { dueAnswers, dueOffline, type DueSession } from '../store/transfers.js'
import { lockedSession, type DomainContext } from './context.js'
import type { SessionTransfer } from './events.js'
import { transition } from './lifecycle.js'
import type { Outbox } from './outbox.js'
import { Periodic } from './periodic.js'

/** Due sessions moved per sweep and kind; the rest wait for the next sweep. */
const SWEEP_BATCH = 100

/** Thrown inside a move's transaction to roll it back: routing could not give the session to another operator. */
class NobodyElse extends Error {}

export interface RerouteOptions {
  /** The operator the session must not go to now (its holder); it waits in the queue rather than go there. */
  avoid: string | null
  /** `chatSessionDeleted.reason` for the old holder. */
  reason: 'reassigned' | 'transferred'
  /** Roll the whole change back (NobodyElse) unless another operator takes the session now. */
  onlyToAnother?: boolean
  /** Describes the move once routing has decided who holds it (transfers.ts records it); carried by the events. */
  transfer?: (toOperatorId: string | null) => Promise<SessionTransfer>
}

/**
 * Takes a locked session (assigned or queued) from where it is and routes it again, in a change that holds the
 * queue lock (Mutator.run with `routes`). Events: `chatSessionDeleted` to the old holder (or to the queue it waited
 * in), `chatSessionAdded` (with `previousOperator`) to the new holder and `chatSessionAssigned` if it was queued, or
 * `chatSessionStarted` and `operatorNotFound` to its queue when nobody takes it; others assigned meanwhile as in drain.
 */
export async function reroute(ctx: DomainContext, tx: Db, out: Outbox, session: SessionRow, opts: RerouteOptions): Promise<string | null> {
  if (session.status === 'assigned') await transition(tx, session, 'queued')
  const assignments = await ctx.router.drain(tx, opts.avoid ? new Map([[session.id, opts.avoid]]) : undefined)
  const mine = assignments.find((a) => a.session.id === session.id)
  if (opts.onlyToAnother && !mine) throw new NobodyElse()
  const transfer = await opts.transfer?.(mine?.operatorId ?? null)
  const ids = [session.id, ...assignments.map((a) => a.session.id).filter((id) => id !== session.id)]
  const views = new Map((await ctx.sessions(tx, ids)).map((v) => [v.id, v]))
  const view = transfer ? { ...views.get(session.id)!, transfer } : views.get(session.id)!
  const now = (await sessionById(tx, session.id))!
  if (session.status === 'assigned' || !mine) {
    out.publish('chatSessionDeleted', { id: session.id, chatId: session.chat_id, reason: opts.reason, ...(transfer ? { transfer } : {}) }, { session })
  }
  if (mine) {
    out.publish('chatSessionAdded', view, { operatorId: mine.operatorId })
    if (session.status === 'queued') out.publish('chatSessionAssigned', view, { session })
  } else {
    out.publish('chatSessionStarted', view, { session: now })
    out.publish('operatorNotFound', { botStatus: 'HELP', chatId: now.chat_id, operatorType: 'operator', sessionId: now.id, status: 'queued' }, { session: now })
  }
  for (const a of assignments) {
    if (a === mine) continue
    out.publish('chatSessionAdded', views.get(a.session.id)!, { operatorId: a.operatorId })
    out.publish('chatSessionAssigned', views.get(a.session.id)!, { session: { ...a.session, status: 'queued' } })
  }
  return mine?.operatorId ?? null
}

export class Reassignment {
  private readonly every: Periodic
  /** Missed answers nobody else could take, by session: this node tries again after the time given (not every sweep). */
  private readonly retryAt = new Map<string, number>()

  constructor(private readonly ctx: DomainContext) {
    this.every = new Periodic(() => this.sweep(), ctx.config.timerSweepMs, (err) => ctx.log.warn({ err }, 'reassignment sweep failed'))
  }

  start(): void {
    const { reassignOfflineAfterMs, firstAnswerTimeoutSec, nextAnswerTimeoutSec } = this.ctx.config
    if (reassignOfflineAfterMs > 0 || firstAnswerTimeoutSec > 0 || nextAnswerTimeoutSec > 0) this.every.start()
  }

  /** Moves what is due now: holders offline past the grace (to the queue if nobody else can take them), then missed answers. */
  async sweep(): Promise<void> {
    const { db, config } = this.ctx
    if (config.reassignOfflineAfterMs > 0) {
      for (const due of await dueOffline(db, config.reassignOfflineAfterMs, SWEEP_BATCH)) await this.move(due)
    }
    if (config.firstAnswerTimeoutSec > 0 || config.nextAnswerTimeoutSec > 0) {
      const now = Date.now()
      const waiting = [...this.retryAt].filter(([, at]) => at > now).map(([id]) => id)
      for (const [id, at] of this.retryAt) if (at <= now) this.retryAt.delete(id)
      const answers = await dueAnswers(db, { firstSec: config.firstAnswerTimeoutSec, nextSec: config.nextAnswerTimeoutSec, limit: SWEEP_BATCH, skip: waiting })
      for (const due of answers) await this.move(due)
    }
  }

  /**
   * One due session, if it still is under the lock (another node may have moved it). A missed answer moves it only to
   * another operator; while nobody else can take it, it stays with its holder and is tried again at the next sweep.
   */
  private async move(due: DueSession): Promise<void> {
    const { config } = this.ctx
    const chat = await this.ctx.chatKeys.session(due.id)
    try {
      await this.ctx.mutator.run(async (tx, out) => {
        const session = await lockedSession(tx, due.id)
        if (session.status !== 'assigned' || session.operator_id !== due.operator_id) return
        const still =
          due.timer === 'offline'
            ? await dueOffline(tx, config.reassignOfflineAfterMs, 1, due.id)
            : await dueAnswers(tx, { firstSec: config.firstAnswerTimeoutSec, nextSec: config.nextAnswerTimeoutSec, limit: 1, sessionId: due.id })
        if (still.length === 0) return
        await reroute(this.ctx, tx, out, session, { avoid: due.operator_id, reason: 'reassigned', onlyToAnother: due.timer !== 'offline' })
        this.ctx.log.info({ sessionId: due.id, from: due.operator_id, timer: due.timer }, 'session reassigned')
      }, { routes: true, chat })
    } catch (err) {
      if (!(err instanceof NobodyElse)) throw err
      this.retryAt.set(due.id, Date.now() + Math.max(1_000, 4 * config.timerSweepMs))
    }
  }

  async close(): Promise<void> {
    await this.every.stop()
  }
}

/**
 * Satisfaction (issue 16): a client rates its own closed session once (1–5 and a comment); the operator who held
 * it and the supervisors get `sessionRated`. Reports: first-response time, answer times and ratings per operator or
 * group over a period, computed in SQL (store/satisfaction.ts).
 */
import { insertRating, reportRows, type ReportKey, type ReportRow } from '../store/satisfaction.js'
import { lockedSession, type DomainContext } from './context.js'
import { DomainError } from './errors.js'
import type { SessionRatedData } from './events.js'
import { iso } from './views.js'

export const RATING_COMMENT_MAX = 1000

export interface Durations {
  count: number
  /** Seconds; null when there is nothing to measure. */
  avgSec: number | null
  p50Sec: number | null
  p90Sec: number | null
}

export interface ReportFigures {
  /** Sessions the operator held at their close (or holds now), or the group's sessions an operator held. */
  sessions: number
  /** From the moment a session first asked for people to the first operator message that is not a note. */
  firstResponse: Durations
  /** From a client message (the oldest one waiting) to the next operator message. */
  answers: Durations
  ratings: { count: number; avg: number | null; distribution: Record<'1' | '2' | '3' | '4' | '5', number> }
}

export type ReportItem = ReportFigures & ({ operatorId: string; name: string | null } | { groupId: string | null; name: string | null })

export interface Report {
  from: string
  to: string
  groupBy: ReportKey
  items: ReportItem[]
  total: ReportFigures
}

/** Seconds to the millisecond (PostgreSQL and PGlite agree to that). */
const seconds = (v: number | null): number | null => (v === null || v === undefined ? null : Math.round(Number(v) * 1000) / 1000)

function figures(r: ReportRow): ReportFigures {
  return {
    sessions: r.sessions,
    firstResponse: { count: r.first_count, avgSec: seconds(r.first_avg), p50Sec: seconds(r.first_p50), p90Sec: seconds(r.first_p90) },
    answers: { count: r.answer_count, avgSec: seconds(r.answer_avg), p50Sec: seconds(r.answer_p50), p90Sec: seconds(r.answer_p90) },
    ratings: {
      count: r.rating_count,
      avg: r.rating_avg === null ? null : Math.round(Number(r.rating_avg) * 100) / 100,
      distribution: { '1': r.r1, '2': r.r2, '3': r.r3, '4': r.r4, '5': r.r5 },
    },
  }
}

const EMPTY: ReportRow = {
  key: null, name: null, total: true, sessions: 0,
  first_count: 0, first_avg: null, first_p50: null, first_p90: null,
  answer_count: 0, answer_avg: null, answer_p50: null, answer_p90: null,
  rating_count: 0, rating_avg: null, r1: 0, r2: 0, r3: 0, r4: 0, r5: 0,
}

export class Satisfaction {
  constructor(private readonly ctx: DomainContext) {}

  /**
   * The client rates its own closed session: 404 for a session of another client (it is not visible), 409 while it
   * is open or once it has a rating (one per session, held by the table's key across nodes).
   */
  async rate(clientId: string, sessionId: string, input: { score: number; comment?: string | null }): Promise<SessionRatedData> {
    if (!Number.isInteger(input.score) || input.score < 1 || input.score > 5) throw new DomainError('bad_request', 'score must be an integer from 1 to 5', 'score')
    const comment = input.comment?.trim() ? input.comment.trim() : null
    if (comment && comment.length > RATING_COMMENT_MAX) throw new DomainError('bad_request', `comment is longer than ${RATING_COMMENT_MAX} characters`, 'comment')
    const chat = await this.ctx.chatKeys.session(sessionId)
    if (!chat) throw new DomainError('not_found', `session ${sessionId} not found`)
    return this.ctx.mutator.run(async (tx, out) => {
      const session = await lockedSession(tx, sessionId)
      if (session.client_id !== clientId) throw new DomainError('not_found', `session ${sessionId} not found`)
      if (session.status !== 'closed') throw new DomainError('conflict', 'the session is still open: rate it once it is closed')
      const row = await insertRating(tx, { sessionId, clientId, operatorId: session.operator_id, groupId: session.group_id, score: input.score, comment })
      if (!row) throw new DomainError('conflict', 'this session is rated already', 'score')
      const data: SessionRatedData = {
        sessionId,
        chatId: session.chat_id,
        clientId,
        operatorId: row.operator_id,
        groupId: row.group_id,
        score: row.score,
        comment: row.comment,
        ratedAt: iso(row.created_at)!,
      }
      const subject = { status: session.status, operator_id: session.operator_id, client_id: session.client_id, group_id: session.group_id }
      out.publish('sessionRated', data, { session: subject, ...(row.operator_id ? { operatorId: row.operator_id } : {}) })
      return data
    }, { chat })
  }

  /** Figures of the sessions that started in [from, to), per operator or per group, and their total. */
  async report(from: Date, to: Date, groupBy: ReportKey): Promise<Report> {
    const rows = await reportRows(this.ctx.db, from, to, groupBy)
    const total = rows.find((r) => r.total) ?? EMPTY
    const items = rows
      .filter((r) => !r.total && (groupBy === 'group' || r.key !== null))
      .map((r): ReportItem => (groupBy === 'operator' ? { operatorId: r.key!, name: r.name, ...figures(r) } : { groupId: r.key, name: r.name, ...figures(r) }))
    return { from: from.toISOString(), to: to.toISOString(), groupBy, items, total: figures(total) }
  }
}

/**
 * `from`/`to` of a report: ISO 8601 dates (UTC midnight) or date-times with a zone (`Z` or `±hh:mm`), from before
 * to; 400 naming the field otherwise. Defaults: to = now, from = `defaultDays` before to.
 */
export function reportPeriod(q: { from?: string; to?: string }, now = new Date(), defaultDays = 7): { from: Date; to: Date } {
  const parse = (v: string | undefined, field: 'from' | 'to'): Date | undefined => {
    if (v === undefined) return undefined
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(?:Z|[+-](\d{2}):(\d{2})))?$/.exec(v)
    // Date() would roll 2026-02-30 over to March: every part is checked against its range first.
    const [y, mo, d, hh = 0, mm = 0, ss = 0, oh = 0, om = 0] = (m ?? []).slice(1).map((x) => (x === undefined ? undefined : Number(x))) as number[]
    const valid = m !== null && mo >= 1 && mo <= 12 && d >= 1 && d <= new Date(Date.UTC(y, mo, 0)).getUTCDate() && hh <= 23 && mm <= 59 && ss <= 59 && oh <= 23 && om <= 59
    if (!valid) throw new DomainError('bad_request', `${field} must be an ISO 8601 date or date-time with a zone, got ${JSON.stringify(v)}`, field)
    return new Date(v)
  }
  const to = parse(q.to, 'to') ?? now
  const from = parse(q.from, 'from') ?? new Date(to.getTime() - defaultDays * 86_400_000)
  if (from.getTime() >= to.getTime()) throw new DomainError('bad_request', 'from must be before to', 'from')
  return { from, to }
}

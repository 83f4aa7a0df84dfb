/** The SQL of satisfaction ratings (migration 012) and of the reports over sessions, messages and ratings. */
import type { Db } from './db.js'

export interface RatingRow {
  session_id: string
  client_id: string
  operator_id: string | null
  group_id: string | null
  score: number
  comment: string | null
  created_at: Date
}

/** Inserts the rating of a session; undefined when it has one already (one per session, across nodes and races). */
export async function insertRating(
  db: Db,
  r: { sessionId: string; clientId: string; operatorId: string | null; groupId: string | null; score: number; comment: string | null },
): Promise<RatingRow | undefined> {
  const [row] = await db.query<RatingRow>(
    `INSERT INTO session_ratings (session_id, client_id, operator_id, group_id, score, comment) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (session_id) DO NOTHING RETURNING *`,
    [r.sessionId, r.clientId, r.operatorId, r.groupId, r.score, r.comment],
  )
  return row
}

export type ReportKey = 'operator' | 'group'

/** One row of a report: a key (operator or group id; null: no group, or the total) and its figures. */
export interface ReportRow {
  key: string | null
  name: string | null
  total: boolean
  sessions: number
  first_count: number
  first_avg: number | null
  first_p50: number | null
  first_p90: number | null
  answer_count: number
  answer_avg: number | null
  answer_p50: number | null
  answer_p90: number | null
  rating_count: number
  rating_avg: number | null
  r1: number
  r2: number
  r3: number
  r4: number
  r5: number
}

/**
 * The figures of the sessions that started in [$1, $2), per operator or per group, and their total, in one
 * statement. Every fact is attributed before it is aggregated:
 * - a session handled: to its holder (the one who held it at its close, or holds it now), or its group;
 * - its first response (the first operator message that is not a note, from the moment the session first asked
 *   for people, `queued_at`): to the operator who wrote it, or the session's group;
 * - an answer (an operator message that follows client messages, from the oldest of them, or from `queued_at`
 *   when the client wrote to the bot before): to the operator who wrote it, or the session's group;
 * - a rating: to the operator who held the session when it was rated, or the session's group.
 * Seconds are float8; percentiles interpolate (`percentile_cont`).
 */
export async function reportRows(db: Db, from: Date, to: Date, by: ReportKey): Promise<ReportRow[]> {
  const key = (operatorColumn: string) => (by === 'operator' ? operatorColumn : 's.group_id')
  return db.query<ReportRow>(
    `WITH s AS (
       SELECT id, operator_id, group_id, queued_at FROM sessions WHERE started_at >= $1 AND started_at < $2
     ),
     m AS (
       SELECT x.session_id, x.seq, x.author_type, x.author_id, x.created_at,
              -- the operator messages before this one: a client message and the operator message that answers it share the count
              COALESCE(sum(CASE WHEN x.author_type = 'operator' THEN 1 ELSE 0 END)
                OVER (PARTITION BY x.session_id ORDER BY x.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS run
         FROM messages x JOIN s ON s.id = x.session_id
        WHERE NOT x.internal AND x.author_type IN ('client', 'operator')
     ),
     firsts AS (
       SELECT DISTINCT ON (m.session_id) m.session_id, m.author_id, m.created_at FROM m WHERE m.author_type = 'operator' ORDER BY m.session_id, m.seq
     ),
     answers AS (
       SELECT m.session_id, max(m.author_id) FILTER (WHERE m.author_type = 'operator') AS author_id,
              max(m.created_at) FILTER (WHERE m.author_type = 'operator') AS answered_at,
              min(m.created_at) FILTER (WHERE m.author_type = 'client') AS asked_at
         FROM m GROUP BY m.session_id, m.run
       HAVING count(*) FILTER (WHERE m.author_type = 'operator') = 1 AND count(*) FILTER (WHERE m.author_type = 'client') > 0
     ),
     facts AS (
       SELECT ${key('s.operator_id')} AS k, 'session' AS kind, NULL::float8 AS v FROM s WHERE s.operator_id IS NOT NULL
       UNION ALL
       SELECT ${key('f.author_id')}, 'first', extract(epoch FROM f.created_at - s.queued_at)::float8
         FROM firsts f JOIN s ON s.id = f.session_id WHERE s.queued_at IS NOT NULL
       UNION ALL
       SELECT ${key('a.author_id')}, 'answer', extract(epoch FROM a.answered_at - GREATEST(a.asked_at, s.queued_at))::float8
         FROM answers a JOIN s ON s.id = a.session_id
       UNION ALL
       SELECT ${key('r.operator_id')}, 'rating', r.score::float8 FROM session_ratings r JOIN s ON s.id = r.session_id
     ),
     figures AS (
       SELECT k, GROUPING(k) = 1 AS total,
              count(*) FILTER (WHERE kind = 'session')::int AS sessions,
              count(*) FILTER (WHERE kind = 'first')::int AS first_count,
              avg(v) FILTER (WHERE kind = 'first') AS first_avg,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FILTER (WHERE kind = 'first') AS first_p50,
              percentile_cont(0.9) WITHIN GROUP (ORDER BY v) FILTER (WHERE kind = 'first') AS first_p90,
              count(*) FILTER (WHERE kind = 'answer')::int AS answer_count,
              avg(v) FILTER (WHERE kind = 'answer') AS answer_avg,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FILTER (WHERE kind = 'answer') AS answer_p50,
              percentile_cont(0.9) WITHIN GROUP (ORDER BY v) FILTER (WHERE kind = 'answer') AS answer_p90,
              count(*) FILTER (WHERE kind = 'rating')::int AS rating_count,
              avg(v) FILTER (WHERE kind = 'rating') AS rating_avg,
              count(*) FILTER (WHERE kind = 'rating' AND v = 1)::int AS r1,
              count(*) FILTER (WHERE kind = 'rating' AND v = 2)::int AS r2,
              count(*) FILTER (WHERE kind = 'rating' AND v = 3)::int AS r3,
              count(*) FILTER (WHERE kind = 'rating' AND v = 4)::int AS r4,
              count(*) FILTER (WHERE kind = 'rating' AND v = 5)::int AS r5
         FROM facts GROUP BY GROUPING SETS ((k), ())
     )
     SELECT f.k AS key, ${by === 'operator' ? 'o.name' : 'g.name'} AS name, f.total, f.sessions,
            f.first_count, f.first_avg::float8, f.first_p50::float8, f.first_p90::float8,
            f.answer_count, f.answer_avg::float8, f.answer_p50::float8, f.answer_p90::float8,
            f.rating_count, f.rating_avg::float8, f.r1, f.r2, f.r3, f.r4, f.r5
       FROM figures f ${by === 'operator' ? 'LEFT JOIN operators o ON o.id = f.k' : 'LEFT JOIN groups g ON g.id = f.k'}
      ORDER BY f.total, name NULLS LAST, f.k NULLS LAST`,
    [from, to],
  )
}

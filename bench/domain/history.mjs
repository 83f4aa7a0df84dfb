/**
 * `--history=N`: a help desk that has been running, before the scenario's nodes start. N past clients, each with a
 * closed session of 4 messages (two each way) and their published events, written straight into the scenario's
 * database (the first node's PGlite data directory, or its PostgreSQL database), then analysed, as autovacuum or
 * livedesk's PGlite maintenance would have done long before. The bench's own operators and clients are created after,
 * through the API, as without it: what changes is the size of every table their statements read and write.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const MESSAGES_PER_SESSION = 4
/** Rows per statement: PGlite's memory grows with a statement's size and never shrinks. */
const CHUNK = 10_000

/**
 * Seeds `sessions` past sessions into the database livedesk (`dist`) opens with `dbOptions`; returns what it wrote and
 * how long it took. `analyse: false` leaves the tables without statistics, as PGlite had them before livedesk
 * maintained it (it has no autovacuum): the before of that change.
 */
export async function seedHistory(dist, dbOptions, sessions, { analyse = true } = {}) {
  const started = performance.now()
  const { openDb } = await import(pathToFileURL(join(dist, 'store', 'index.js')).href)
  const db = await openDb({ ...dbOptions, pgliteMaintenanceIntervalMs: 0 })
  try {
    await db.query(`INSERT INTO operators (id, name, max_chats) SELECT 'hist-op-' || g, 'Past operator ' || g, 20 FROM generate_series(1, 20) g`)
    for (let from = 1; from <= sessions; from += CHUNK) {
      const to = Math.min(sessions, from + CHUNK - 1)
      const range = `generate_series(${from}, ${to}) g`
      await db.transaction(async (tx) => {
        await tx.query(`INSERT INTO clients (id, chat_id, name, channel, token_hash, created_at)
                        SELECT 'hist-c' || g, 'hist-chat' || g, 'Past client ' || g, 'widget', 'hist-t' || g, now() - interval '30 days' FROM ${range}`)
        await tx.query(`INSERT INTO sessions (id, chat_id, client_id, status, operator_id, started_at, operator_assigned_at, closed_at, closed_by)
                        SELECT 'hist-s' || g, 'hist-chat' || g, 'hist-c' || g, 'closed', 'hist-op-' || (g % 20 + 1),
                               now() - interval '30 days', now() - interval '30 days', now() - interval '29 days', 'operator' FROM ${range}`)
        await tx.query(`INSERT INTO messages (id, session_id, chat_id, author_type, author_id, author_name, text, created_at)
                        SELECT 'hist-m' || g || '-' || k, 'hist-s' || g, 'hist-chat' || g,
                               CASE WHEN k % 2 = 1 THEN 'client' ELSE 'operator' END,
                               CASE WHEN k % 2 = 1 THEN 'hist-c' || g ELSE 'hist-op-' || (g % 20 + 1) END, 'someone',
                               'message ' || k || ' of past chat ' || g || ' about order ' || (g * 7 % 1000), now() - interval '30 days'
                          FROM ${range}, generate_series(1, ${MESSAGES_PER_SESSION}) k`)
      })
    }
    if (analyse) await db.query('ANALYZE')
  } finally {
    await db.close()
  }
  return { sessions, messages: sessions * MESSAGES_PER_SESSION, analysed: analyse, ms: Math.round(performance.now() - started) }
}

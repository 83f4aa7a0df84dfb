/**
 * `node bench/batched-messages.mjs [--open=400,2000,20000] [--batches=1,2,4,8,32] [--runs=300] [--rounds=3] [--dist=<dist>]`:
 * what one execution of the batched client-message statement (store/chat.ts `insertClientMessagesInOpenSessions`)
 * costs, against the baseline, the statement as it was before each message found its client and session in a LATERAL
 * subquery (joins over the input, planned for 100 input rows; copied below as it ran). On livedesk's PGlite (relaxed,
 * on disk) and, with TEST_DATABASE_URL or BENCH_DATABASE_URL, on PostgreSQL; from dist/ (`npm run build`).
 * Each database gets `open` clients, each with an open session, analysed; then, for each batch size, `runs`
 * executions of each statement, taking turns, `rounds` times over. Reported: the median over the rounds of the mean
 * ms per statement, and the ratio current / baseline. Writes results/<date>-batched-messages.json.
 */
import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { environment } from './lib/environment.mjs'
import { openScratchDatabase } from './lib/scratch-database.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=').slice(1).join('=')
const list = (name, fallback) => (arg(name) ?? fallback).split(',').map(Number)
const OPEN = list('open', '400,2000,20000')
const BATCHES = list('batches', '1,2,4,8,32')
const RUNS = Number(arg('runs') ?? 300)
const ROUNDS = Number(arg('rounds') ?? 3)
const DIST = arg('dist') ?? join(root, 'dist')
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL

const load = (path) => import(pathToFileURL(join(DIST, path)).href)
const { migrate } = await load('store/migrate.js')
const { insertClientMessagesInOpenSessions } = await load('store/chat.js')

const SUBJECT = `jsonb_build_object('session', jsonb_build_object('status', s.status, 'operator_id', s.operator_id, 'client_id', s.client_id, 'group_id', s.group_id))`
/** The baseline: the statement before the LATERAL lookup (no webhook owed, as with none subscribed). */
const BASELINE = `WITH i AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(n int, id text, client_id text, text text, event_id text, idem text)),
     s AS (
       SELECT s.*, c.id AS of_client, c.name AS client_name FROM clients c JOIN sessions s ON s.chat_id = c.chat_id AND s.status <> 'closed'
        WHERE c.id = ANY(ARRAY(SELECT client_id FROM i)) FOR UPDATE OF s SKIP LOCKED),
     m AS (
       INSERT INTO messages (id, session_id, chat_id, author_type, author_id, author_name, text, created_at, idempotency_key)
       SELECT i.id, s.id, s.chat_id, 'client', i.client_id, s.client_name, i.text, clock_timestamp(), i.idem FROM i JOIN s ON s.of_client = i.client_id ORDER BY i.n
       ON CONFLICT (chat_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *, NULL::timestamptz AS read_at),
     o AS (
       INSERT INTO outbox (event_id, event, chat_id, form, data, subject, node_id)
       SELECT i.event_id, 'chatMessageCreated', m.chat_id, 'message_ref', jsonb_build_object('id', m.id), ${SUBJECT}, $2
         FROM m JOIN i ON i.id = m.id JOIN s ON s.id = m.session_id ORDER BY m.seq RETURNING id, event_id, event, created_at)
     SELECT m.*, s.id AS s_id, s.status AS s_status, s.operator_id AS s_operator_id, s.client_id AS s_client_id,
            s.group_id AS s_group_id, s.client_typing_until AS s_client_typing_until, o.id AS outbox_id, o.created_at AS outbox_at, i.n
       FROM m JOIN i ON i.id = m.id JOIN s ON s.id = m.session_id JOIN o ON o.event_id = i.event_id`

/** The statements compared, each as a function of a batch of messages. */
const statements = {
  baseline: (db, items) => {
    const input = items.map((m, n) => ({ n, id: m.id, client_id: m.clientId, text: m.text, event_id: m.eventId, idem: null }))
    return db.query(BASELINE, [JSON.stringify(input), 'bench'])
  },
  current: (db, items) => insertClientMessagesInOpenSessions(db, items, { nodeId: 'bench', oweWebhooks: false }),
}

async function measure(kind, open) {
  const { db, drop } = await openScratchDatabase(kind, { dist: DIST, databaseUrl: DATABASE_URL, name: 'batch' })
  try {
    await migrate(db)
    await db.query(`INSERT INTO clients (id, chat_id, name, channel, token_hash) SELECT 'c' || g, 'chat' || g, 'Client ' || g, 'widget', 't' || g FROM generate_series(1, ${open}) g`)
    await db.query(`INSERT INTO sessions (id, chat_id, client_id, status) SELECT 's' || g, 'chat' || g, 'c' || g, 'queued' FROM generate_series(1, ${open}) g`)
    await db.query('VACUUM ANALYZE')
    let next = 0
    const batch = (size) => Array.from({ length: size }, () => ({ id: randomUUID(), clientId: `c${(next++ % open) + 1}`, text: `hello, a question about order ${next}`, eventId: randomUUID() }))
    const rows = []
    for (const size of BATCHES) {
      const ms = { baseline: [], current: [] }
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, run] of Object.entries(statements)) {
          for (let i = 0; i < 20; i++) await run(db, batch(size)) // plans cached, generic once chosen
          const t0 = performance.now()
          for (let i = 0; i < RUNS; i++) {
            const written = await run(db, batch(size))
            if (written.filter(Boolean).length !== size) throw new Error(`${name} wrote ${written.filter(Boolean).length} of ${size}`)
          }
          ms[name].push((performance.now() - t0) / RUNS)
        }
      }
      const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
      rows.push({ database: kind, openSessions: open, batch: size, baselineMs: median(ms.baseline), currentMs: median(ms.current), rounds: ms })
    }
    return rows
  } finally {
    await drop()
  }
}

const kinds = ['PGlite', ...(DATABASE_URL ? ['PostgreSQL'] : [])]
const results = []
for (const kind of kinds) for (const open of OPEN) results.push(...(await measure(kind, open)))

const f = (x, d = 2) => x.toFixed(d)
console.log(`${RUNS} statements per batch size and statement, ${ROUNDS} rounds taking turns; median of the rounds' mean ms per statement\n`)
console.log('| database | open sessions | batch | baseline ms | current ms | current / baseline |')
console.log('|---|---|---|---|---|---|')
for (const r of results) console.log(`| ${r.database} | ${r.openSessions} | ${r.batch} | ${f(r.baselineMs)} | ${f(r.currentMs)} | ${f(r.currentMs / r.baselineMs)} |`)
const out = join(here, 'results', `${new Date().toISOString().replace(/:/g, '-').replace(/\..*/, 'Z')}-batched-messages.json`)
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), environment: await environment(root), settings: { open: OPEN, batches: BATCHES, runs: RUNS, rounds: ROUNDS }, results }, null, 2))
console.log(`\nwrote ${out}`)

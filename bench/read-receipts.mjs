/**
 * `node bench/read-receipts.mjs [--chats=20000] [--per-chat=10] [--reads=4000] [--dist=<dist>]`: what marking messages
 * read costs, and leaves behind, with receipts in their own table (migration 020) against the baseline, receipts as a
 * column of the message (the schema up to migration 019 and its UPDATE, run here as it was). On livedesk's PGlite
 * (relaxed, on disk) and, with TEST_DATABASE_URL or BENCH_DATABASE_URL, on PostgreSQL; from dist/ (`npm run build`).
 * Each database gets `chats` chats of `per-chat` client messages, written chat by chat as they arrive, and analysed;
 * then `reads` operators' reads, in no order of the chats, each mark one chat's messages read, one transaction each. Reported: ms per read (wall,
 * and this process's CPU), the message rows the reads updated and left dead, what a VACUUM of `messages` then takes
 * (on PGlite it stops the node), and the sizes. Baseline and receipts alternate by database, in one process.
 * Prints the table and writes results/<date>-read-receipts.json.
 */
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { environment } from './lib/environment.mjs'
import { openScratchDatabase } from './lib/scratch-database.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=').slice(1).join('=')
const CHATS = Number(arg('chats') ?? 20_000)
const PER_CHAT = Number(arg('per-chat') ?? 10)
const READS = Math.min(Number(arg('reads') ?? 4_000), CHATS)
const DIST = arg('dist') ?? join(root, 'dist')
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL

const load = (path) => import(pathToFileURL(join(DIST, path)).href)
const { migrate } = await load('store/migrate.js')
const { MIGRATIONS } = await load('store/migrations/index.js')
const { markRead } = await load('store/chat.js')

/** The baseline: migration 020's predecessor, a receipt as `messages.read_at` set by this statement. */
const RECEIPT_COLUMN = MIGRATIONS.filter((m) => m.id < 20)
async function markReadInColumn(db, where) {
  return db.query(
    `UPDATE messages SET read_at = clock_timestamp()
      WHERE session_id = $1 AND seq <= $2 AND author_type = 'client' AND NOT internal AND read_at IS NULL RETURNING id, seq, read_at`,
    [where.value, where.uptoSeq],
  )
}

const variants = [
  { name: 'receipt column (before 020)', migrations: RECEIPT_COLUMN, read: markReadInColumn },
  { name: 'receipt rows (020)', migrations: MIGRATIONS, read: markRead },
]

async function measure(kind, variant) {
  const { db, drop } = await openScratchDatabase(kind, { dist: DIST, databaseUrl: DATABASE_URL, name: 'reads' })
  try {
    await migrate(db, variant.migrations)
    await db.query(`INSERT INTO operators (id, name, max_chats) SELECT 'op' || g, 'Operator ' || g, 1000 FROM generate_series(1, 100) g`)
    await db.query(`INSERT INTO clients (id, chat_id, name, channel, token_hash) SELECT 'c' || g, 'chat' || g, 'Client ' || g, 'widget', 't' || g FROM generate_series(1, ${CHATS}) g`)
    await db.query(`INSERT INTO sessions (id, chat_id, client_id, status, operator_id) SELECT 's' || g, 'chat' || g, 'c' || g, 'assigned', 'op' || (g % 100 + 1) FROM generate_series(1, ${CHATS}) g`)
    // chat by chat: a chat's messages share pages, as messages of a conversation written minutes apart mostly do
    const chat = `(g - 1) / ${PER_CHAT} + 1`
    await db.query(`INSERT INTO messages (id, session_id, chat_id, author_type, author_id, text)
      SELECT 'm' || g, 's' || ${chat}, 'chat' || ${chat}, 'client', 'c' || ${chat}, 'hello, I have a question about my order number ' || g
        FROM generate_series(1, ${CHATS * PER_CHAT}) g`)
    await db.query('VACUUM ANALYZE')
    const latest = await db.query(`SELECT session_id, max(seq) AS seq FROM messages GROUP BY session_id ORDER BY md5(session_id) LIMIT ${READS}`)
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    for (const s of latest) await db.transaction((tx) => variant.read(tx, { column: 'session_id', value: s.session_id, uptoSeq: Number(s.seq), by: 'operator' }))
    const ms = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    await db.query('SELECT pg_stat_force_next_flush()')
    const [stats] = await db.query(`SELECT n_tup_upd, n_tup_hot_upd, n_dead_tup FROM pg_stat_user_tables WHERE relname = 'messages'`)
    const v0 = performance.now()
    await db.query('VACUUM messages')
    const vacuumMs = performance.now() - v0
    const [size] = await db.query(`SELECT pg_total_relation_size('messages') AS messages, coalesce(pg_total_relation_size(to_regclass('message_reads')), 0) AS receipts`)
    return {
      database: kind,
      variant: variant.name,
      msPerRead: ms / READS,
      cpuMsPerRead: (cpu.user + cpu.system) / 1000 / READS,
      messagesUpdated: Number(stats.n_tup_upd),
      hotUpdates: Number(stats.n_tup_hot_upd),
      deadMessageRows: Number(stats.n_dead_tup),
      vacuumMessagesMs: vacuumMs,
      messagesMb: Number(size.messages) / 1e6,
      receiptsMb: Number(size.receipts) / 1e6,
    }
  } finally {
    await drop()
  }
}

const kinds = ['PGlite', ...(DATABASE_URL ? ['PostgreSQL'] : [])]
const results = []
for (const kind of kinds) for (const variant of variants) results.push(await measure(kind, variant))

const f = (x, d = 2) => x.toFixed(d)
console.log(`${CHATS} chats × ${PER_CHAT} client messages; ${READS} reads of a chat's messages, one transaction each\n`)
console.log('| database | receipts | ms/read | CPU ms/read (this process) | message rows updated (HOT) | dead message rows | VACUUM messages ms | messages MB + receipts MB |')
console.log('|---|---|---|---|---|---|---|---|')
for (const r of results) {
  console.log(`| ${r.database} | ${r.variant} | ${f(r.msPerRead)} | ${f(r.cpuMsPerRead)} | ${r.messagesUpdated} (${r.hotUpdates}) | ${r.deadMessageRows} | ${f(r.vacuumMessagesMs, 0)} | ${f(r.messagesMb, 1)} + ${f(r.receiptsMb, 1)} |`)
}
console.log('')
for (const kind of kinds) {
  const [base, rows] = variants.map((v) => results.find((r) => r.database === kind && r.variant === v.name))
  console.log(`${kind}: receipt rows / receipt column: ms per read ${f(rows.msPerRead / base.msPerRead)}, VACUUM of messages ${f(rows.vacuumMessagesMs / base.vacuumMessagesMs)}`)
}
const out = join(here, 'results', `${new Date().toISOString().replace(/:/g, '-').replace(/\..*/, 'Z')}-read-receipts.json`)
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), environment: await environment(root), settings: { chats: CHATS, perChat: PER_CHAT, reads: READS }, results }, null, 2))
console.log(`\nwrote ${out}`)

/**
 * `node bench/pglite-durability.mjs [--seconds=3] [--rounds=3] [--dir=<parent>] [--dist=<dist>]`: what PGLITE_DURABILITY=fsync
 * costs against 'relaxed' (PGlite's own: nothing flushed), on livedesk's PGlite from dist/ (`npm run build` first).
 * Measured in one process, the two settings alternating round by round so that a drift of the machine hits both:
 *  - commits/s of one-statement commits (an INSERT of a ~200 B message row: a client's message in an open
 *    session is one statement), one after the other as PGlite runs them (one connection);
 *  - commits/s of the ceiling's transaction (BEGIN; read a client; read its session; INSERT; COMMIT);
 *  - fsyncs that reached the disk per commit, and the time to create a new database and to open it again;
 *  - the disk's own rate of 8 KB write + fsync in the same directory, for reference.
 * Prints the table and writes results/<date>-pglite-durability.json.
 */
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { environment } from './lib/environment.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=').slice(1).join('=')
const SECONDS = Number(arg('seconds') ?? 3)
const ROUNDS = Number(arg('rounds') ?? 3)
const PARENT = arg('dir') ?? tmpdir()
const SETTINGS = ['relaxed', 'fsync']

const DIST = arg('dist') ?? join(root, 'dist')
const { openPglite } = await import(pathToFileURL(join(DIST, 'store', 'pglite.js')).href)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Runs `step` back to back for SECONDS: steps per second and the fsyncs per step. */
async function rate(db, step) {
  const fsyncs0 = db.stats.fsyncs ?? 0
  const end = performance.now() + SECONDS * 1000
  const started = performance.now()
  let n = 0
  while (performance.now() < end) await step(n++)
  return { perSec: (n * 1000) / (performance.now() - started), fsyncsPerCommit: ((db.stats.fsyncs ?? 0) - fsyncs0) / n }
}

async function round(durability) {
  const dir = mkdtempSync(join(PARENT, `livedesk-bench-durability-${durability}-`))
  try {
    const t0 = performance.now()
    let db = await openPglite(join(dir, 'pglite'), { durability })
    const createMs = performance.now() - t0
    await db.query(`CREATE TABLE clients (id int PRIMARY KEY, chat_id int NOT NULL)`)
    await db.query(`CREATE TABLE sessions (id int PRIMARY KEY, chat_id int NOT NULL, status text NOT NULL)`)
    await db.query(`CREATE TABLE messages (id bigserial PRIMARY KEY, chat_id int NOT NULL, text text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`)
    await db.query(`CREATE INDEX ON messages (chat_id, id)`)
    await db.query(`INSERT INTO clients SELECT i, i FROM generate_series(1, 400) i`)
    await db.query(`INSERT INTO sessions SELECT i, i, 'assigned' FROM generate_series(1, 400) i`)
    const text = 'x'.repeat(200)
    const single = await rate(db, (i) => db.query(`INSERT INTO messages (chat_id, text) VALUES ($1, $2)`, [(i % 400) + 1, text]))
    const transaction = await rate(db, (i) =>
      db.transaction(async (tx) => {
        const [client] = await tx.query(`SELECT chat_id FROM clients WHERE id = $1`, [(i % 400) + 1])
        await tx.query(`SELECT id FROM sessions WHERE chat_id = $1 AND status = 'assigned'`, [client.chat_id])
        await tx.query(`INSERT INTO messages (chat_id, text) VALUES ($1, $2)`, [client.chat_id, text])
      }),
    )
    const [settings] = await db.query(
      `SELECT current_setting('fsync') AS fsync, current_setting('wal_sync_method') AS wal_sync_method, current_setting('synchronous_commit') AS synchronous_commit, current_setting('full_page_writes') AS full_page_writes`,
    )
    await db.close()
    const t1 = performance.now()
    db = await openPglite(join(dir, 'pglite'), { durability })
    const reopenMs = performance.now() - t1
    await db.close()
    return { durability, createMs, reopenMs, single, transaction, settings }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** 8 KB appended and fsynced, back to back for SECONDS: what one flush costs this disk. */
function diskFsyncsPerSec() {
  const dir = mkdtempSync(join(PARENT, 'livedesk-bench-disk-'))
  const fd = openSync(join(dir, 'wal'), 'w')
  const block = Buffer.alloc(8192, 1)
  try {
    const end = performance.now() + SECONDS * 1000
    const started = performance.now()
    let n = 0
    for (; performance.now() < end; n++) {
      writeSync(fd, block)
      fsyncSync(fd)
    }
    return (n * 1000) / (performance.now() - started)
  } finally {
    closeSync(fd)
    rmSync(dir, { recursive: true, force: true })
  }
}

const rounds = []
for (let r = 0; r < ROUNDS; r++) {
  for (const durability of r % 2 === 0 ? SETTINGS : [...SETTINGS].reverse()) {
    const result = await round(durability)
    rounds.push(result)
    console.log(
      `round ${r + 1} ${durability.padEnd(7)}: ${result.single.perSec.toFixed(0)} single-statement commits/s ` +
        `(${result.single.fsyncsPerCommit.toFixed(2)} fsyncs each), ${result.transaction.perSec.toFixed(0)} transactions/s, ` +
        `create ${result.createMs.toFixed(0)} ms, reopen ${result.reopenMs.toFixed(0)} ms`,
    )
  }
}
const disk = diskFsyncsPerSec()

const summary = Object.fromEntries(
  SETTINGS.map((s) => {
    const mine = rounds.filter((r) => r.durability === s)
    return [s, {
      singleCommitsPerSec: median(mine.map((r) => r.single.perSec)),
      transactionsPerSec: median(mine.map((r) => r.transaction.perSec)),
      fsyncsPerCommit: median(mine.map((r) => r.single.fsyncsPerCommit)),
      createMs: median(mine.map((r) => r.createMs)),
      reopenMs: median(mine.map((r) => r.reopenMs)),
      settings: mine[0].settings,
    }]
  }),
)
const ratio = {
  single: summary.fsync.singleCommitsPerSec / summary.relaxed.singleCommitsPerSec,
  transaction: summary.fsync.transactionsPerSec / summary.relaxed.transactionsPerSec,
}
const row = (label, a, b, digits = 0) => `| ${label} | ${a.toFixed(digits)} | ${b.toFixed(digits)} | ${(b / a).toFixed(2)} |`
const table = [
  `| median of ${ROUNDS} rounds, ${SECONDS} s windows | relaxed | fsync | fsync / relaxed |`,
  '|---|---|---|---|',
  row('one-statement commits/s', summary.relaxed.singleCommitsPerSec, summary.fsync.singleCommitsPerSec),
  row('transactions/s (BEGIN, 2 reads, INSERT, COMMIT)', summary.relaxed.transactionsPerSec, summary.fsync.transactionsPerSec),
  `| fsyncs per one-statement commit | ${summary.relaxed.fsyncsPerCommit.toFixed(2)} | ${summary.fsync.fsyncsPerCommit.toFixed(2)} | – |`,
  row('create a new database, ms', summary.relaxed.createMs, summary.fsync.createMs),
  row('open it again, ms', summary.relaxed.reopenMs, summary.fsync.reopenMs),
].join('\n')
console.log(`\n${table}\n\ndisk: ${disk.toFixed(0)} fsyncs/s of 8 KB appends in ${PARENT}`)
console.log(`settings: relaxed ${JSON.stringify(summary.relaxed.settings)}, fsync ${JSON.stringify(summary.fsync.settings)}`)

const date = new Date().toISOString()
const outDir = join(here, 'results')
mkdirSync(outDir, { recursive: true })
const file = join(outDir, `${date.replace(/[:.]/g, '-').slice(0, 19)}Z-pglite-durability.json`)
writeFileSync(file, JSON.stringify({ date, environment: environment(root), dir: PARENT, seconds: SECONDS, rounds, summary, ratio, diskFsyncsPerSec: disk, table }, null, 2) + '\n')
console.log(`wrote ${file}`)

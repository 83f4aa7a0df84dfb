/**
 * The ceiling contender of `npm run bench:domain`: the transaction shape of a client message in an open
 * session, straight against the database, with no HTTP, no events, no locks of livedesk's own:
 *   BEGIN; read the client; read its open session; insert the message; COMMIT
 * from `workers` concurrent async workers in a closed loop (PGlite: one connection, so its transactions take
 * turns; PostgreSQL: livedesk's own pool through `openDb`). The schema is livedesk's, made by `openDb` (its
 * migrations) in a fresh database: PostgreSQL from `databaseUrl`, else PGlite in `dataDir` of this process.
 * argv[2] is JSON: { dist, databaseUrl?, dataDir, operators, clients, workers, warmupMs, windowMs, pgliteDurability? }.
 * Replies `ready`, then `result { txPerSec, txMs, statementsPerTx, ... }`; closes and exits on `close`.
 */
import { randomUUID, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const o = JSON.parse(process.argv[2])
const send = (msg) => process.send?.(msg)
process.on('disconnect', () => process.exit(0))

try {
  const { openDb } = await import(pathToFileURL(join(o.dist, 'store', 'index.js')).href)
  // The durability of the scenarios measured against it (bench/domain.mjs, CEILINGS).
  const db = await openDb({ databaseUrl: o.databaseUrl, dataDir: o.dataDir, pgliteDurability: o.pgliteDurability })
  // 400 clients, each with an open session assigned to one of 20 operators, as livedesk's scenario sets up.
  const clients = []
  await db.transaction(async (tx) => {
    const operators = []
    for (let i = 0; i < o.operators; i++) {
      const id = randomUUID()
      await tx.query(`INSERT INTO operators (id, name, max_chats) VALUES ($1, $2, $3)`, [id, `Operator ${i + 1}`, o.clients])
      operators.push(id)
    }
    for (let i = 0; i < o.clients; i++) {
      const c = { id: randomUUID(), chatId: randomUUID() }
      await tx.query(`INSERT INTO clients (id, chat_id, name, channel, token_hash) VALUES ($1, $2, $3, 'widget', $4)`, [
        c.id, c.chatId, `Client ${i + 1}`, randomBytes(32).toString('hex'),
      ])
      await tx.query(
        `INSERT INTO sessions (id, chat_id, client_id, status, operator_id, operator_assigned_at) VALUES ($1, $2, $3, 'assigned', $4, now())`,
        [randomUUID(), c.chatId, c.id, operators[i % operators.length]],
      )
      clients.push(c)
    }
  })

  /** One client message in an open session: the shape livedesk's `POST /clients/:id/messages` has at its core. */
  const message = (clientId, text) =>
    db.transaction(async (tx) => {
      const [client] = await tx.query(`SELECT id, name, chat_id FROM clients WHERE id = $1`, [clientId])
      const [session] = await tx.query(`SELECT id, chat_id, client_id, status, operator_id FROM sessions WHERE chat_id = $1 AND status <> 'closed'`, [
        client.chat_id,
      ])
      await tx.query(
        `INSERT INTO messages (id, session_id, chat_id, author_type, author_id, author_name, text, created_at)
         VALUES ($1, $2, $3, 'client', $4, $5, $6, clock_timestamp())`,
        [randomUUID(), session.id, session.chat_id, client.id, client.name, text],
      )
    })

  send({ type: 'ready' })
  let next = 0
  let measuring = false
  let stop = false
  let done = 0
  const times = []
  const worker = async () => {
    while (!stop) {
      const c = clients[next++ % clients.length]
      const t = performance.now()
      await message(c.id, `ceiling ${next}`)
      if (measuring) {
        done++
        times.push(performance.now() - t)
      }
      // PGlite answers in-process: without a turn of the event loop the timers that end the window never fire.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  const workers = Array.from({ length: o.workers }, worker)
  await new Promise((resolve) => setTimeout(resolve, o.warmupMs))
  const before = { ...db.stats }
  const t0 = performance.now()
  measuring = true
  await new Promise((resolve) => setTimeout(resolve, o.windowMs))
  measuring = false
  const elapsed = performance.now() - t0
  const after = { ...db.stats }
  stop = true
  await Promise.all(workers)
  times.sort((a, b) => a - b)
  const q = (p) => (times.length ? Math.round(times[Math.min(times.length - 1, Math.floor(p * times.length))] * 100) / 100 : null)
  const dStatements = (after.statements ?? NaN) - (before.statements ?? NaN)
  const dTransactions = (after.transactions ?? NaN) - (before.transactions ?? NaN)
  send({
    type: 'result',
    workers: o.workers,
    transactions: done,
    windowMs: elapsed,
    txPerSec: (done * 1000) / elapsed,
    txMs: { p50Ms: q(0.5), p99Ms: q(0.99), maxMs: q(1) },
    statementsPerTx: dTransactions > 0 ? dStatements / dTransactions : null,
  })
  // The connections stay open until the harness has read their backends' CPU time.
  process.on('message', async (msg) => {
    if (msg.type !== 'close') return
    await db.close().catch(() => {})
    process.exit(0)
  })
} catch (err) {
  send({ type: 'error', message: `ceiling: ${err?.stack ?? err}` })
  process.exit(1)
}

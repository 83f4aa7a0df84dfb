/**
 * The baseline of `bench/low-rate-cost.mjs`: the least a server can do for livedesk's message path. An HTTP POST
 * with a JSON body becomes one INSERT … RETURNING on PostgreSQL, and the row goes back as the HTTP response and as
 * a WebSocket frame to the one listener. No framework, no validation, no outbox: what is left is the platform's cost
 * of a request (sockets, wake-ups, V8, the pg driver). Started by the harness over IPC: `listening`, then `cpu`.
 */
import http from 'node:http'
import pg from 'pg'
import { WebSocketServer } from 'ws'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
const table = `low_rate_${process.pid}`
await pool.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, client_id text NOT NULL, text text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`)
const INSERT = `INSERT INTO ${table} (client_id, text) VALUES ($1, $2) RETURNING id, client_id, text, created_at`

let handled = 0
let listener
const server = http.createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (chunk) => { body += chunk })
  req.on('end', async () => {
    const { text } = JSON.parse(body)
    const { rows } = await pool.query(INSERT, [req.url.slice(1), text])
    const json = JSON.stringify({ event: 'chatMessageCreated', message: rows[0] })
    handled++
    res.writeHead(201, { 'content-type': 'application/json' }).end(json)
    listener?.send(json)
  })
})
new WebSocketServer({ server }).on('connection', (ws) => { listener = ws })
server.listen(0, '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }))

const cpuMicros = () => { const u = process.cpuUsage(); return u.user + u.system }
process.on('message', async (msg) => {
  if (msg.type === 'cpu') process.send({ type: 'cpu', micros: cpuMicros(), handled })
  if (msg.type === 'close') { await pool.query(`DROP TABLE ${table}`).catch(() => {}); process.exit(0) }
})

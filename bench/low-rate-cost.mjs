/**
 * `node bench/low-rate-cost.mjs [--rates=150,300,1000,2000] [--rounds=2] [--window=10]`: why half the maximum is not
 * half the load. CPU per message of livedesk's node against the least a server can do for the same path
 * (`low-rate/server.mjs`: HTTP POST → one INSERT on PostgreSQL → HTTP response and a WebSocket frame), at the same
 * fixed rates, on the same cores (server on core 0; load, PostgreSQL on core 1), rounds alternating.
 * livedesk is measured by `bench/domain.mjs --scenarios=pg` at each rate (one node, PostgreSQL, memory broker): its
 * node's CPU over the step, less what the node spends idle (measured before the step), per message answered.
 * The baseline: the server's CPU over the window per request answered (it does nothing when idle).
 * Needs TEST_DATABASE_URL or BENCH_DATABASE_URL. Writes results/<date>-low-rate-cost.json and .md.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { environment } from './lib/environment.mjs'
import { spawnPinned, startArgs } from './lib/proc.mjs'
import { median } from './lib/ratios.mjs'
import { pinServices } from './domain/pin-services.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=').slice(1).join('=')
const RATES = (arg('rates') ?? '150,300,1000,2000').split(',').map(Number)
const ROUNDS = Number(arg('rounds') ?? 2)
const WINDOW_S = Number(arg('window') ?? 10)
const WARMUP_S = 8
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL
if (!DATABASE_URL) throw new Error('set TEST_DATABASE_URL or BENCH_DATABASE_URL to a PostgreSQL database')
const SERVER_CORE = 0
const LOAD_CORE = 1
spawnSync('taskset', ['-p', '-c', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' })
const log = (...a) => console.log(`[bench:low-rate ${new Date().toISOString().slice(11, 19)}]`, ...a)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** livedesk's node options, as `npm start` and bench:domain run a pinned node. */
const START_ARGS = startArgs(root)

/** The baseline at `rate`: µs of server CPU per request over a window after a warm-up. */
async function baseline(rate) {
  const server = spawnPinned(join(here, 'low-rate', 'server.mjs'), { cpu: SERVER_CORE, nodeArgs: [...START_ARGS, '--single-threaded-gc'], env: { DATABASE_URL } })
  try {
    const { port } = await server.expect('listening', 30_000)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
    let received = 0
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`)
    ws.on('message', () => { received++ })
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    let failed = 0
    const post = (i) => new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/client-${i % 400}`, agent, headers: { 'content-type': 'application/json' } }, (res) => {
        if (res.statusCode !== 201) failed++
        res.resume().on('end', resolve)
      })
      req.on('error', () => { failed++; resolve() })
      req.end(JSON.stringify({ text: `message ${i}` }))
    })
    /** Open loop: sends on schedule whatever the answers do; resolves when every answer is in. */
    const run = async (seconds) => {
      const t0 = performance.now()
      const pending = []
      let sent = 0
      while (performance.now() - t0 < seconds * 1000) {
        const due = Math.floor(((performance.now() - t0) / 1000) * rate)
        while (sent < due) pending.push(post(sent++))
        await sleep(1)
      }
      await Promise.all(pending)
      return sent
    }
    await run(WARMUP_S)
    const a = await server.request({ type: 'cpu' }, 'cpu')
    const sent = await run(WINDOW_S)
    const b = await server.request({ type: 'cpu' }, 'cpu')
    const deadline = performance.now() + 5_000
    while (received < b.handled && performance.now() < deadline) await sleep(10)
    ws.close()
    agent.destroy()
    if (failed > 0 || received < b.handled) throw new Error(`baseline at ${rate}/s: ${failed} failed, ${b.handled - received} frames missing`)
    return { rate, requests: b.handled - a.handled, sent, cpuMicrosPerRequest: (b.micros - a.micros) / (b.handled - a.handled), cpuFraction: (b.micros - a.micros) / (WINDOW_S * 1e6) }
  } finally {
    await server.stop()
  }
}

/** livedesk at `rate`: bench:domain's fixed-rate step on one node with PostgreSQL, net of the node's idle CPU. */
function livedesk(rate) {
  const out = mkdtempSync(join(tmpdir(), 'livedesk-low-rate-'))
  try {
    execFileSync(process.execPath, [join(here, 'domain.mjs'), '--scenarios=pg', `--start-rate=${rate}`, '--max-steps=1', '--refine=0', '--no-ceiling', `--window=${WINDOW_S}`, `--out=${out}`, `--database-url=${DATABASE_URL}`], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 })
    const file = readdirSync(out).find((f) => f.endsWith('-domain.json'))
    const sc = JSON.parse(readFileSync(join(out, file), 'utf8')).scenarios.pg
    const st = sc.steps.find((s) => s.kind === 'ramp')
    if (!st || st.lost > 0 || st.errors > 0) throw new Error(`livedesk at ${rate}/s: no clean step (${JSON.stringify(st?.reasons)})`)
    const idle = sc.idle.serverCpuFraction
    return {
      rate,
      requests: st.ok,
      cpuMicrosPerRequest: st.serverCpuMsPerMessage * 1000 * (1 - idle / st.serverCpuFraction),
      cpuFraction: st.serverCpuFraction,
      idleCpuFraction: idle,
      deliveryP99Ms: st.deliveryMs?.p99Ms ?? null,
      statementsPerMessage: st.statementsPerMessageNet,
    }
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}

const runs = { baseline: [], livedesk: [] }
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 ? [...RATES].reverse() : RATES
  for (const rate of order) {
    // bench:domain pins PostgreSQL for its run and restores it at exit: pinned here for the baseline's.
    const pinned = await pinServices({ databaseUrl: DATABASE_URL, core: LOAD_CORE })
    const b = await baseline(rate).finally(pinned.restore)
    log(`round ${round + 1}, ${rate}/s: baseline ${b.cpuMicrosPerRequest.toFixed(0)} µs/request (${(b.cpuFraction * 100).toFixed(0)}% of a core)`)
    runs.baseline.push(b)
    const l = livedesk(rate)
    log(`round ${round + 1}, ${rate}/s: livedesk ${l.cpuMicrosPerRequest.toFixed(0)} µs/message net of idle ${(l.idleCpuFraction * 100).toFixed(1)}% (${(l.cpuFraction * 100).toFixed(0)}% of a core, ${l.statementsPerMessage?.toFixed(2)} statements/message)`)
    runs.livedesk.push(l)
  }
}
const top = Math.max(...RATES)
const at = (list, rate) => median(list.filter((r) => r.rate === rate).map((r) => r.cpuMicrosPerRequest))
const rows = RATES.map((rate) => {
  const b = at(runs.baseline, rate)
  const l = at(runs.livedesk, rate)
  return { rate, baselineMicros: b, livedeskMicros: l, livedeskOverBaseline: l / b, baselineOverTop: b / at(runs.baseline, top), livedeskOverTop: l / at(runs.livedesk, top) }
})
const env = environment(root)
const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
const md = [
  `# CPU per message at low and high rates: livedesk against a minimal server (${stamp})`,
  '',
  `${env.machine}; Node ${env.node}; livedesk ${env.livedeskCommit}. Server on core ${SERVER_CORE}, load and PostgreSQL on core ${LOAD_CORE} (PostgreSQL with the settings of TEST_DATABASE_URL's server); ${ROUNDS} rounds, ${WINDOW_S} s windows, medians.`,
  '',
  `| rate/s | minimal server µs/request | livedesk µs/message (net of idle) | livedesk / minimal | minimal / itself at ${top}/s | livedesk / itself at ${top}/s |`,
  '|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.rate} | ${r.baselineMicros.toFixed(0)} | ${r.livedeskMicros.toFixed(0)} | ${r.livedeskOverBaseline.toFixed(2)} | ${r.baselineOverTop.toFixed(2)} | ${r.livedeskOverTop.toFixed(2)} |`),
  '',
].join('\n')
const base = join(here, 'results', `${stamp}-low-rate-cost`)
writeFileSync(`${base}.json`, JSON.stringify({ stamp, environment: env, rates: RATES, rounds: ROUNDS, windowS: WINDOW_S, rows, runs }, null, 2))
writeFileSync(`${base}.md`, md)
console.log('\n' + md)
log(`wrote ${base}.json and .md`)
process.exit(0)

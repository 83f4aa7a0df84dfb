#!/usr/bin/env node
/**
 * The embedded default's footprint: `node dist/main.js` with no DATABASE_URL (PGlite in DATA_DIR), measured as
 * a user meets it. For a fresh DATA_DIR and then the same, existing one: cold start (spawn to the first
 * `/health` 200) and the CPU it took (with finished child processes such as an initdb: a figure the machine's
 * load does not inflate), peak RSS while starting (VmHWM), and idle RSS after `--idle` seconds without traffic.
 *
 *   node bench/footprint.mjs [--dist <dir>] [--runs 3] [--idle 10] [--label name] [--env K=V ...]
 *
 * `--dist` measures another build the same way (a baseline: `git worktree` of an older commit, `npm ci`,
 * `npm run build`). Results go to bench/results/<time>-footprint[-label].{json,md}.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { environment } from './lib/environment.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

function parseArgs(argv) {
  const args = { dist: join(ROOT, 'dist'), runs: 3, idle: 10, label: '', env: {} }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${flag} needs a value`)
      return v
    }
    if (flag === '--dist') args.dist = resolve(value())
    else if (flag === '--runs') args.runs = Number(value())
    else if (flag === '--idle') args.idle = Number(value())
    else if (flag === '--label') args.label = value()
    else if (flag === '--env') {
      const [k, ...v] = value().split('=')
      args.env[k] = v.join('=')
    } else throw new Error(`unknown option ${flag}`)
  }
  if (!(args.runs >= 1 && args.runs <= 20)) throw new Error('--runs must be 1..20')
  if (!(args.idle >= 0 && args.idle <= 300)) throw new Error('--idle must be 0..300 seconds')
  return args
}

const freePort = () =>
  new Promise((resolvePort, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolvePort(port))
    })
    server.on('error', reject)
  })

/** CPU time of a process and of its finished children (PGlite's initdb), in ms: a start's cost whatever the load. */
function cpuMsOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  // utime, stime, cutime, cstime are fields 14-17 of stat; 12-15 after pid and comm are cut.
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) * 10
}

/** VmRSS and VmHWM (peak) of a process, in MB. */
function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** One start of the server in `dataDir`: cold start, peak while starting, idle RSS. */
async function measureStart(dist, dataDir, idleSec, extraEnv) {
  const port = await freePort()
  const started = performance.now()
  const child = spawn(process.execPath, [join(dist, 'main.js')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', API_KEY: 'footprint', LOG_LEVEL: 'warn', ...extraEnv },
  })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  let exited = false
  child.on('exit', () => (exited = true))
  const stopChild = () => {
    child.kill('SIGKILL')
    process.exit(130)
  }
  process.once('SIGTERM', stopChild).once('SIGINT', stopChild)
  try {
    let startMs
    // Polls /health every 10 ms for at most 120 s.
    for (let i = 0; i < 12_000 && startMs === undefined; i++) {
      if (exited) throw new Error(`server exited while starting: ${stderr.slice(-2000)}`)
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)
      if (ok) startMs = performance.now() - started
      else await sleep(10)
    }
    if (startMs === undefined) throw new Error('no /health OK within 120 s')
    const atReady = memoryOf(child.pid)
    const cpuMs = cpuMsOf(child.pid)
    const load1 = loadavg()[0]
    await sleep(idleSec * 1000)
    const idle = memoryOf(child.pid)
    return { startMs: Math.round(startMs), cpuMs, load1: round(load1), rssAtReadyMb: round(atReady.rssMb), idleRssMb: round(idle.rssMb), peakRssMb: round(idle.peakMb) }
  } finally {
    child.kill('SIGTERM')
    // A clean stop (checkpoint, lock released) before the next start on the same DATA_DIR; SIGKILL after 10 s.
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    if (!exited) await new Promise((r) => child.once('exit', r))
    clearTimeout(killer)
    process.off('SIGTERM', stopChild).off('SIGINT', stopChild)
  }
}

const round = (n) => Math.round(n * 10) / 10
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const runs = []
  for (let i = 0; i < args.runs; i++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'livedesk-footprint-'))
    try {
      const fresh = await measureStart(args.dist, dataDir, args.idle, args.env)
      const existing = await measureStart(args.dist, dataDir, args.idle, args.env)
      runs.push({ fresh, existing })
      console.error(`run ${i + 1}/${args.runs}: fresh ${JSON.stringify(fresh)} existing ${JSON.stringify(existing)}`)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
  const summary = {}
  for (const kind of ['fresh', 'existing']) {
    summary[kind] = {}
    for (const key of ['startMs', 'cpuMs', 'load1', 'rssAtReadyMb', 'idleRssMb', 'peakRssMb']) summary[kind][key] = round(median(runs.map((r) => r[kind][key])))
  }
  const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z')
  const name = `${stamp}-footprint${args.label ? `-${args.label}` : ''}`
  const result = { dist: args.dist, idleSec: args.idle, env: args.env, environment: environment(ROOT), summary, runs }
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
  writeFileSync(join(ROOT, 'bench', 'results', `${name}.json`), JSON.stringify(result, null, 2) + '\n')
  const md = [
    `# Footprint of the embedded default (${name})`,
    '',
    `Build: \`${args.dist}\`; ${args.runs} runs, medians; idle RSS after ${args.idle} s.${Object.keys(args.env).length ? ` Env: ${JSON.stringify(args.env)}.` : ''}`,
    `Machine: ${result.environment.machine}, Node ${result.environment.node}, commit ${result.environment.livedeskCommit}.`,
    '',
    '| DATA_DIR | cold start to /health | CPU to /health | load (1 min) | RSS at ready | idle RSS | peak RSS |',
    '|---|---|---|---|---|---|---|',
    ...['fresh', 'existing'].map((k) => `| ${k} | ${(summary[k].startMs / 1000).toFixed(2)} s | ${(summary[k].cpuMs / 1000).toFixed(2)} s | ${summary[k].load1} | ${summary[k].rssAtReadyMb} MB | ${summary[k].idleRssMb} MB | ${summary[k].peakRssMb} MB |`),
    '',
  ].join('\n')
  writeFileSync(join(ROOT, 'bench', 'results', `${name}.md`), md)
  console.log(md)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

/** Child processes of the harness: pinned spawns with an IPC channel, /proc readings, and guaranteed cleanup. */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'

const CLK_TCK = 100 // Linux USER_HZ; /proc/<pid>/stat counts CPU time in these ticks
const PAGE_KB = 4

const children = new Set()

/** The node options `npm start` gives livedesk (package.json in `root`), so that a bench runs nodes as started for real. */
export function startArgs(root) {
  const start = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start
  return start.split(/\s+/).slice(1).filter((word) => word.startsWith('--'))
}

/** Kills every live child; safe to call more than once. */
export function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })
}
process.on('exit', killAll)

/**
 * Starts `node <script>` pinned to `cpu` with `taskset` (which execs, so the pid is node's) and an IPC channel.
 * Returns a handle whose `request` sends a message and resolves with the first reply of `replyType`.
 */
export function spawnPinned(script, { cpu, args = [], nodeArgs = [], env = {} }) {
  const taskset = cpu === undefined ? [] : ['taskset', '-c', String(cpu)]
  const argv = [...taskset, process.execPath, ...nodeArgs, script, ...args]
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
  const waiters = []
  const unclaimed = [] // messages that arrived before anyone waited for them
  let failure
  child.on('message', (msg) => {
    const i = waiters.findIndex((w) => w.type === msg.type)
    if (i >= 0) waiters.splice(i, 1)[0].resolve(msg)
    else if (msg.type === 'error') {
      failure = new Error(msg.message)
      for (const w of waiters.splice(0)) w.reject(failure)
    } else unclaimed.push(msg)
  })
  child.on('exit', (code, signal) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`${script} exited (${code ?? signal}) while waiting for ${w.type}`))
  })
  /** Waits for a message of `type`, failing after `timeoutMs`. */
  const expect = (type, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      const i = unclaimed.findIndex((m) => m.type === type)
      if (i >= 0) return resolve(unclaimed.splice(i, 1)[0])
      if (failure) return reject(failure)
      const timer = setTimeout(() => {
        const i = waiters.indexOf(waiter)
        if (i >= 0) waiters.splice(i, 1)
        reject(new Error(`${script}: no ${type} within ${timeoutMs} ms`))
      }, timeoutMs)
      const waiter = {
        type,
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      }
      waiters.push(waiter)
    })
  return {
    child,
    get pid() {
      return child.pid
    },
    expect,
    send: (msg) => child.send(msg),
    request(msg, replyType, timeoutMs) {
      const reply = expect(replyType, timeoutMs)
      child.send(msg)
      return reply
    },
    async stop(timeoutMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return
      try {
        child.send({ type: 'close' })
      } catch {}
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      await once(child, 'exit')
      clearTimeout(timer)
    },
  }
}

/** CPU time (user + system) of a process in microseconds. */
export function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLK_TCK
}

/** Resident set size of a process in KB. */
export function rssKb(pid) {
  const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')
  return Number(statm[1]) * PAGE_KB
}

/** Busy time of each CPU in microseconds (all of /proc/stat's `cpuN` fields but idle and iowait). */
export function busyMicrosPerCpu() {
  const out = []
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line)
    if (!m) continue
    const v = m[2].trim().split(/\s+/).map(Number)
    const busy = v.reduce((a, b) => a + b, 0) - v[3] - v[4] - (v[8] ?? 0) - (v[9] ?? 0) // guest time is already in user
    out[Number(m[1])] = (busy * 1_000_000) / CLK_TCK
  }
  return out
}

/**
 * Samples CPU use of several processes over an interval: returns { elapsedMicros, [pid]: { cpuMicros, fraction },
 * cpus: [busy fraction per CPU] } so a window can show what else ran on the pinned cores.
 */
export function cpuMeter(pids) {
  const start = process.hrtime.bigint()
  const before = Object.fromEntries(pids.map((pid) => [pid, cpuMicros(pid)]))
  const busyBefore = busyMicrosPerCpu()
  return () => {
    const elapsedMicros = Number(process.hrtime.bigint() - start) / 1000
    const busyAfter = busyMicrosPerCpu()
    const out = { elapsedMicros, cpus: busyAfter.map((b, i) => (b - busyBefore[i]) / elapsedMicros) }
    for (const pid of pids) {
      const used = cpuMicros(pid) - before[pid]
      out[pid] = { cpuMicros: used, fraction: used / elapsedMicros }
    }
    return out
  }
}

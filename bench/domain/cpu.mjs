/**
 * CPU of a step, split into ours and foreign. Ours: the livedesk nodes (or the ceiling) and the load generator,
 * plus the PostgreSQL backends serving this scenario's database (their process title names it) and Redis; the
 * box is shared, and whatever else ran meanwhile is "foreign": a step with more than a quarter of a core of it
 * is marked disturbed. PostgreSQL backends come and go, so they are found again at the end of the step.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { busyMicrosPerCpu, cpuMicros } from '../lib/proc.mjs'

const read = (path) => {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return null
  }
}

/** Pids of the PostgreSQL backends connected to `database` and of redis-server. */
function servicePids(database) {
  const pids = { postgres: [], redis: [] }
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const comm = read(`/proc/${name}/comm`)?.trim()
    if (comm === 'redis-server') pids.redis.push(Number(name))
    else if (database && comm === 'postgres') {
      const title = read(`/proc/${name}/cmdline`)?.replaceAll('\0', ' ') ?? ''
      if (title.includes(` ${database} `)) pids.postgres.push(Number(name))
    }
  }
  return pids
}

const cpuOf = (pid) => {
  try {
    return cpuMicros(pid)
  } catch {
    return null // exited
  }
}

/** Starts a meter over `pids` (ours) and the services of `database`; the returned function ends it. */
export function stepMeter(pids, database) {
  const t0 = process.hrtime.bigint()
  const busy0 = busyMicrosPerCpu()
  const own0 = new Map(pids.map((pid) => [pid, cpuOf(pid) ?? 0]))
  const services0 = servicePids(database)
  const svc0 = new Map([...services0.postgres, ...services0.redis].map((pid) => [pid, cpuOf(pid) ?? 0]))
  return () => {
    const elapsedMicros = Number(process.hrtime.bigint() - t0) / 1000
    const busy = busyMicrosPerCpu().map((b, i) => b - busy0[i])
    const own = Object.fromEntries(pids.map((pid) => [pid, (cpuOf(pid) ?? own0.get(pid)) - own0.get(pid)]))
    const services1 = servicePids(database)
    const used = (list) => list.reduce((a, pid) => a + Math.max(0, (cpuOf(pid) ?? 0) - (svc0.get(pid) ?? 0)), 0)
    const postgres = used(services1.postgres)
    const redis = used(services1.redis)
    const ours = Object.values(own).reduce((a, b) => a + b, 0) + postgres + redis
    const total = busy.reduce((a, b) => a + b, 0)
    return {
      elapsedMicros,
      own,
      postgresFraction: postgres / elapsedMicros,
      redisFraction: redis / elapsedMicros,
      busy: busy.map((b) => b / elapsedMicros),
      foreignFraction: Math.max(0, (total - ours) / elapsedMicros),
    }
  }
}

/**
 * Keeps PostgreSQL and Redis off the application core for `npm run bench:domain`: a node (or the ceiling) and the
 * database stand for machines of their own, but on a shared box an unpinned PostgreSQL backend is scheduled onto the
 * node's core now and then, and the node waits its turn (event-loop gaps of 100–400 ms with the node idle in the
 * profile). Pins the server processes found on this machine to `core` with `taskset -a` (new backends inherit it
 * from the postmaster) and gives back the affinity each had when the run ends. A service on another machine, or one
 * this user may not pin, is left as it is and reported.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import pg from 'pg'

const read = (path) => {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return null
  }
}
/** Field 4 of /proc/<pid>/stat (after the parenthesised command name). */
const parentOf = (pid) => Number(read(`/proc/${pid}/stat`)?.split(') ')[1]?.split(' ')[1] ?? NaN)
const childrenOf = (pid) => readdirSync('/proc').filter((n) => /^\d+$/.test(n) && parentOf(n) === pid).map(Number)

const affinity = (pid) => /: ([0-9a-f]+)\s*$/.exec(spawnSync('taskset', ['-p', String(pid)], { encoding: 'utf8' }).stdout ?? '')?.[1]
const setAffinity = (pid, args) => spawnSync('taskset', ['-a', '-p', ...args, String(pid)], { stdio: 'ignore' }).status === 0

/** The postmaster of the server at `url`, when it runs on this machine (its backend is a child of it here). */
async function postmasterPid(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 })
  await client.connect()
  try {
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid')
    const backend = rows[0].pid
    if (read(`/proc/${backend}/comm`)?.trim() !== 'postgres') return null
    const parent = parentOf(backend)
    return read(`/proc/${parent}/comm`)?.trim() === 'postgres' ? parent : null
  } finally {
    await client.end().catch(() => {})
  }
}

async function redisPid(url) {
  const { Redis } = await import('ioredis')
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 1, retryStrategy: () => null })
  redis.on('error', () => {})
  try {
    await redis.connect()
    const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1])
    return read(`/proc/${pid}/comm`)?.trim() === 'redis-server' ? pid : null
  } finally {
    redis.disconnect()
  }
}

/**
 * Pins the local PostgreSQL (postmaster and every process under it) and Redis to `core`. Returns what was pinned
 * ({ postgres, redis }: true, or why not) and `restore()`, synchronous so that it can run in an exit handler.
 */
export async function pinServices({ databaseUrl, redisUrl, core }) {
  const before = new Map()
  const pin = (pid) => {
    const mask = affinity(pid)
    if (!mask || !setAffinity(pid, ['-c', String(core)])) return false
    before.set(pid, mask)
    return true
  }
  const result = { postgres: 'not used', redis: 'not used' }
  if (databaseUrl) {
    const pid = await postmasterPid(databaseUrl).catch(() => null)
    if (!pid) result.postgres = 'not on this machine'
    // A backend that ended between the listing and its pinning is no refusal (new ones inherit the postmaster's mask).
    else result.postgres = (pin(pid) && childrenOf(pid).every((child) => pin(child) || !existsSync(`/proc/${child}`))) || 'taskset refused'
  }
  if (redisUrl) {
    const pid = await redisPid(redisUrl).catch(() => null)
    result.redis = !pid ? 'not on this machine' : pin(pid) || 'taskset refused'
  }
  const restore = () => {
    for (const [pid, mask] of before) setAffinity(pid, [mask])
    before.clear()
  }
  return { ...result, restore }
}

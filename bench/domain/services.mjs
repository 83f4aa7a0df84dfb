/**
 * PostgreSQL and Redis for `npm run bench:domain`: is the service there, a fresh database per scenario and
 * its removal, a run's Redis keys removed. Run directly (`node services.mjs cleanup '<json>'`) it is the
 * detached cleanup the harness leaves behind when it is interrupted.
 */
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import pg from 'pg'

const withTimeout = (promise, ms, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms).unref())])

/** The server's version string, or throws when it does not answer. */
export async function postgresVersion(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 })
  try {
    await withTimeout(client.connect(), 4_000, 'PostgreSQL')
    const { rows } = await client.query('SELECT version() AS v, current_setting($1) AS fsync, current_setting($2) AS sc', ['fsync', 'synchronous_commit'])
    return { version: rows[0].v, fsync: rows[0].fsync, synchronousCommit: rows[0].sc }
  } finally {
    await client.end().catch(() => {})
  }
}

/** `url` with its database replaced by `name`. */
export function databaseUrl(url, name) {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

async function admin(url, fn) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

/** Creates `livedesk_bench_<random><suffix>` on the server of `url`; returns { name, url }. */
export async function createDatabase(url, suffix = '') {
  const name = `livedesk_bench_${randomBytes(5).toString('hex')}${suffix}`
  await admin(url, (c) => c.query(`CREATE DATABASE ${name}`))
  return { name, url: databaseUrl(url, name) }
}

export async function dropDatabase(url, name) {
  if (!/^livedesk_bench_[a-z0-9_]+$/.test(name)) throw new Error(`refusing to drop ${name}`)
  await admin(url, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
}

async function redisClient(url) {
  const { Redis } = await import('ioredis')
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 1, retryStrategy: () => null })
  redis.on('error', () => {})
  await withTimeout(redis.connect(), 4_000, 'Redis')
  return redis
}

/** The server's version, or throws when it does not answer. */
export async function redisVersion(url) {
  const redis = await redisClient(url)
  try {
    const info = await redis.info('server')
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
  } finally {
    redis.disconnect()
  }
}

/** Deletes every key starting with `prefix` (the run's own, unique prefix). */
export async function deleteRedisKeys(url, prefix) {
  if (!prefix || prefix.length < 8) throw new Error(`refusing to delete keys of prefix "${prefix}"`)
  const redis = await redisClient(url)
  let deleted = 0
  try {
    let cursor = '0'
    for (let i = 0; i < 100_000; i++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length) deleted += await redis.unlink(...keys)
      cursor = next
      if (cursor === '0') break
    }
  } finally {
    redis.disconnect()
  }
  return deleted
}

/** { databaseUrl, databases: [name], redisUrl, redisPrefix }: everything best effort. */
export async function cleanup({ databaseUrl: url, databases = [], redisUrl, redisPrefix }) {
  for (const name of databases) await dropDatabase(url, name).catch((err) => console.error(`bench:domain: dropping ${name}: ${err.message}`))
  if (redisUrl && redisPrefix) await deleteRedisKeys(redisUrl, redisPrefix).catch((err) => console.error(`bench:domain: Redis keys ${redisPrefix}*: ${err.message}`))
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'cleanup') {
  await cleanup(JSON.parse(process.argv[3]))
  process.exit(0)
}

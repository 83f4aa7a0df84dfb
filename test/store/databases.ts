/** Test databases: a temp PGlite directory, or a fresh database on TEST_DATABASE_URL that is dropped afterwards. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

export interface TestDatabase {
  /** For openDb / startLivedesk: `databaseUrl` is set for PostgreSQL, absent for PGlite. */
  databaseUrl?: string
  dataDir: string
  drop(): Promise<void>
}

export async function tempPglite(): Promise<TestDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), 'livedesk-store-'))
  return { dataDir, drop: () => rm(dataDir, { recursive: true, force: true }) }
}

/**
 * Whether a PostgreSQL server is reachable; when it is not, logs why the caller skips, and throws
 * when LIVEDESK_REQUIRE_SERVICES=1 so CI fails instead of skipping.
 */
export async function postgresAvailable(): Promise<boolean> {
  const url = process.env.TEST_DATABASE_URL
  const fail = (why: string) => {
    if (process.env.LIVEDESK_REQUIRE_SERVICES === '1') throw new Error(`PostgreSQL required: ${why}`)
    console.warn(`SKIPPED PostgreSQL tests: ${why}`)
    return false
  }
  if (!url) return fail('TEST_DATABASE_URL is not set')
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch (err) {
    return fail(`${url} unreachable (${(err as Error).message})`)
  } finally {
    await client.end().catch(() => {})
  }
}

/** A new empty database `livedesk_test_<random>` on the TEST_DATABASE_URL server. */
export async function tempPostgres(): Promise<TestDatabase> {
  const admin = new URL(process.env.TEST_DATABASE_URL!)
  const name = `livedesk_test_${Math.random().toString(36).slice(2, 10)}`
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin.toString() })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await run(`CREATE DATABASE ${name}`)
  const url = new URL(admin.toString())
  url.pathname = `/${name}`
  const dataDir = await mkdtemp(join(tmpdir(), 'livedesk-store-'))
  return {
    databaseUrl: url.toString(),
    dataDir,
    async drop() {
      await run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

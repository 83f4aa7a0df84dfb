/** Two livedesk nodes in this process on two ports, sharing Redis and a fresh PostgreSQL database. */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import type { LivedeskOptions } from '../../src/main.js'

export interface Cluster {
  a: TestLivedesk
  b: TestLivedesk
  close(): Promise<void>
}

export const unique = (what: string) => `${what}-${randomBytes(4).toString('hex')}`

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

export async function startCluster(redisUrl: string, adminDatabaseUrl: string, options: LivedeskOptions = {}): Promise<Cluster> {
  const name = `livedesk_multinode_${randomBytes(4).toString('hex')}`
  await adminQuery(adminDatabaseUrl, `CREATE DATABASE ${name}`)
  const url = new URL(adminDatabaseUrl)
  url.pathname = `/${name}`
  const drop = () => adminQuery(adminDatabaseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  try {
    // Both at once, as a deployment starts them: migrations must not trip over each other.
    const [a, b] = await Promise.all(['node-a', 'node-b'].map((nodeId) =>
      startTestLivedesk({ ...options, redisUrl, databaseUrl: url.toString(), realtime: { ...options.realtime, nodeId } }),
    ))
    return {
      a: a!,
      b: b!,
      async close() {
        await Promise.all([a!.close(), b!.close()])
        await drop()
      },
    }
  } catch (err) {
    await drop().catch(() => {})
    throw err
  }
}

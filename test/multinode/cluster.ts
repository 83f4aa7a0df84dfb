/** Livedesk nodes in this process on their own ports, sharing Redis and a fresh PostgreSQL database. */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import type { LivedeskOptions } from '../../src/main.js'

export interface Cluster {
  a: TestLivedesk
  b: TestLivedesk
  close(): Promise<void>
}

export interface Nodes {
  nodes: TestLivedesk[]
  /** The shared database's URL, for tests that look at it directly. */
  databaseUrl: string
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

/** `count` nodes (`node-0`, `node-1`, …) on one new database and one Redis. */
export async function startNodes(redisUrl: string, adminDatabaseUrl: string, count: number, options: LivedeskOptions = {}, names?: string[]): Promise<Nodes> {
  const name = `livedesk_multinode_${randomBytes(4).toString('hex')}`
  await adminQuery(adminDatabaseUrl, `CREATE DATABASE ${name}`)
  const url = new URL(adminDatabaseUrl)
  url.pathname = `/${name}`
  const databaseUrl = url.toString()
  const drop = () => adminQuery(adminDatabaseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  const nodeIds = names ?? Array.from({ length: count }, (_, i) => `node-${i}`)
  // All at once, as a deployment starts them: migrations must not trip over each other.
  const started = await Promise.allSettled(
    nodeIds.map((nodeId) => startTestLivedesk({ ...options, redisUrl, databaseUrl, realtime: { ...options.realtime, nodeId } })),
  )
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed) {
    await Promise.allSettled(nodes.map((n) => n.close()))
    await drop().catch(() => {})
    throw failed.reason
  }
  return {
    nodes,
    databaseUrl,
    async close() {
      await Promise.allSettled(nodes.map((n) => n.close()))
      await drop()
    },
  }
}

/** Two nodes, `node-a` and `node-b`. */
export async function startCluster(redisUrl: string, adminDatabaseUrl: string, options: LivedeskOptions = {}): Promise<Cluster> {
  const { nodes, close } = await startNodes(redisUrl, adminDatabaseUrl, 2, options, ['node-a', 'node-b'])
  return { a: nodes[0]!, b: nodes[1]!, close }
}

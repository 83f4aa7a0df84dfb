/**
 * 50 clients write at once while 10 operators connect and accept from the queue: no session is assigned
 * twice, no operator goes over maxChats, no message is lost or duplicated. On PGlite, and on PostgreSQL
 * (real concurrent transactions, chats locked one by one) when TEST_DATABASE_URL is reachable. The same scenario
 * runs over two and three nodes in test/multinode/concurrency.test.ts.
 */
import { describe, it } from 'vitest'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { postgresAvailable, tempPostgres } from '../store/databases.js'
import { CLIENTS, OPERATORS, writeWhileAccepting } from '../helpers/concurrency.js'
import type { Console } from './e2e.js'

const pgUp = await postgresAvailable()

async function run(databaseUrl?: string) {
  const l = await startTestLivedesk({ databaseUrl })
  const consoles: Console[] = []
  try {
    await writeWhileAccepting([l], consoles)
  } finally {
    for (const c of consoles) c.close()
    await l.close()
  }
}

describe('concurrency', () => {
  it(`${CLIENTS} clients write while ${OPERATORS} operators accept (PGlite)`, async () => {
    await run()
  }, 60_000)

  it.skipIf(!pgUp)(`${CLIENTS} clients write while ${OPERATORS} operators accept (PostgreSQL)`, async () => {
    const db = await tempPostgres()
    try {
      await run(db.databaseUrl)
    } finally {
      await db.drop()
    }
  }, 60_000)
})

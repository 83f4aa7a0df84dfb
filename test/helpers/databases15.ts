/** Issue 15's suites run on PGlite and on PostgreSQL: one real livedesk per database, with short availability timers. */
import { afterAll, beforeAll, describe } from 'vitest'
import type { LivedeskOptions } from '../../src/main.js'
import { postgresAvailable, tempPostgres, type TestDatabase } from '../store/databases.js'
import { connect, ok, type Console } from '../http/e2e.js'
import { startTestLivedesk, type TestLivedesk } from './livedesk.js'

const pgUp = await postgresAvailable()

export interface Env {
  l: TestLivedesk
  consoles: Console[]
  /** A connected console, closed after the suite. */
  console(token: string): Promise<Console>
}

/** Declares `body` once per database; `env()` is the running server of that run. */
export function onEveryDatabase(suite: string, options: LivedeskOptions, body: (env: () => Env) => void): void {
  for (const kind of ['PGlite', 'PostgreSQL'] as const) {
    const run = kind === 'PostgreSQL' && !pgUp ? describe.skip : describe
    run(`${suite} (${kind})`, () => {
      let current: Env
      let db: TestDatabase | undefined
      beforeAll(async () => {
        db = kind === 'PostgreSQL' ? await tempPostgres() : undefined
        const l = await startTestLivedesk({ ...options, databaseUrl: db?.databaseUrl })
        const consoles: Console[] = []
        current = {
          l,
          consoles,
          async console(token) {
            const c = await connect(l, 'notifications', token)
            consoles.push(c)
            return c
          },
        }
      }, 30_000)
      afterAll(async () => {
        current?.consoles.forEach((c) => c.close())
        await current?.l.close().catch(() => {})
        await db?.drop()
      }, 30_000)
      body(() => current)
    })
  }
}

/** An operator (optionally a supervisor) with a login token. */
export async function operatorWith(l: TestLivedesk, name: string, opts: { maxChats?: number; role?: 'operator' | 'supervisor' } = {}) {
  const op = await ok(l, 'POST', '/operators', { name, ...opts })
  const { token } = await ok(l, 'POST', `/operators/${op.id}/tokens`, {})
  return { id: op.id as string, name, token: token as string }
}

/** Waits until `probe` returns a truthy value (polling the API; bounded). */
export async function until<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (let i = 0; Date.now() < deadline; i++) {
    const v = await probe()
    if (v) return v
    await new Promise((r) => setTimeout(r, Math.min(25 * 2 ** i, 200)))
  }
  throw new Error('condition not met in time')
}

/**
 * The first start's PGlite cluster copied from a template (src/store/pglite-template.ts): the data directory it
 * makes has the same schema, settings and migrations table as one made by initdb and the migrations, holds data
 * across a reopen, and a template from another PGlite or with other migrations is not used.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDb, type Db } from '../../src/store/index.js'
import { migrate } from '../../src/store/migrate.js'
import { MIGRATIONS } from '../../src/store/migrations/index.js'
import { openPglite } from '../../src/store/pglite.js'
import { buildPgliteTemplate, clusterFromTemplate, templateProblem } from '../../src/store/pglite-template.js'

const root = mkdtempSync(join(tmpdir(), 'livedesk-template-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const path = (name: string) => join(root, name)

/** What a client of the database can see of it: tables, columns, indexes, constraints, functions, settings. */
async function catalog(db: Db) {
  const rows = (sql: string) => db.query<Record<string, unknown>>(sql)
  return {
    columns: await rows(`SELECT table_name, column_name, data_type, column_default, is_nullable FROM information_schema.columns
      WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`),
    indexes: await rows(`SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`),
    constraints: await rows(`SELECT conrelid::regclass::text AS rel, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
      WHERE connamespace = 'public'::regnamespace ORDER BY rel, conname`),
    functions: await rows(`SELECT proname, pg_get_function_identity_arguments(oid) AS args FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1, 2`),
    database: await rows(`SELECT datname, pg_encoding_to_char(encoding) AS encoding, datcollate, datctype FROM pg_database ORDER BY datname`),
    settings: await rows(`SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'fsync', 'wal_sync_method', 'shared_buffers', 'TimeZone', 'lc_messages') ORDER BY name`),
    migrations: await rows('SELECT id, name FROM schema_migrations ORDER BY id'),
  }
}

describe('PGlite template', () => {
  const full = path('template-full')
  let builtAt: number
  /** The reference: a data directory made by initdb and the migrations (no template). */
  let fromInitdb: Db

  beforeAll(async () => {
    builtAt = Date.now()
    // At once: each runs initdb in a child process.
    const [built, db] = await Promise.all([buildPgliteTemplate(full), openDb({ dataDir: path('data-initdb'), pgliteTemplate: path('no-such-template') })])
    expect(built).toBe(true)
    fromInitdb = db
  }, 120_000)
  afterAll(() => fromInitdb?.close())

  it('is rebuilt only when missing or stale', async () => {
    expect(templateProblem(full)).toBeUndefined()
    expect(await buildPgliteTemplate(full)).toBe(false)
    expect(templateProblem(path('no-such-template'))).toBe('missing')
  })

  it('makes a data directory like initdb and the migrations do, with its migrations applied at the first start', async () => {
    const startedAt = Date.now()
    const fromTemplate = await openDb({ dataDir: path('data-template'), pgliteTemplate: full })
    try {
      expect(await catalog(fromTemplate)).toEqual(await catalog(fromInitdb))
      expect((await catalog(fromTemplate)).migrations).toEqual(MIGRATIONS.map((m) => ({ id: m.id, name: m.name })))
      const applied = await fromTemplate.query<{ applied_at: Date }>('SELECT applied_at FROM schema_migrations')
      // The template was built before this test; its rows say when this data directory got them.
      for (const { applied_at } of applied) expect(new Date(applied_at).getTime()).toBeGreaterThanOrEqual(startedAt - 1_000)
      expect(startedAt).toBeGreaterThan(builtAt)
      await fromTemplate.query("INSERT INTO operators (id, name, max_chats) VALUES ('op-t', 'Tess', 3)")
    } finally {
      await fromTemplate.close()
    }
    // The copy carries no stamp or leftovers, and reopens as an existing cluster with its data.
    expect(existsSync(join(path('data-template'), 'pglite', 'stamp.json'))).toBe(false)
    const reopened = await openDb({ dataDir: path('data-template'), pgliteTemplate: full })
    try {
      expect(await reopened.query("SELECT name FROM operators WHERE id = 'op-t'")).toEqual([{ name: 'Tess' }])
    } finally {
      await reopened.close()
    }
  }, 120_000)

  it('serves a livedesk with newer migrations, which are applied on top', async () => {
    const newer = [...MIGRATIONS, { id: 999, name: 'newer', sql: 'CREATE TABLE newer_table (id integer PRIMARY KEY);\n' }]
    expect(templateProblem(full, newer)).toBeUndefined()
    const dir = join(path('data-newer'), 'pglite')
    // What a start interrupted in the middle of its copy left.
    mkdirSync(join(path('data-newer'), '.pglite.from-template', 'base'), { recursive: true })
    expect(await clusterFromTemplate(dir, 'fsync', full, newer)).toBe(true)
    expect(readdirSync(path('data-newer'))).toEqual(['pglite'])
    const db = await openPglite(dir)
    try {
      expect(await migrate(db, newer)).toEqual([999])
      expect((await catalog(db)).migrations).toEqual(newer.map((m) => ({ id: m.id, name: m.name })))
    } finally {
      await db.close()
    }
  }, 60_000)

  it('is not used when another PGlite made it or a migration changed since', async () => {
    const stale = path('template-stale')
    cpSync(full, stale, { recursive: true })
    const stampFile = join(stale, 'stamp.json')
    const stamp = JSON.parse(readFileSync(stampFile, 'utf8'))
    writeFileSync(stampFile, JSON.stringify({ ...stamp, pglite: '0.0.1' }))
    expect(templateProblem(stale)).toMatch(/made by PGlite 0\.0\.1, installed \d/)
    expect(await clusterFromTemplate(path('data-stale'), 'fsync', stale)).toBe(false)
    expect(existsSync(path('data-stale'))).toBe(false)

    const changed = MIGRATIONS.map((m, i) => (i === 1 ? { ...m, sql: `${m.sql}\n-- edited` } : m))
    expect(templateProblem(full, changed)).toBe(`migration ${MIGRATIONS[1]!.id} (${MIGRATIONS[1]!.name}) differs`)
    expect(templateProblem(full, MIGRATIONS.slice(0, 2))).toBe('migrations this livedesk does not have')
    expect(await clusterFromTemplate(path('data-changed'), 'fsync', full, changed)).toBe(false)
    // A rebuild replaces the stale template.
    expect(await buildPgliteTemplate(stale)).toBe(true)
    expect(templateProblem(stale)).toBeUndefined()
  }, 120_000)
})

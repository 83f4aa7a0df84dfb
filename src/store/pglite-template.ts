/**
 * A ready-made PGlite cluster for the first start. PGlite's initdb (run in a child process, src/store/pglite.ts)
 * and the migrations took most of a first start's 5 s; `npm run build` makes the cluster once instead
 * (`scripts/pglite-template.mjs`), with every migration applied, and a first start copies it into the empty
 * data directory: a copy, fsynced, then renamed into place, so a crash leaves either no cluster or a whole one.
 * A template is used only when it was made by the PGlite installed and its migrations are the first ones of this
 * livedesk, unchanged; otherwise the start runs initdb as before.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { cp, mkdir, open, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { migrate } from './migrate.js'
import { MIGRATIONS, type Migration } from './migrations/index.js'
import { openPglite } from './pglite.js'
import { fsyncTree, type PgliteDurability } from './pglite-durability.js'

/** Where `npm run build` puts the template: `dist/pglite-template` of this package (from src/ or dist/ alike). */
export const DEFAULT_PGLITE_TEMPLATE = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'pglite-template')
/** Bumped when the template's layout or the way it is made changes: older templates are rebuilt. */
const TEMPLATE_FORMAT = 1
const STAMP_FILE = 'stamp.json'
const CLUSTER_DIR = 'pgdata'

/** What a template was made with (`stamp.json` beside its cluster). */
export interface TemplateStamp {
  format: number
  /** The version of @electric-sql/pglite that ran initdb. */
  pglite: string
  /** The migrations applied, in order, each with the SHA-256 of its SQL. */
  migrations: { id: number; name: string; sha256: string }[]
  createdAt: string
}

/** The installed @electric-sql/pglite's version (its package.json, found upwards of its entry point). */
export function installedPgliteVersion(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'))
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const file = join(dir, 'package.json')
    if (!existsSync(file)) continue
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
    if (pkg.name === '@electric-sql/pglite' && pkg.version) return pkg.version
  }
  throw new Error('cannot find the version of @electric-sql/pglite')
}

const stampOf = (migrations: Migration[]): TemplateStamp => ({
  format: TEMPLATE_FORMAT,
  pglite: installedPgliteVersion(),
  migrations: migrations.map((m) => ({ id: m.id, name: m.name, sha256: createHash('sha256').update(m.sql).digest('hex') })),
  createdAt: new Date().toISOString(),
})

function readStamp(template: string): TemplateStamp | undefined {
  try {
    return JSON.parse(readFileSync(join(template, STAMP_FILE), 'utf8')) as TemplateStamp
  } catch {
    return undefined
  }
}

/**
 * Why the template cannot make a cluster for this livedesk, or undefined when it can: made by this PGlite, in this
 * format, its migrations the first of `migrations`, unchanged (the start applies the newer ones).
 */
export function templateProblem(template: string, migrations: Migration[] = MIGRATIONS): string | undefined {
  const stamp = readStamp(template)
  if (!stamp) return 'missing'
  if (!existsSync(join(template, CLUSTER_DIR, 'PG_VERSION'))) return 'no cluster'
  const wanted = stampOf(migrations)
  if (stamp.format !== wanted.format) return `format ${stamp.format}, not ${wanted.format}`
  if (stamp.pglite !== wanted.pglite) return `made by PGlite ${stamp.pglite}, installed ${wanted.pglite}`
  if (!Array.isArray(stamp.migrations) || stamp.migrations.length > wanted.migrations.length) return 'migrations this livedesk does not have'
  const changed = stamp.migrations.find((m, i) => JSON.stringify(m) !== JSON.stringify(wanted.migrations[i]))
  if (changed) return `migration ${changed.id} (${changed.name}) differs`
  return undefined
}

/** True when `template`'s migrations are all of `migrations`: nothing to rebuild. */
function templateComplete(template: string, migrations: Migration[]): boolean {
  return templateProblem(template, migrations) === undefined && readStamp(template)!.migrations.length === migrations.length
}

/**
 * Makes the template at `template` (initdb, then `migrations`), unless one made with the same PGlite and
 * migrations is there. Built beside it and renamed into place: a concurrent build or start never sees half of one.
 * Returns whether it built one.
 */
export async function buildPgliteTemplate(template = DEFAULT_PGLITE_TEMPLATE, migrations: Migration[] = MIGRATIONS): Promise<boolean> {
  if (templateComplete(template, migrations)) return false
  const building = `${template}.building-${process.pid}`
  await rm(building, { recursive: true, force: true })
  try {
    // Relaxed: the template is flushed by whoever copies it, with the durability of its data directory.
    const db = await openPglite(join(building, CLUSTER_DIR), { durability: 'relaxed' })
    try {
      await migrate(db, migrations)
    } finally {
      await db.close()
    }
    await writeFile(join(building, STAMP_FILE), JSON.stringify(stampOf(migrations), null, 2) + '\n')
    const old = `${template}.old-${process.pid}`
    if (existsSync(template)) await rename(template, old)
    await rename(building, template)
    await rm(old, { recursive: true, force: true })
    return true
  } finally {
    await rm(building, { recursive: true, force: true })
  }
}

/**
 * Creates the PGlite cluster `dir` (absent or empty) from the template; false, leaving `dir` alone, when the
 * template is missing or not for this livedesk (templateProblem). The copy is flushed (with 'fsync') before it
 * is renamed to `dir`, and the rename is flushed too. The caller holds the data directory (data-dir-lock.ts):
 * a copy an interrupted start left beside `dir` is removed.
 */
export async function clusterFromTemplate(dir: string, durability: PgliteDurability, template = DEFAULT_PGLITE_TEMPLATE, migrations: Migration[] = MIGRATIONS): Promise<boolean> {
  // A directory with anything in it (a cluster, or what an interrupted initdb left) is not this function's to replace.
  if (!isMissingOrEmpty(dir) || templateProblem(template, migrations) !== undefined) return false
  const parent = dirname(resolve(dir))
  await mkdir(parent, { recursive: true })
  const copy = join(parent, `.${basename(dir)}.from-template`)
  await rm(copy, { recursive: true, force: true })
  try {
    await cp(join(template, CLUSTER_DIR), copy, { recursive: true, errorOnExist: true, force: false })
    if (durability === 'fsync') await fsyncTree(copy)
    // rename(2) replaces an empty directory (openPglite may have made `dir` already).
    await rename(copy, dir)
    if (durability === 'fsync') await fsyncDir(parent)
    return true
  } finally {
    await rm(copy, { recursive: true, force: true })
  }
}

function isMissingOrEmpty(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw err
  }
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

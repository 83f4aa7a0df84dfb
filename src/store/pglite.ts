/** The embedded default: PGlite (PostgreSQL in WebAssembly) in one directory; one connection, transactions serialised. */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { PGlite, parse, protocol, type Transaction } from '@electric-sql/pglite'
import type { Db, DbStats } from './db.js'
import { PgliteMaintenance } from './pglite-maintenance.js'
import { copyBetweenStatements } from './pglite-snapshot.js'
import { DEFAULT_PGLITE_DURABILITY, fsyncTree, pgliteOptions, WalSync, type FsyncCounter, type PgliteDurability } from './pglite-durability.js'

/**
 * A freshly initialised cluster, dumped once per process: creating a new database from it takes a fraction
 * of PGlite's initdb (about 0.6 s against 2–4 s here), which matters to tests that start many servers.
 */
let freshCluster: Blob | undefined
/** A server opens one database; only a process that creates a second one keeps the dump (40 MB). */
let newDatabases = 0

/**
 * PostgreSQL memory settings for PGlite: its defaults (shared_buffers 128 MB, wal_buffers 4 MB) grow the WASM
 * memory, which never shrinks, to ~190 MB; with these it stays at its 128 MB minimum. livedesk's working set
 * (open chats, the outbox's tail) fits many times over; the OS page cache holds the rest of the files.
 */
export const PGLITE_MEMORY_PARAMS = ['-c', 'shared_buffers=16MB', '-c', 'wal_buffers=1MB', '-c', 'temp_buffers=2MB']

/**
 * Creates a new cluster in `dir` in a child process: PGlite's initdb takes the WASM memory to ~800 MB and it never
 * shrinks, so a server that ran initdb itself would keep that memory for its whole life (ESM text: runs from src/ too).
 */
async function initdbInChild(dir: string): Promise<void> {
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href
  const script = `const { PGlite } = await import(process.argv[1]); const pg = await PGlite.create({ dataDir: process.argv[2] }); await pg.close()`
  await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, entry, dir], { maxBuffer: 1 << 20 })
}

async function createPglite(dir: string | undefined, durability: PgliteDurability, counter: FsyncCounter, walSync: WalSync): Promise<PGlite> {
  const base = dir ? pgliteOptions(dir, durability, counter, walSync) : {}
  const options = { ...base, startParams: [...(base.startParams ?? PGlite.defaultStartParams), ...PGLITE_MEMORY_PARAMS] }
  if (dir && existsSync(join(dir, 'PG_VERSION'))) return PGlite.create(options)
  if (dir && !freshCluster) {
    await initdbInChild(dir)
    if (durability === 'fsync') await fsyncTree(dir)
    const pg = await PGlite.create(options)
    if (++newDatabases >= 2) freshCluster = await pg.dumpDataDir('none')
    return pg
  }
  const pg = await PGlite.create(freshCluster ? { ...options, loadDataDir: freshCluster } : options)
  if (!freshCluster && ++newDatabases >= 2) freshCluster = await pg.dumpDataDir('none')
  if (dir && durability === 'fsync') await fsyncTree(dir)
  return pg
}

/**
 * Each distinct SQL text with parameters becomes a named prepared statement, as on a PostgreSQL server
 * (src/store/postgres.ts), and one execution is one call into PGlite (Bind, Describe, Execute, Sync together).
 * `PGlite.query` parses and plans the text again on every call, in five calls into the WebAssembly: a client message
 * cost about 3 ms of CPU there, most of it parse and plan. Bounded: texts past the first MAX_NAMED run unnamed.
 */
const MAX_NAMED = 2_000

class PreparedStatements {
  private readonly named = new Map<string, { name: string; paramTypes: number[] }>()

  constructor(private readonly pg: PGlite) {}

  /** Runs `sql` with `params`; the caller holds PGlite's transaction lock (a transaction, or `runAlone`). */
  async run<T>(sql: string, params: unknown[], inTransaction: boolean): Promise<T[] | undefined> {
    return this.pg._runExclusiveQuery(async () => {
      let statement = this.named.get(sql)
      if (!statement) {
        if (this.named.size >= MAX_NAMED) return undefined
        const name = `ld${this.named.size}`
        const described = await this.exec([protocol.serialize.parse({ name, text: sql }), protocol.serialize.describe({ type: 'S', name }), protocol.serialize.sync()])
        statement = { name, paramTypes: parse.parseDescribeStatementResults(described) }
        this.named.set(sql, statement)
      }
      const types = statement.paramTypes
      const values = params.map((v, i) => (v === null || v === undefined ? null : (this.pg.serializers[types[i]!]?.(v) ?? String(v))))
      const messages = await this.exec([
        protocol.serialize.bind({ statement: statement.name, values }),
        protocol.serialize.describe({ type: 'P' }),
        protocol.serialize.execute({}),
        protocol.serialize.sync(),
      ])
      if (!inTransaction) await this.pg.syncToFs()
      return parse.parseResults(messages, this.pg.parsers)[0]?.rows as T[]
    })
  }

  /** Alone: holds the transaction lock, as `PGlite.query` does. */
  runAlone<T>(sql: string, params: unknown[]): Promise<T[] | undefined> {
    return this.pg._runExclusiveTransaction(() => this.run<T>(sql, params, false))
  }

  private exec(parts: Uint8Array[]) {
    const message = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of parts) message.set(p, (at += p.length) - p.length)
    return this.pg.execProtocolStream(message, { syncToFs: false })
  }
}

export interface OpenPgliteOptions {
  /** How commits reach the disk (src/store/pglite-durability.ts). @default 'fsync' */
  durability?: PgliteDurability
  /** How often tables past autovacuum's thresholds are vacuumed and analysed (src/store/pglite-maintenance.ts); 0: never. @default 60 000 */
  maintenanceIntervalMs?: number
}

export const DEFAULT_PGLITE_MAINTENANCE_INTERVAL_MS = 60_000

/** Opens (creating if needed) the PGlite database in `dir`; `dir` undefined keeps it in memory. */
export async function openPglite(dir?: string, options: OpenPgliteOptions = {}): Promise<Db> {
  if (dir) await mkdir(dir, { recursive: true })
  const durability = options.durability ?? DEFAULT_PGLITE_DURABILITY
  // fsyncs are counted, and WAL flushes timed (/metrics), only where they happen: on a disk, with 'fsync'.
  const flushes = dir !== undefined && durability === 'fsync'
  const stats: DbStats = flushes ? { statements: 0, transactions: 0, fsyncs: 0, walFlushesOnThread: 0 } : { statements: 0, transactions: 0 }
  const counter: FsyncCounter = flushes ? (stats as DbStats & FsyncCounter) : { fsyncs: 0 }
  const walSync = new WalSync(counter)
  const pg = await createPglite(dir, durability, counter, walSync)
  const prepared = new PreparedStatements(pg)
  // A result leaves the store once the WAL fsyncs asked for so far are done (WalSync); inside a transaction its
  // statements' results stay with the transaction's function, which makes no network call, until it commits.
  const durable = async <T>(result: Promise<T>): Promise<T> => {
    const value = await result
    await walSync.barrier()
    return value
  }
  const wrapTx = (tx: Transaction): Db => ({
    async query<T>(sql: string, params?: unknown[]) {
      stats.statements++
      return (params && (await prepared.run<T>(sql, params, true))) || (await tx.query<T>(sql, params as any[])).rows
    },
    // Nested transactions join the open one.
    transaction: (fn) => fn(wrapTx(tx)),
    close: async () => {},
    stats,
  })
  const db: Db = {
    async query<T>(sql: string, params?: unknown[]) {
      stats.statements++
      return durable((async () => (params && (await prepared.runAlone<T>(sql, params))) || (await pg.query<T>(sql, params as any[])).rows)())
    },
    transaction: (fn) => {
      stats.transactions++
      stats.statements += 2 // BEGIN and COMMIT (or ROLLBACK)
      return durable(pg.transaction((tx) => fn(wrapTx(tx))))
    },
    close: async () => {
      await maintenance.stop()
      await durable(pg.close()).finally(() => walSync.close())
    },
    stats,
    connections: 1,
    copyDataDir: dir ? (target) => copyBetweenStatements(pg, dir, target) : undefined,
  }
  const maintenance = new PgliteMaintenance(db, options.maintenanceIntervalMs ?? DEFAULT_PGLITE_MAINTENANCE_INTERVAL_MS, {
    onRun: (run) => stats.onMaintenance?.(run),
    onError: (err) => stats.onMaintenanceError?.(err),
  }).start()
  return db
}

/**
 * How PGlite's commits reach the disk on Node. PGlite starts PostgreSQL with fsync off (`-F`), and its Node
 * filesystem (emscripten's NODEFS) has no fsync: fsync() inside the WASM succeeds without doing anything and
 * fdatasync() is a no-op. A commit is written to the kernel (it survives the process being killed) but not
 * flushed to the disk (a power loss can lose it or tear the data files). PGlite's `relaxedDurability` option
 * does not change that: it only concerns the browser's IndexedDB sync, a no-op on NODEFS.
 *
 * 'fsync' gives NODEFS a real fsync and runs PostgreSQL with fsync=on and wal_sync_method=fsync (the only
 * method that reaches the new fsync): a commit returns once its WAL is on the disk, checkpoints flush the data
 * files before WAL is recycled, and crash recovery flushes the data directory first. The commit's WAL fsync runs
 * off the event loop, before the commit is acknowledged (WalSync). 'relaxed' is PGlite's own behaviour.
 */
import { closeSync, fsyncSync, fstatSync, openSync, readdirSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { dirname, join, sep } from 'node:path'
import { PGlite, type PGliteOptions } from '@electric-sql/pglite'
import { NodeFS } from '@electric-sql/pglite/nodefs'

export type PgliteDurability = 'fsync' | 'relaxed'
export const PGLITE_DURABILITIES: readonly PgliteDurability[] = ['fsync', 'relaxed']
export const DEFAULT_PGLITE_DURABILITY: PgliteDurability = 'fsync'

/** Reads PGLITE_DURABILITY; an unknown value stops the start with a message naming the variable. */
export function pgliteDurabilityOf(raw: string | undefined, name = 'PGLITE_DURABILITY'): PgliteDurability | undefined {
  if (raw === undefined || raw === '') return undefined
  if ((PGLITE_DURABILITIES as readonly string[]).includes(raw)) return raw as PgliteDurability
  throw new Error(`${name} must be one of ${PGLITE_DURABILITIES.join(', ')}, got "${raw}"`)
}

/** Counts the fsyncs PostgreSQL asked for that reached the disk. */
export interface FsyncCounter {
  fsyncs: number
  /** WAL flushes run on the event loop's thread, before a data-file write or fsync (WalSync.flushSync). */
  walFlushesOnThread?: number
  /** Told how long each WAL flush took, in seconds: every commit in flight waited that long (DbStats). */
  onWalFlush?: (seconds: number) => void
}

/**
 * The WAL fsyncs of commits, off the event loop. Asked for inside a statement, a WAL file's fsync is recorded and
 * runs on libuv's pool once the statement is out of PGlite; `barrier()` resolves when every fsync asked for so far
 * is done, and the store awaits it before it hands out any statement's result. So a commit is acknowledged only
 * once its WAL is on the disk, and a later statement that read what it wrote waits for that too: nothing derived
 * from a commit leaves the process first. Commits that end while a flush runs share the next one (group commit).
 * What PostgreSQL orders stays ordered: before a write to any other file (but one that only extends it with zeros),
 * and before any other fsync, the WAL fsyncs recorded or in flight run synchronously (WAL on the disk before the data
 * it covers). A failed fsync fails every statement from then on, as PostgreSQL's PANIC would.
 */
export class WalSync {
  /** WAL files whose fsync was asked for since the last flush began. */
  private recorded = new Set<string>()
  /** The files of the flush in flight. */
  private flushing: string[] = []
  /** The last flush begun (resolved when none ran yet). */
  private flushed: Promise<void> = Promise.resolve()
  /** The flush that will take what is recorded now, once the one in flight ends. */
  private next?: Promise<void>
  private failure?: Error
  /** WAL files kept open for their fsyncs (a segment takes thousands of commits): one pool task per fsync, not three. */
  private readonly open = new Map<string, Promise<FileHandle | undefined>>()

  constructor(private readonly counter: FsyncCounter) {}

  get pending(): boolean {
    return this.recorded.size > 0 || this.flushing.length > 0
  }

  record(path: string): void {
    this.recorded.add(path)
  }

  barrier(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.recorded.size === 0) return this.flushed
    this.next ??= this.flushed.then(() => {
      this.next = undefined
      return this.flush()
    })
    return this.next
  }

  /** Every WAL fsync recorded or in flight, now, on this thread. */
  flushSync(): void {
    const paths = new Set([...this.flushing, ...this.recorded])
    const started = performance.now()
    for (const path of paths) fsyncPath(path, true)
    this.counter.onWalFlush?.((performance.now() - started) / 1000)
    this.counter.fsyncs += this.recorded.size
    this.counter.walFlushesOnThread = (this.counter.walFlushesOnThread ?? 0) + 1
    this.recorded.clear()
  }

  private flush(): Promise<void> {
    const paths = [...this.recorded]
    this.recorded.clear()
    this.flushing = paths
    const started = performance.now()
    this.flushed = Promise.all(paths.map((path) => this.fsync(path))).then(
      () => {
        this.counter.onWalFlush?.((performance.now() - started) / 1000)
        this.counter.fsyncs += paths.length
        if (this.flushing === paths) this.flushing = []
      },
      (err: Error) => {
        this.failure = err
        throw err
      },
    )
    return this.flushed
  }

  /** A WAL file's fsync on the pool, through a handle kept open (any handle of a file flushes it, even renamed). */
  private async fsync(path: string): Promise<void> {
    let handle = this.open.get(path)
    if (!handle) {
      if (this.open.size >= OPEN_WAL_FILES) {
        const [oldest, closing] = this.open.entries().next().value!
        this.open.delete(oldest)
        void closing.then((h) => h?.close()).catch(() => {})
      }
      handle = open(path, 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined // recycled or removed: needs none
        throw err
      })
      this.open.set(path, handle)
      handle.catch(() => this.open.delete(path))
    }
    const file = await handle
    if (!file) {
      this.open.delete(path)
      return
    }
    await file.sync()
  }

  /** Closes the WAL files kept open. */
  async close(): Promise<void> {
    const handles = [...this.open.values()]
    this.open.clear()
    await Promise.all(handles.map((h) => h.then((f) => f?.close()).catch(() => {})))
  }
}

/** WAL files kept open at once by WalSync (the current segment and the one before it, with room to spare). */
const OPEN_WAL_FILES = 4

/** emscripten's NODEFS stream: `nfd` is the Node file descriptor behind it, if it opened one. */
interface NodefsStream {
  nfd?: number
  node: unknown
  /** Ours: whether it is a WAL file, worked out once. */
  livedeskWal?: boolean
}
interface NodefsType {
  stream_ops: {
    fsync?: (stream: NodefsStream) => void
    write: (stream: NodefsStream, buffer: Uint8Array, offset: number, length: number, position: number, ...rest: unknown[]) => number
  }
  tryFSOperation<T>(f: () => T): T
  realPath(node: unknown): string
}

/** PGlite's NodeFS whose fsync (files and directories) is Node's fsync; a failure reaches PostgreSQL as its errno. */
class FsyncNodeFS extends NodeFS {
  constructor(dataDir: string, private readonly counter: FsyncCounter, private readonly walSync: WalSync) {
    super(dataDir)
  }

  override async init(pg: PGlite, opts: Parameters<NodeFS['init']>[1]) {
    const { emscriptenOpts } = await super.init(pg, opts)
    const walDir = `${sep}pg_wal${sep}`
    const addFsync = (mod: { NODEFS: unknown }) => {
      const nodefs = mod.NODEFS as NodefsType
      const isWal = (stream: NodefsStream) => (stream.livedeskWal ??= nodefs.realPath(stream.node).includes(walDir))
      nodefs.stream_ops.fsync = (stream) => {
        if (isWal(stream)) return this.walSync.record(nodefs.realPath(stream.node))
        nodefs.tryFSOperation(() => {
          if (this.walSync.pending) this.walSync.flushSync()
          if (stream.nfd === undefined) fsyncPath(nodefs.realPath(stream.node))
          else fsyncSync(stream.nfd)
        })
        this.counter.fsyncs++
      }
      const write = nodefs.stream_ops.write
      nodefs.stream_ops.write = (stream, buffer, offset, length, position, ...rest) => {
        if (this.walSync.pending && !isWal(stream) && !extendsWithZeros(stream, buffer, offset, length, position)) {
          nodefs.tryFSOperation(() => this.walSync.flushSync())
        }
        return write(stream, buffer, offset, length, position, ...rest)
      }
    }
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), addFsync] } }
  }
}

const ZEROS = new Uint8Array(65_536)

/**
 * Whether a write only adds zeros at or past its file's end: PostgreSQL extending a table or an index with new empty
 * pages, which carry nothing of the WAL and need none of it on the disk first (PostgreSQL itself does not flush WAL to
 * extend). Under load these were every write to a data file while a WAL fsync was pending (376 of 378 in 45 s at
 * 332 messages/s), each a WAL flush on the event loop's thread, held up as long as the disk stalled.
 */
function extendsWithZeros(stream: NodefsStream, buffer: Uint8Array, offset: number, length: number, position: number): boolean {
  if (stream.nfd === undefined) return false
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset + offset, length)
  for (let at = 0; at < length; at += ZEROS.length) {
    const part = bytes.subarray(at, Math.min(length, at + ZEROS.length))
    if (Buffer.compare(part, ZEROS.subarray(0, part.length)) !== 0) return false
  }
  return position >= fstatSync(stream.nfd).size
}

/**
 * PGlite options for a database in `dir` with this durability. With 'fsync', WAL fsyncs are only recorded in
 * `walSync`: its owner must await `walSync.barrier()` before handing out any result (store/pglite.ts does).
 */
export function pgliteOptions(dir: string, durability: PgliteDurability, counter: FsyncCounter, walSync: WalSync): PGliteOptions {
  if (durability === 'relaxed') return { dataDir: dir }
  return {
    dataDir: dir,
    fs: new FsyncNodeFS(dir, counter, walSync),
    startParams: [
      ...PGlite.defaultStartParams.filter((p) => p !== '-F'),
      '-c', 'fsync=on',
      '-c', 'wal_sync_method=fsync',
      '-c', 'synchronous_commit=on',
      '-c', 'full_page_writes=on',
    ],
  }
}

/** fsyncs in flight at once while flushing a tree: the disk's journal commits concurrent ones together. */
const TREE_FSYNC_CONCURRENCY = 16

/**
 * Flushes every file and directory under `dir`, and `dir`'s own entry: a new cluster is written without
 * fsync (PGlite runs initdb in memory and unpacks the result), and checkpoints only flush what they wrote.
 * A new cluster's ~1000 files took 70–80 ms here this way, against 0.9–1.5 s one after another.
 */
export async function fsyncTree(dir: string): Promise<void> {
  const paths: string[] = []
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(path, entry.name))
      else if (entry.isFile()) paths.push(join(path, entry.name))
    }
    paths.push(path)
  }
  walk(dir)
  paths.push(dirname(dir))
  let next = 0
  const worker = async () => {
    while (next < paths.length) {
      const file = await open(paths[next++]!, 'r')
      try {
        await file.sync()
      } finally {
        await file.close()
      }
    }
  }
  await Promise.all(Array.from({ length: TREE_FSYNC_CONCURRENCY }, worker))
}

/**
 * fsync of a file or directory by its path (a directory's fsync makes the entries in it durable). `goneIsDone`: a
 * WAL file recycled or removed since (a checkpoint made it unneeded, flushing what it covered first) needs none.
 */
function fsyncPath(path: string, goneIsDone = false): void {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    if (goneIsDone && (err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

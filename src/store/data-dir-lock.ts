/**
 * One livedesk process per data directory. The holder listens on a Unix socket in the directory
 * (`DATA_DIR/livedesk.lock`) and answers each connection with its pid. The kernel closes the socket when the
 * process dies, SIGKILL included, so a socket that refuses connections is a leftover and is taken over, and one
 * that accepts belongs to a live process, whatever its pid namespace (containers sharing a volume).
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, linkSync, mkdirSync, renameSync, unlinkSync } from 'node:fs'
import { createConnection, createServer, type Server } from 'node:net'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'

/** The lock socket's name inside the data directory. */
export const LOCK_NAME = 'livedesk.lock'
/** sun_path is 108 bytes on Linux and 104 on macOS, the terminating NUL included. */
const MAX_SOCKET_PATH = 103
/** How long a probe waits for the holder to say who it is; a socket that accepted is alive either way. */
const PROBE_TIMEOUT_MS = 2_000
/** Attempts to listen: each failed one found a leftover and removed it, or saw the socket change under it. */
const MAX_ATTEMPTS = 5

/** Who holds a data directory, as the holder tells it. */
export interface LockHolder {
  pid: number
  host: string
  startedAt: string
}

/** Another live process holds the data directory; `holder` is undefined when it did not say who it is in time. */
export class DataDirInUseError extends Error {
  readonly code = 'data_dir_in_use'
  constructor(readonly dataDir: string, readonly holder: LockHolder | undefined) {
    const who = holder ? `pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}` : 'a process that did not give its pid'
    super(
      `DATA_DIR ${dataDir} is in use by another livedesk process (${who}): stop that process first, ` +
        `or give this one its own DATA_DIR or a DATABASE_URL`,
    )
  }
}

/** A held data directory. */
export interface DataDirLock {
  /** The lock socket. */
  readonly path: string
  /** Stops listening and removes the socket; idempotent. */
  release(): Promise<void>
}

/**
 * Takes the data directory `dataDir` (created if missing) for this process until `release()`. Throws
 * DataDirInUseError when a live process holds it, and a plain Error when the lock socket cannot be created.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const dir = resolve(dataDir)
  mkdirSync(dir, { recursive: true })
  const path = join(dir, LOCK_NAME)
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new Error(`DATA_DIR ${dir} is too long for its lock socket: ${path} may have at most ${MAX_SOCKET_PATH} bytes`)
  }
  const me: LockHolder = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const server = await listen(path, me)
    if (server) {
      let released: Promise<void> | undefined
      return { path, release: () => (released ??= close(server)) }
    }
    const found = await probe(path)
    if (found.state === 'alive') throw new DataDirInUseError(dir, found.holder)
    if (found.state === 'leftover') await removeLeftover(path)
  }
  throw new Error(`could not lock DATA_DIR ${dir}: ${path} kept changing while ${MAX_ATTEMPTS} attempts were made`)
}

/** Listens on `path`; undefined when something already exists there. */
function listen(path: string, me: LockHolder): Promise<Server | undefined> {
  const answer = JSON.stringify(me) + '\n'
  const server = createServer((socket) => {
    socket.on('error', () => {})
    // A prober that does not read its answer must not hold the socket (nor close()) open.
    socket.setTimeout(PROBE_TIMEOUT_MS, () => socket.destroy())
    socket.end(answer)
  })
  return new Promise((resolvePromise, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolvePromise(undefined)
      else reject(new Error(`could not lock DATA_DIR: listening on ${path} failed: ${err.message}`))
    })
    server.listen(path, () => {
      // The lock must not keep the process alive, and a failed accept must not end it.
      server.unref()
      server.removeAllListeners('error').on('error', () => {})
      try {
        chmodSync(path, 0o600)
      } catch {
        // Only the socket's mode: the directory's own permissions still apply.
      }
      resolvePromise(server)
    })
  })
}

/** Stops listening, which removes the socket file; answered connections end within PROBE_TIMEOUT_MS. */
function close(server: Server): Promise<void> {
  return new Promise((done) => server.close(() => done()))
}

type Probe = { state: 'alive'; holder?: LockHolder } | { state: 'leftover' } | { state: 'gone' }

/** Connects to the socket at `path`: a holder accepts (and says who it is), a leftover of a dead one refuses. */
function probe(path: string): Promise<Probe> {
  return new Promise((resolvePromise, reject) => {
    const socket = createConnection(path)
    let connected = false
    let text = ''
    const finish = (found: Probe | Error) => {
      clearTimeout(timer)
      socket.destroy()
      if (found instanceof Error) reject(found)
      else resolvePromise(found)
    }
    // Connected or still connecting: something is there and not dead, even if it is too busy to answer.
    const timer = setTimeout(() => finish({ state: 'alive' }), PROBE_TIMEOUT_MS)
    socket.setEncoding('utf8')
    socket.on('connect', () => (connected = true))
    socket.on('data', (chunk: string) => {
      text += chunk
      if (text.includes('\n')) finish({ state: 'alive', holder: holderOf(text) })
    })
    socket.on('end', () => finish({ state: 'alive', holder: holderOf(text) }))
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (connected || err.code === 'EAGAIN') finish({ state: 'alive' })
      else if (err.code === 'ECONNREFUSED') finish({ state: 'leftover' })
      else if (err.code === 'ENOENT') finish({ state: 'gone' })
      else finish(new Error(`could not tell whether DATA_DIR is in use: connecting to ${path} failed: ${err.message}`))
    })
  })
}

function holderOf(text: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(text.split('\n')[0]!) as Partial<LockHolder>
    return typeof parsed.pid === 'number' ? { pid: parsed.pid, host: String(parsed.host), startedAt: String(parsed.startedAt) } : undefined
  } catch {
    return undefined
  }
}

/**
 * Removes the leftover socket at `path`. It is moved aside first and probed again, so that a process which
 * removed the same leftover and started listening in between keeps its socket: it is linked back.
 */
async function removeLeftover(path: string): Promise<void> {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`
  try {
    renameSync(path, aside)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new Error(`could not remove the leftover lock socket ${path}: ${(err as Error).message}`)
  }
  try {
    if ((await probe(aside).catch(() => ({ state: 'alive' }) as const)).state === 'alive') linkSync(aside, path)
  } catch {
    // EEXIST: a third process listens at `path` by now; the one moved aside keeps running, unreachable.
  } finally {
    unlinkSync(aside)
  }
}

/**
 * Issue 12, item 1: one process per DATA_DIR, and PGlite commits that survive a power loss.
 * Two livedesk processes (`node dist/main.js`, PGlite, memory broker) on one DATA_DIR: the second refuses to
 * start, naming the directory and the holder's pid, and the first keeps serving; after the holder is killed
 * with SIGKILL, a new process takes the directory over with every write the first acknowledged. In one process,
 * the store refuses a second open of a held directory until the first closes; PGlite runs with fsync on and its
 * commits reach fsync by default.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { optionsFromEnv, type Livedesk } from '../../src/main.js'
import { LOCK_NAME } from '../../src/store/data-dir-lock.js'
import { openDb, type Db } from '../../src/store/index.js'
import { freePort, waitUntil } from '../helpers/processes.js'
import { newClient, newOperator, ok } from '../http/e2e.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const API_KEY = 'data-dir-test-key'
const cleanups: Array<() => Promise<void> | void> = []

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => {})
})

function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'livedesk-datadir-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

interface LivedeskProcess {
  child: ChildProcess
  /** What the e2e helpers need of a Livedesk: its URL and API key. */
  target: Livedesk
  output(): string
  /** The exit code, once it has exited (bounded by `timeoutMs`). */
  exitCode(timeoutMs?: number): Promise<number | null>
}

/** `node dist/main.js` on `dataDir` and a free port, PGlite and the memory broker whatever the environment says. */
async function spawnLivedesk(dataDir: string): Promise<LivedeskProcess> {
  const port = await freePort()
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', PORT: String(port), HOST: '127.0.0.1', API_KEY, DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '', PGLITE_DURABILITY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  cleanups.push(async () => {
    child.kill('SIGKILL')
    await exit
  })
  return {
    child,
    target: { url: `http://127.0.0.1:${port}`, apiKey: API_KEY } as Livedesk,
    output: () => output,
    exitCode: (timeoutMs = 20_000) =>
      Promise.race([exit, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms:\n${output}`)), timeoutMs).unref())]),
  }
}

/** Spawns livedesk on `dataDir` and waits until it answers /health. */
async function startLivedeskProcess(dataDir: string): Promise<LivedeskProcess> {
  const p = await spawnLivedesk(dataDir)
  await waitUntil(async () => {
    if (p.child.exitCode !== null) throw new Error(`livedesk exited with ${p.child.exitCode}:\n${p.output()}`)
    return (await fetch(`${p.target.url}/health`)).ok
  }, 20_000, `livedesk on ${dataDir} to answer /health`)
  return p
}

/** Expects `p` to exit non-zero saying that `dataDir` is held by `holder`. */
async function expectRefused(p: LivedeskProcess, dataDir: string, holder: LivedeskProcess): Promise<void> {
  const code = await p.exitCode()
  expect(code, p.output()).not.toBe(0)
  expect(p.output()).toContain(`DATA_DIR ${dataDir} is in use by another livedesk process (pid ${holder.child.pid}`)
}

describe('one livedesk process per DATA_DIR (PGlite)', () => {
  it('refuses a second process, naming the directory and the pid, while the first serves; after a SIGKILL a new process takes over with every acknowledged write', async () => {
    const dataDir = tempDataDir()
    const first = await startLivedeskProcess(dataDir)
    const operator = await newOperator(first.target, 'Kept')
    const client = await newClient(first.target, 'Ann')
    const texts = Array.from({ length: 20 }, (_, i) => `message ${i + 1}`)
    for (const text of texts.slice(0, 10)) await ok(first.target, 'POST', `/clients/${client.id}/messages`, { text })

    await expectRefused(await spawnLivedesk(dataDir), dataDir, first)

    // The first still reads and writes.
    expect(await ok(first.target, 'GET', `/operators/${operator.id}`)).toMatchObject({ name: 'Kept' })
    for (const text of texts.slice(10)) await ok(first.target, 'POST', `/clients/${client.id}/messages`, { text })

    first.child.kill('SIGKILL')
    await first.exitCode()
    // What the dead process left behind must not block the restart.
    expect(existsSync(join(dataDir, LOCK_NAME))).toBe(true)

    const next = await startLivedeskProcess(dataDir)
    expect(await ok(next.target, 'GET', `/operators/${operator.id}`)).toMatchObject({ name: 'Kept' })
    const { items } = await ok(next.target, 'GET', '/widget/messages?limit=100', undefined, client.token)
    expect(items.map((m: { text: string }) => m.text)).toEqual(texts)

    // And it holds the directory in turn.
    await expectRefused(await spawnLivedesk(dataDir), dataDir, next)
  }, 60_000)

  it('refuses a second open of a held DATA_DIR in one process, until the first is closed', async () => {
    const dataDir = tempDataDir()
    const first = await openDb({ dataDir })
    cleanups.push(() => first.close())
    await expect(openDb({ dataDir })).rejects.toThrow(`DATA_DIR ${dataDir} is in use by another livedesk process (pid ${process.pid}`)
    await first.close()
    const again = await openDb({ dataDir })
    cleanups.push(() => again.close())
    expect(await again.query(`SELECT 1 AS one`)).toEqual([{ one: 1 }])
  })
})

describe('PGlite commits reach the disk', () => {
  const setting = async (db: Db, name: string) => (await db.query<{ value: string }>(`SELECT current_setting($1) AS value`, [name]))[0]!.value

  it('runs with fsync on by default, and a commit is flushed with fsync', async () => {
    const db = await openDb({ dataDir: tempDataDir() })
    cleanups.push(() => db.close())
    expect(await setting(db, 'fsync')).toBe('on')
    expect(await setting(db, 'wal_sync_method')).toBe('fsync')
    expect(await setting(db, 'synchronous_commit')).toBe('on')
    expect(await setting(db, 'full_page_writes')).toBe('on')
    // fsync=on alone would not do: PGlite's Node filesystem turns fsync into nothing unless livedesk gives it one.
    const before = db.stats.fsyncs ?? 0
    await db.query(`INSERT INTO operators (id, name, max_chats) VALUES ('flushed', 'Flushed', 1)`)
    expect(db.stats.fsyncs).toBeGreaterThan(before)
  })

  it('PGLITE_DURABILITY=relaxed runs PGlite as it comes (fsync off, nothing flushed); another value is refused', async () => {
    const { pgliteDurability } = optionsFromEnv({ PGLITE_DURABILITY: 'relaxed' }, [])
    expect(pgliteDurability).toBe('relaxed')
    const db = await openDb({ dataDir: tempDataDir(), pgliteDurability })
    cleanups.push(() => db.close())
    expect(await setting(db, 'fsync')).toBe('off')
    await db.query(`INSERT INTO operators (id, name, max_chats) VALUES ('relaxed', 'Relaxed', 1)`)
    expect(db.stats.fsyncs ?? 0).toBe(0)
    expect(() => optionsFromEnv({ PGLITE_DURABILITY: 'sometimes' }, [])).toThrow('PGLITE_DURABILITY must be one of fsync, relaxed, got "sometimes"')
  })
})

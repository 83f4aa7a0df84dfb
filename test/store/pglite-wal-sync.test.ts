/**
 * PGlite's commit fsync off the event loop (src/store/pglite-durability.ts, WalSync): a commit is acknowledged once
 * its WAL is on the disk, a statement that may have read it waits for that too, the event loop keeps turning
 * meanwhile, and WAL goes to the disk before anything PostgreSQL orders after it. Real PGlite in a temp directory,
 * real files and fsyncs.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openDb } from '../../src/store/index.js'
import { WalSync } from '../../src/store/pglite-durability.js'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'livedesk-walsync-'))
  dirs.push(dir)
  return dir
}

describe('WalSync', () => {
  it('flushes recorded WAL files on the thread pool: the barrier resolves after the fsyncs, the event loop turning meanwhile', async () => {
    const flushes: number[] = []
    const counter = { fsyncs: 0, onWalFlush: (seconds: number) => flushes.push(seconds) }
    const sync = new WalSync(counter)
    const dir = tempDir()
    for (const name of ['a', 'b']) writeFileSync(join(dir, name), 'wal')
    sync.record(join(dir, 'a'))
    sync.record(join(dir, 'b'))
    sync.record(join(dir, 'a'))
    expect(sync.pending).toBe(true)
    let turned = false
    setImmediate(() => (turned = true))
    const barrier = sync.barrier()
    expect(counter.fsyncs).toBe(0)
    await barrier
    expect(turned).toBe(true)
    expect(counter.fsyncs).toBe(2) // one per file, however often it was asked for
    expect(flushes).toHaveLength(1) // one flush of both files, timed once (/metrics)
    expect(flushes[0]).toBeGreaterThanOrEqual(0)
    expect(sync.pending).toBe(false)
  })

  it('files asked for before a flush begins share it; one asked for while it runs goes in the next, which later barriers wait for', async () => {
    const counter = { fsyncs: 0 }
    const sync = new WalSync(counter)
    const dir = tempDir()
    for (const name of ['1', '2', '3']) writeFileSync(join(dir, name), 'wal')
    sync.record(join(dir, '1'))
    const first = sync.barrier()
    sync.record(join(dir, '2'))
    expect(sync.barrier()).toBe(first) // not begun yet: one flush for both (group commit)
    await Promise.resolve()
    await Promise.resolve() // the flush has begun (its files are on the thread pool)
    sync.record(join(dir, '3'))
    const second = sync.barrier()
    expect(second).not.toBe(first)
    await first
    expect(counter.fsyncs).toBe(2)
    await second
    expect(counter.fsyncs).toBe(3)
    // Nothing recorded since: the barrier is the flush already done.
    await sync.barrier()
    expect(counter.fsyncs).toBe(3)
  })

  it('flushSync writes every recorded and in-flight WAL file at once (before data PostgreSQL orders after it); a recycled file needs none', async () => {
    const counter = { fsyncs: 0 }
    const sync = new WalSync(counter)
    const dir = tempDir()
    writeFileSync(join(dir, 'seg'), 'wal')
    sync.record(join(dir, 'seg'))
    sync.record(join(dir, 'recycled-since')) // no such file
    sync.flushSync()
    expect(sync.pending).toBe(false)
    expect(counter.fsyncs).toBe(2)
    await sync.barrier()
    expect(counter.fsyncs).toBe(2)
  })
})

describe('PGlite with fsync durability', () => {
  it('answers a commit, and a read that follows it, only once the commit WAL fsync is done', async () => {
    const dataDir = tempDir()
    const db = await openDb({ dataDir })
    try {
      const before = db.stats.fsyncs ?? 0
      const write = db.query(`INSERT INTO operators (id, name, max_chats) VALUES ($1, $2, 1)`, ['wal-1', 'WAL'])
      const read = db.query<{ id: string }>(`SELECT id FROM operators WHERE id = $1`, ['wal-1'])
      const [, rows] = await Promise.all([
        write.then(() => expect(db.stats.fsyncs).toBeGreaterThan(before)),
        read.then((r) => {
          expect(db.stats.fsyncs).toBeGreaterThan(before)
          return r
        }),
      ])
      expect(rows).toEqual([{ id: 'wal-1' }])
      // A transaction's commit too.
      const beforeTx = db.stats.fsyncs ?? 0
      await db.transaction(async (tx) => {
        await tx.query(`INSERT INTO operators (id, name, max_chats) VALUES ($1, $2, 1)`, ['wal-2', 'WAL'])
      })
      expect(db.stats.fsyncs).toBeGreaterThan(beforeTx)
      // A checkpoint flushes data files after commits whose WAL fsync may still be in flight: the WAL goes first.
      await db.query(`INSERT INTO operators (id, name, max_chats) VALUES ($1, $2, 1)`, ['wal-3', 'WAL'])
      await db.query(`CHECKPOINT`)
    } finally {
      await db.close()
    }
    const again = await openDb({ dataDir })
    try {
      expect(await again.query(`SELECT id FROM operators WHERE id LIKE 'wal-%' ORDER BY id`)).toEqual([{ id: 'wal-1' }, { id: 'wal-2' }, { id: 'wal-3' }])
    } finally {
      await again.close()
    }
  })

  it('tables grow under concurrent commits without a WAL flush on the event loop; a checkpoint still flushes it first', async () => {
    const dataDir = tempDir()
    const db = await openDb({ dataDir })
    const [{ pages: before }] = await db.query<{ pages: number }>(`SELECT pg_relation_size('operators')::int / 8192 AS pages`)
    // Rows of 1.5 KB that do not compress, 40 commits in flight at a time: the table and its index are extended while
    // WAL fsyncs are pending.
    const n = 400
    for (let i = 0; i < n; i += 40) {
      await Promise.all(Array.from({ length: 40 }, (_, k) => db.query(`INSERT INTO operators (id, name, max_chats) VALUES ($1, $2, 1)`, [`grow-${i + k}`, randomBytes(750).toString('hex')])))
    }
    const [{ pages }] = await db.query<{ pages: number }>(`SELECT pg_relation_size('operators')::int / 8192 AS pages`)
    expect(pages - before).toBeGreaterThan(50) // extended page by page
    expect(db.stats.walFlushesOnThread).toBe(0)
    // A checkpoint writes the new rows' pages: what covers them goes to the disk first, on the thread.
    await db.query(`INSERT INTO operators (id, name, max_chats) VALUES ($1, $2, 1)`, ['grow-last', 'x'])
    await db.query('CHECKPOINT')
    expect(db.stats.walFlushesOnThread).toBeGreaterThan(0)
    await db.close()
    const again = await openDb({ dataDir })
    try {
      expect((await again.query<{ n: number }>(`SELECT count(*)::int AS n FROM operators WHERE id LIKE 'grow-%'`))[0]!.n).toBe(n + 1)
    } finally {
      await again.close()
    }
  })

  it('many concurrent commits all land, and share fsyncs', async () => {
    const dataDir = tempDir()
    const db = await openDb({ dataDir })
    const before = db.stats.fsyncs ?? 0
    const n = 50
    await Promise.all(
      Array.from({ length: n }, (_, i) => db.query(`INSERT INTO operators (id, name, max_chats) VALUES ($1, $2, 1)`, [`many-${i}`, 'WAL'])),
    )
    const fsyncs = (db.stats.fsyncs ?? 0) - before
    expect(fsyncs).toBeGreaterThan(0)
    expect(fsyncs).toBeLessThanOrEqual(n)
    await db.close()
    const again = await openDb({ dataDir })
    try {
      expect((await again.query<{ n: number }>(`SELECT count(*)::int AS n FROM operators WHERE id LIKE 'many-%'`))[0]!.n).toBe(n)
    } finally {
      await again.close()
    }
  })
})

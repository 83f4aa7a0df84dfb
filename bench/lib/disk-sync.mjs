/**
 * The disk's commit latency where a benchmark keeps its data: what one fdatasync of a small write costs, and its
 * tail. A WAL-like pattern (8 KB written in place into a preallocated 16 MB file, then fdatasync, ~130 times a
 * second), so a database that waits for its commits to reach the disk cannot do better than this tail.
 */
import { closeSync, fdatasyncSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const FILE_BYTES = 16 << 20
const WRITE_BYTES = 8192
/** Pause between commits: with the fdatasync itself, about 130 commits/s. */
const GAP_MS = 6

/** Measures for `ms` in a fresh directory under `dir`; returns fdatasync latencies in ms (p50, p99, p999, max). */
export async function diskSyncLatency(dir, ms = 5_000) {
  const where = mkdtempSync(join(dir, 'livedesk-disk-sync-'))
  const fd = openSync(join(where, 'wal'), 'w')
  try {
    const zeros = Buffer.alloc(1 << 20)
    for (let at = 0; at < FILE_BYTES; at += zeros.length) writeSync(fd, zeros)
    fsyncSync(fd)
    const page = Buffer.alloc(WRITE_BYTES, 7)
    const samples = []
    let offset = 0
    const end = performance.now() + ms
    while (performance.now() < end) {
      writeSync(fd, page, 0, page.length, offset)
      offset = (offset + WRITE_BYTES) % FILE_BYTES
      const t0 = performance.now()
      fdatasyncSync(fd)
      samples.push(performance.now() - t0)
      await sleep(GAP_MS)
    }
    samples.sort((a, b) => a - b)
    const at = (q) => Math.round(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] * 100) / 100
    return { samples: samples.length, ms, p50Ms: at(0.5), p99Ms: at(0.99), p999Ms: at(0.999), maxMs: at(1), over50Ms: samples.filter((x) => x > 50).length }
  } finally {
    closeSync(fd)
    rmSync(where, { recursive: true, force: true })
  }
}

/**
 * `BENCH_STALLS=1`: a bench process prints (stderr, wall-clock time) every event-loop gap and GC pause over 20 ms,
 * so that a stall seen in latencies can be placed: in a node, in the load generator (whose own pauses would show as
 * latency of whatever it had in flight), or in neither.
 */
import { PerformanceObserver } from 'node:perf_hooks'

const TICK_MS = 5
const REPORT_OVER_MS = 20

/** Watches this process under `label` when BENCH_STALLS is set; does nothing otherwise. */
export function watchStalls(label) {
  if (!process.env.BENCH_STALLS) return
  let last = performance.now()
  setInterval(() => {
    const now = performance.now()
    const gap = now - last - TICK_MS
    if (gap > REPORT_OVER_MS) console.error(`[stall ${label}] ${new Date().toISOString()} event loop blocked ${gap.toFixed(0)} ms (hrtime µs ${process.hrtime.bigint() / 1000n})`)
    last = now
  }, TICK_MS).unref()
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration > REPORT_OVER_MS) console.error(`[stall ${label}] ${new Date(performance.timeOrigin + e.startTime).toISOString()} gc kind ${e.detail?.kind} ${e.duration.toFixed(0)} ms`)
    }
  }).observe({ entryTypes: ['gc'] })
}

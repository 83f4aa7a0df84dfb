/** The ratios G/B1, G/B1c, G/B2 of issue 5, per scenario and as a headline (1 KB, 1k connections, hot channel). */

export const median = (values) => {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const m = Math.floor(v.length / 2)
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

/** p50, p99 and max of ascending latencies in ms (nearest rank); nulls for none. */
export function latencySummary(sorted, n = sorted.length) {
  const at = (q) => (n ? sorted[Math.min(n - 1, Math.floor(q * n))] : null)
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: n ? sorted[n - 1] : null }
}

const div = (a, b) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null)

/**
 * Server CPU per delivery of `a` over `b` at the highest offered load both ramps ran with nothing lost, valid
 * or client-bound: where the load generator caps the maximum, this still compares the servers' efficiency.
 */
function cpuAtTopLoad(results, a, b) {
  const kept = (name) => (results[name]?.ramp ?? []).filter((s) => s.loss <= 0 && s.cpuMicrosPerDelivery)
  const inB = new Map(kept(b).map((s) => [Math.round(s.offered), s]))
  const common = kept(a).filter((s) => inB.has(Math.round(s.offered))).sort((x, y) => y.offered - x.offered)[0]
  return common ? { load: Math.round(common.offered), ratio: common.cpuMicrosPerDelivery / inB.get(Math.round(common.offered)).cpuMicrosPerDelivery } : null
}

/** G's other transports (contender → ratio key), each against G over JSON WebSocket and the baselines (issue 13). */
export const TRANSPORT_RATIO_KEYS = { 'g-pb': 'ws_protobuf', 'g-stream': 'http_stream', 'g-sse': 'sse', 'g-stream-pb': 'http_stream_protobuf' }

/**
 * Per transport that ran: server CPU per delivery at the fixed load over G's and over B1's (coalescing on, as
 * `cpu_per_delivery_g_default_over_b1`), the maximum over G's and over B1c's, and p99 at half B1's saturation over G's.
 */
function transportRatios(results, cpu, max, half) {
  const out = {}
  for (const [name, key] of Object.entries(TRANSPORT_RATIO_KEYS)) {
    if (!results[name]) continue
    out[`cpu_per_delivery_g_${key}_over_g`] = div(cpu(name), cpu('g'))
    out[`cpu_per_delivery_g_${key}_over_b1`] = div(cpu(name), cpu('b1'))
    out[`throughput_g_${key}_over_g`] = div(max(name), max('g'))
    out[`throughput_g_${key}_over_b1c`] = div(max(name), max('b1c'))
    out[`p99_g_${key}_over_g`] = div(half(name, 'p99Ms'), half('g', 'p99Ms'))
  }
  return out
}

/** Ratios of one scenario's results. */
export function scenarioRatios(results) {
  const r = (name) => results[name]
  const cpu = (name) => r(name)?.fixed?.cpuMicrosPerDelivery
  const max = (name) => r(name)?.maxSustainable || null
  const half = (name, q) => r(name)?.latencyAtHalf?.latency?.[q]
  // The spec's measure: (RSS after GC − the empty process's) ÷ N; the slope between N/2 and N is the marginal cost.
  const mem = (name) => r(name)?.memory?.perConnectionFromEmptyKb
  const marginal = (name) => r(name)?.memory?.perConnectionKb
  const gNoCoalescing = r('g-nc') ? 'g-nc' : 'g'
  const bound = (name) => (r(name)?.maxIsLowerBound ? `${name} ≥ (ramp budget)` : r(name)?.maxLimitedByClient ? `${name} client-bound` : null)
  const extraSubs = (r('g-subs')?.memory?.subscriptionsPerConnection ?? 1) - 1
  return {
    cpu_per_delivery_g_over_b1: div(cpu(gNoCoalescing), cpu('b1')),
    cpu_per_delivery_g_history_over_b1: div(cpu('g-nc-h'), cpu('b1')),
    cpu_per_delivery_g_default_over_b1: div(cpu('g'), cpu('b1')),
    cpu_per_delivery_g_over_b2: div(cpu('g'), cpu('b2')),
    throughput_g_over_b1: div(max('g'), max('b1')),
    throughput_g_over_b1c: div(max('g'), max('b1c')),
    throughput_g_over_b2: div(max('g'), max('b2')),
    cpu_per_delivery_at_top_load_g_over_b1c: cpuAtTopLoad(results, 'g', 'b1c')?.ratio ?? null,
    top_load_g_b1c: cpuAtTopLoad(results, 'g', 'b1c')?.load ?? null,
    cpu_per_delivery_at_top_load_g_over_b2: cpuAtTopLoad(results, 'g', 'b2')?.ratio ?? null,
    top_load_g_b2: cpuAtTopLoad(results, 'g', 'b2')?.load ?? null,
    throughput_caveats: ['b1', 'b1c', 'b2', 'g', ...Object.keys(TRANSPORT_RATIO_KEYS).filter((n) => r(n))].map(bound).filter(Boolean).join('; ') || null,
    throughput_g_http_over_g: div(max('g-http'), max('g')),
    throughput_g_redis_over_g: div(max('g-redis'), max('g')),
    p50_g_over_b1: div(half('g', 'p50Ms'), half('b1', 'p50Ms')),
    p99_g_over_b1: div(half('g', 'p99Ms'), half('b1', 'p99Ms')),
    p99_g_over_b2: div(half('g', 'p99Ms'), half('b2', 'p99Ms')),
    idle_memory_g_over_b1: div(mem('g'), mem('b1')),
    idle_memory_g_over_b2: div(mem('g'), mem('b2')),
    idle_memory_marginal_g_over_b1: div(marginal('g'), marginal('b1')),
    idle_memory_marginal_g_over_b2: div(marginal('g'), marginal('b2')),
    extra_subscription_kb: extraSubs > 0 && mem('g-subs') != null && mem('g') != null ? (mem('g-subs') - mem('g')) / extraSubs : null,
    ...transportRatios(results, cpu, max, half),
  }
}

/** Issue 5 targets checked against one scenario's results and ratios. */
export function goals(results, ratios) {
  const g = results.g
  const lat = (name, q) => results[name]?.latencyAtHalf?.latency?.[q]
  const latencyOk = (q) =>
    lat('g', q) != null && lat('b1', q) != null ? lat('g', q) <= 1.2 * lat('b1', q) + 2 && (lat('b2', q) == null || lat('g', q) <= lat('b2', q)) : null
  const le = (v, limit) => (v == null ? null : v <= limit)
  const ge = (v, limit) => (v == null ? null : v >= limit)
  const o = g?.overload
  // A maximum the load generator or the ramp budget capped says nothing about the ratio.
  const capped = (...names) => {
    const which = names.filter((n) => results[n]?.maxLimitedByClient || results[n]?.maxIsLowerBound)
    return which.length ? `not measurable: ${which.join(', ')} capped by the load generator or ramp budget` : null
  }
  return {
    'CPU/delivery without coalescing ≤ 1.25× B1': le(ratios.cpu_per_delivery_g_over_b1, 1.25),
    'CPU/delivery with history ≤ 1.4× B1': le(ratios.cpu_per_delivery_g_history_over_b1, 1.4),
    'throughput with coalescing ≥ 0.8× B1c': capped('g', 'b1c') ?? ge(ratios.throughput_g_over_b1c, 0.8),
    'throughput with coalescing ≥ 2× B2': capped('g', 'b2') ?? ge(ratios.throughput_g_over_b2, 2),
    'p50 at half B1 saturation ≤ 1.2× B1 + 2 ms and ≤ B2': latencyOk('p50Ms'),
    'p99 at half B1 saturation ≤ 1.2× B1 + 2 ms and ≤ B2': latencyOk('p99Ms'),
    'idle memory ≤ 1.5× B1': le(ratios.idle_memory_g_over_b1, 1.5),
    'idle memory ≤ 0.7× B2': le(ratios.idle_memory_g_over_b2, 0.7),
    'extra subscription ≤ 0.5 KB': le(ratios.extra_subscription_kb, 0.5),
    'Redis broker throughput ≥ 0.7× memory': ge(ratios.throughput_g_redis_over_g, 0.7),
    // 1 MiB is the default maxQueueBytes per connection.
    'RSS at 2× saturation < idle + N × queue cap': o && g.connect ? o.maxRssKb < o.idleRssKb + g.connect.ok * 1024 : null,
  }
}

/** Per-scenario ratios of every run, and the headline: medians over runs with min and max. */
export function computeRatios(runs) {
  const perScenario = runs[0].map((s, i) => {
    const each = runs.map((scenarios) => scenarioRatios(scenarios[i].results))
    const keys = Object.keys(each[0])
    const numeric = (k) => each.some((e) => typeof e[k] === 'number')
    const med = Object.fromEntries(keys.map((k) => [k, numeric(k) ? median(each.map((e) => e[k])) : [...new Set(each.map((e) => e[k]).filter(Boolean))].join(' | ') || null]))
    const range = Object.fromEntries(keys.map((k) => {
      const v = each.map((e) => e[k]).filter((x) => typeof x === 'number')
      return [k, v.length ? [Math.min(...v), Math.max(...v)] : null]
    }))
    return { n: s.n, topology: s.topology, payload: s.payload, ratios: med, range, goals: goals(s.results, med) }
  })
  const key =
    perScenario.find((s) => s.n === 1000 && s.payload === 1024 && s.topology === 'hot') ??
    perScenario.find((s) => s.payload === 1024) ??
    perScenario[0]
  // Idle memory is read at the largest N (performance.md §9 measures it at 10k/15k): at 1k, a big process's
  // start-up slack absorbs the first connections and flatters it.
  const mem = perScenario.filter((s) => s.payload === key.payload && s.topology === key.topology).sort((a, b) => b.n - a.n)[0] ?? key
  const { extra_subscription_kb, ...named } = key.ratios
  const label = (s) => `${s.n} connections, ${s.topology}, ${s.payload} B`
  return {
    headline: {
      scenario: label(key),
      ...named,
      idle_memory_g_over_b1: mem.ratios.idle_memory_g_over_b1,
      idle_memory_g_over_b2: mem.ratios.idle_memory_g_over_b2,
      idle_memory_marginal_g_over_b1: mem.ratios.idle_memory_marginal_g_over_b1,
      idle_memory_marginal_g_over_b2: mem.ratios.idle_memory_marginal_g_over_b2,
      extra_subscription_kb: mem.ratios.extra_subscription_kb,
      memoryScenario: label(mem),
    },
    headlineRange: {
      ...key.range,
      idle_memory_g_over_b1: mem.range.idle_memory_g_over_b1,
      idle_memory_g_over_b2: mem.range.idle_memory_g_over_b2,
      idle_memory_marginal_g_over_b2: mem.range.idle_memory_marginal_g_over_b2,
      idle_memory_marginal_g_over_b1: mem.range.idle_memory_marginal_g_over_b1,
      extra_subscription_kb: mem.range.extra_subscription_kb,
    },
    goals: {
      ...key.goals,
      'idle memory ≤ 1.5× B1': mem.goals['idle memory ≤ 1.5× B1'],
      'idle memory ≤ 0.7× B2': mem.goals['idle memory ≤ 0.7× B2'],
      'extra subscription ≤ 0.5 KB': mem.goals['extra subscription ≤ 0.5 KB'],
    },
    perScenario,
  }
}

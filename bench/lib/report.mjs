/** Writes a run as `<date>.json`, `<date>.md` and `<date>.svg` (throughput and latency against connections). */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { median } from './ratios.mjs'

const COLORS = {
  b1: '#555555', b1c: '#999999', b2: '#d9822b', g: '#2b7bd9', 'g-http': '#7b2bd9', 'g-redis': '#2bb673',
  'g-pb': '#1b4f8f', 'g-stream': '#d92b7b', 'g-sse': '#b6a22b', 'g-stream-pb': '#8f1b4f',
}
const TRANSPORT_ROWS = { g: 'WebSocket, JSON', 'g-pb': 'WebSocket, protobuf', 'g-stream': 'HTTP-streaming, JSON', 'g-sse': 'SSE, JSON', 'g-stream-pb': 'HTTP-streaming, protobuf' }

/** Per scenario and contender, the medians over runs of the metrics the tables show. */
export function summarise(output) {
  return output.runs[0].map((s, i) => {
    const names = Object.keys(s.results)
    const rows = names.map((name) => {
      const all = output.runs.map((run) => run[i].results[name])
      const m = (f) => median(all.map((r) => { try { return f(r) } catch { return null } }))
      return {
        name,
        label: s.results[name].label,
        error: all.find((r) => r.error)?.error,
        connectPerSec: m((r) => r.connect.ratePerSec),
        idleKbPerConn: m((r) => r.memory.perConnectionKb),
        idleKbPerConnFromEmpty: m((r) => r.memory.perConnectionFromEmptyKb),
        heapKbPerConn: m((r) => r.memory.heapPerConnectionKb),
        cpuMicros: m((r) => r.fixed.cpuMicrosPerDelivery),
        serverCpuAtFixed: m((r) => r.fixed.serverCpu),
        foreignAtFixed: m((r) => Math.max(...r.fixed.otherCpu)),
        foreignAtHalf: m((r) => Math.max(...r.latencyAtHalf.otherCpu)),
        clientCpuAtFixed: m((r) => r.fixed.clientCpu),
        fixedValid: all.every((r) => r.fixed?.valid ?? true),
        maxSustainable: m((r) => r.maxSustainable ?? null),
        maxLimitedByClient: all.some((r) => r.maxLimitedByClient),
        maxIsLowerBound: all.some((r) => r.maxIsLowerBound),
        p50: m((r) => r.latencyAtHalf.latency.p50Ms),
        p99: m((r) => r.latencyAtHalf.latency.p99Ms),
        pmax: m((r) => r.latencyAtHalf.latency.maxMs),
        overloadRssMb: m((r) => r.overload.maxRssKb / 1024),
        overloadIdleRssMb: m((r) => r.overload.idleRssKb / 1024),
        overloadUnresponsive: Boolean(all[0].overload?.unresponsiveAfterMs),
        overloadCut: all[0].overload ? `${all[0].overload.serverConnectionsBefore - all[0].overload.serverConnectionsAfter} cut` + (Object.keys(all[0].overload.closes).length ? ` (${Object.entries(all[0].overload.closes).map(([c, v]) => `${v}×${c}`).join(' ')})` : '') : null,
        slowConsumers: all[0].overload?.slowConsumers,
        recovered: all[0].overload ? all.every((r) => r.overload?.recovered) : null,
      }
    })
    return { ...s, rows }
  })
}

const f = (v, digits = 1) => (v == null ? '–' : Number(v).toFixed(digits))
const k = (v) => (v == null ? '–' : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : String(Math.round(v)))
const yes = (v) => (v == null ? '–' : typeof v === 'string' ? v : v ? 'yes' : '**no**')

export function markdown(output, summary, svgName) {
  const { environment: env, ratios } = output
  const lines = []
  lines.push(`# livedesk benchmark, ${output.date}${output.quick ? ' (quick mode)' : ''}`)
  lines.push('')
  lines.push(`Machine: ${env.machine}. Node ${env.node}; ws ${env.versions.ws}, socket.io ${env.versions['socket.io']}, centrifuge ${env.versions.centrifuge}; livedesk ${env.livedeskCommit}. Load average at start: ${env.loadAverageAtStart.map((x) => x.toFixed(2)).join(' ')}.`)
  lines.push(`Runs: ${output.mode.runs}; window ${output.mode.windowMs} ms after ${output.mode.warmupMs} ms warm-up; fixed load ${output.mode.fixedLoad} deliveries/s. Valid: **${output.valid}**${output.valid ? '' : ' (a contender failed or the load generator passed 85% CPU at the fixed load)'}.`)
  const dw = output.disturbedWindows
  lines.push(`Shared box: ${dw.disturbed} of ${dw.of} measured windows had more than ${dw.threshold * 100}% foreign CPU on a pinned core (marked "disturbed" in the JSON); read those numbers as noisy.`)
  lines.push('')
  lines.push(`## Ratios (${ratios.headline.scenario}${ratios.headline.memoryScenario !== ratios.headline.scenario ? `; idle memory at ${ratios.headline.memoryScenario}` : ''})`)
  lines.push('')
  lines.push('| ratio | value | min–max over runs |')
  lines.push('|---|---|---|')
  for (const [name, value] of Object.entries(ratios.headline)) {
    if (name === 'scenario' || name === 'memoryScenario') continue
    const range = ratios.headlineRange[name]
    lines.push(`| ${name} | ${typeof value === 'string' ? value : f(value, 2)} | ${range ? `${f(range[0], 2)}–${f(range[1], 2)}` : '–'} |`)
  }
  lines.push('')
  lines.push('| issue 5 target | met |')
  lines.push('|---|---|')
  for (const [goal, met] of Object.entries(ratios.goals)) lines.push(`| ${goal} | ${yes(met)} |`)
  lines.push(...transportTable(ratios, summary))
  lines.push('')
  lines.push(`![throughput and latency against connections](${svgName})`)
  for (const s of summary) {
    lines.push('')
    lines.push(`## ${s.n} connections, ${s.topology === 'hot' ? 'one hot channel' : `${s.channels} channels`}, ${s.payload} B payload`)
    lines.push('')
    lines.push(`B1 saturation: ${k(s.b1Saturation)} deliveries/s${s.b1SaturationClientBound ? ' (the load generator passed 85% above it: client-bound, a lower bound of B1)' : ''}. p99 limit ${s.p99LimitMs} ms. Latency columns at half of B1's saturation.`)
    lines.push('')
    lines.push('| contender | connect+sub/s | idle KB/conn: RSS slope (from empty; heap) | µs CPU/delivery @fixed | server CPU @fixed (foreign) | max sustainable/s | p50 ms | p99 ms | max ms (foreign) | 2× overload: RSS MB idle→max, cut, recovered |')
    lines.push('|---|---|---|---|---|---|---|---|---|---|')
    for (const r of s.rows) {
      const failure = r.error ? `failed: ${r.error.replace(/\|/g, '/').slice(0, 120)}` : null
      if (failure && r.connectPerSec == null) {
        lines.push(`| ${r.label} | ${failure} |||||||||`)
        continue
      }
      const overload =
        r.overloadRssMb == null ? failure ?? '–'
        : r.overloadUnresponsive ? `${f(r.overloadIdleRssMb, 0)}→${f(r.overloadRssMb, 0)}, did not answer for 60 s after the load stopped`
        : `${f(r.overloadIdleRssMb, 0)}→${f(r.overloadRssMb, 0)}, ${r.overloadCut} (of ${r.slowConsumers} slow), ${yes(r.recovered)}`
      lines.push(
        `| ${r.label} | ${k(r.connectPerSec)} | ${f(r.idleKbPerConn, 2)} (${f(r.idleKbPerConnFromEmpty, 2)}; ${f(r.heapKbPerConn, 2)}) | ${f(r.cpuMicros, 2)}${r.fixedValid ? '' : ' (invalid)'} | ${r.serverCpuAtFixed == null ? '–' : `${f(r.serverCpuAtFixed * 100, 0)}% (${f(r.foreignAtFixed * 100, 0)}%)`} | ` +
          `${r.maxIsLowerBound ? '≥ ' : ''}${k(r.maxSustainable)}${r.maxLimitedByClient ? ' (client-bound)' : ''} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.pmax)}${r.foreignAtHalf == null ? '' : ` (${f(r.foreignAtHalf * 100, 0)}%)`} | ${overload} |`,
      )
    }
  }
  lines.push('')
  return lines.join('\n')
}

/** G per transport in the headline scenario, each against G over JSON WebSocket and the baselines measured beside it. */
function transportTable(ratios, summary) {
  const s = summary.find((x) => `${x.n} connections, ${x.topology}, ${x.payload} B` === ratios.headline.scenario)
  const rows = s?.rows.filter((r) => TRANSPORT_ROWS[r.name]) ?? []
  if (!rows.some((r) => r.name !== 'g')) return []
  const row = (name) => s.rows.find((r) => r.name === name)
  const g = row('g')
  const x = (a, b) => (a == null || b == null || b === 0 ? '–' : `${f(a / b, 2)}×`)
  const lines = ['', `## G per transport (${ratios.headline.scenario}; ratios to G over WebSocket JSON and to the baselines of the same run)`, '']
  lines.push('| G over | µs CPU/delivery @fixed | ×G | ×B1 | max sustainable/s | ×G | ×B1c | p50 / p99 ms @half B1 sat | p99 ×G | idle KB/conn (from empty) |')
  lines.push('|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    if (r.error && r.cpuMicros == null) {
      lines.push(`| ${TRANSPORT_ROWS[r.name]} | failed: ${r.error.replace(/\|/g, '/').slice(0, 160)} |||||||||`)
      continue
    }
    lines.push(
      `| ${TRANSPORT_ROWS[r.name]} | ${f(r.cpuMicros, 2)}${r.fixedValid ? '' : ' (invalid)'} | ${x(r.cpuMicros, g?.cpuMicros)} | ${x(r.cpuMicros, row('b1')?.cpuMicros)} | ` +
        `${r.maxIsLowerBound ? '≥ ' : ''}${k(r.maxSustainable)}${r.maxLimitedByClient ? ' (client-bound)' : ''} | ${x(r.maxSustainable, g?.maxSustainable)} | ${x(r.maxSustainable, row('b1c')?.maxSustainable)} | ` +
        `${f(r.p50)} / ${f(r.p99)} | ${x(r.p99, g?.p99)} | ${f(r.idleKbPerConnFromEmpty, 2)} |`,
    )
  }
  return lines
}

/** Two panels: max sustainable deliveries/s and p99 at half saturation, against connections (1 KB, hot channel). */
export function svgChart(summary) {
  const payload = summary.some((s) => s.payload === 1024) ? 1024 : summary[0].payload
  const topology = summary.some((s) => s.topology === 'hot') ? 'hot' : summary[0].topology
  const points = summary.filter((s) => s.payload === payload && s.topology === topology).sort((a, b) => a.n - b.n)
  const names = Object.keys(COLORS).filter((n) => points.some((p) => p.rows.some((r) => r.name === n)))
  const panels = [
    { title: 'max sustainable deliveries/s', value: (r) => r.maxSustainable },
    { title: 'p99 latency at half B1 saturation (ms)', value: (r) => r.p99 },
  ]
  const W = 420, H = 300, M = { l: 60, r: 20, t: 40, b: 50 }
  const ns = points.map((p) => p.n)
  const x = (n) => (ns.length === 1 ? M.l + (W - M.l - M.r) / 2 : M.l + ((Math.log(n) - Math.log(ns[0])) / (Math.log(ns.at(-1)) - Math.log(ns[0]))) * (W - M.l - M.r))
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W * 2}" height="${H + 30}" font-family="sans-serif" font-size="11">`]
  out.push(`<rect width="100%" height="100%" fill="white"/>`)
  panels.forEach((panel, pi) => {
    const ox = pi * W
    const values = points.flatMap((p) => p.rows.filter((r) => names.includes(r.name)).map(panel.value)).filter((v) => v != null)
    const top = Math.max(1, ...values) * 1.1
    const y = (v) => M.t + (1 - v / top) * (H - M.t - M.b)
    out.push(`<g transform="translate(${ox},0)">`)
    out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="13">${panel.title}</text>`)
    out.push(`<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="black"/><line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" stroke="black"/>`)
    for (let t = 0; t <= 4; t++) {
      const v = (top / 4) * t
      out.push(`<text x="${M.l - 5}" y="${y(v) + 4}" text-anchor="end">${v >= 1000 ? `${Math.round(v / 1000)}k` : v.toFixed(v < 10 ? 1 : 0)}</text>`)
    }
    for (const n of ns) out.push(`<text x="${x(n)}" y="${H - M.b + 15}" text-anchor="middle">${n}</text>`)
    out.push(`<text x="${W / 2}" y="${H - 15}" text-anchor="middle">connections (${payload} B, ${topology === 'hot' ? 'one channel' : '100 channels'})</text>`)
    names.forEach((name, ni) => {
      const pts = points.map((p) => [p.n, panel.value(p.rows.find((r) => r.name === name) ?? {})]).filter(([, v]) => v != null)
      const color = COLORS[name]
      const dx = (ni - names.length / 2) * 3 // keeps overlapping points visible
      if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([n, v]) => `${x(n) + dx},${y(v)}`).join(' ')}"/>`)
      for (const [n, v] of pts) out.push(`<circle cx="${x(n) + dx}" cy="${y(v)}" r="4" fill="${color}"/>`)
    })
    out.push('</g>')
  })
  const step = names.length > 7 ? 76 : 110 // ten legends fit the width
  names.forEach((name, i) => {
    out.push(`<rect x="${60 + i * step}" y="${H + 10}" width="12" height="12" fill="${COLORS[name]}"/><text x="${76 + i * step}" y="${H + 20}">${name.toUpperCase()}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

export function writeReports(output, dir) {
  mkdirSync(dir, { recursive: true })
  const base = output.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z') + (output.mode.name ? `-${output.mode.name}` : output.quick ? '-quick' : '')
  const summary = summarise(output)
  const paths = [join(dir, `${base}.json`), join(dir, `${base}.md`), join(dir, `${base}.svg`)]
  writeFileSync(paths[0], JSON.stringify(output, null, 2) + '\n')
  writeFileSync(paths[1], markdown(output, summary, `${base}.svg`))
  writeFileSync(paths[2], svgChart(summary))
  return paths
}

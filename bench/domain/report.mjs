/** The Markdown page of a `bench:domain` run, from its JSON report. */

const f = (v, digits = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–')
const pct = (v) => (typeof v === 'number' && Number.isFinite(v) ? `${Math.round(v * 100)}%` : '–')

/** The figure net of the idle background, and the raw one in parentheses. */
const both = (step, key) => (step ? `${f(step[`${key}Net`], 2)} (${f(step[key], 2)})` : '–')

/** CPU ms per message of the nodes or the scenario's PostgreSQL backends in a step, with the share of a core. */
function cpuPerMessage(st, key) {
  if (!st || !(st.serverCpuFraction > 0) || typeof st[key] !== 'number') return '–'
  return `${f((st.serverCpuMsPerMessage * st[key]) / st.serverCpuFraction, 2)} (${pct(st[key])})`
}

/** The ceiling's CPU ms per transaction, its process and PostgreSQL's backends. */
function cpuPerTx(c, key) {
  if (typeof c?.[key] !== 'number' || !(c.txPerSec > 0)) return '–'
  return f((c[key] * 1000) / c.txPerSec, 2)
}

/** The ratios' labels (n: the nodes of the multi-node scenario) and issue 10's goals. */
const GOALS = (n) => ({
  pglite_over_ceiling: ['PGlite: livedesk 1 node / PGlite ceiling', '≥ 0.6'],
  pglr_over_ceiling: ['PGlite relaxed (no fsync): livedesk 1 node / PGlite relaxed ceiling', '–'],
  pg_over_ceiling: ['PostgreSQL: livedesk 1 node (memory broker) / PostgreSQL ceiling', '≥ 0.6'],
  pg3_over_ceiling: [`PostgreSQL + Redis: livedesk ${n} nodes / PostgreSQL ceiling`, '–'],
  pg3_over_pg1r: [`${n} nodes / 1 node, both on Redis, all nodes on one core`, '– (one core for all of them: what more processes cost)'],
  pg3_over_pg: [`${n} nodes (Redis) / 1 node (memory broker)`, '–'],
  pg3s_over_pg1rs: [`${n} nodes / 1 node, both on Redis, each node its own share of a core`, '≥ 1'],
})

/** Where the nodes ran, from the report's `environment.pinned` (no `spreadNodes` in reports before it existed). */
function pinning(e, nodes) {
  const share = e.nodeShare
    ? ` In the share scenarios (pg1rs, pg3s) each node has ${e.nodeShare} of a core of its own (CFS quota, cgroup v1, period ${(e.cfsPeriodUs ?? 10_000) / 1000} ms), as nodes on machines of their own each have their own CPU: there ${nodes} nodes / 1 node is what adding nodes adds.`
    : ''
  const quota = e.nodeCpu
    ? ` Each node limited to ${e.nodeCpu} of a core by a CFS quota of its own (\`--node-cpu\`, cgroup v1, period ${(e.cfsPeriodUs ?? 100_000) / 1000} ms), as nodes on machines of their own each have their own CPU: ${nodes} nodes / 1 node then compares per-node capacity.`
    : ''
  // Reports before the flag existed carry no `singleThreadedGc`: their pinned processes ran V8's parallel GC.
  const gc = !e.pinned ? '' : e.singleThreadedGc
    ? ' Pinned processes run V8\'s GC on their main thread (`--single-threaded-gc`); with its helper threads on the same core the event loop was starved for 50–130 ms every few seconds (`--parallel-gc` keeps them).'
    : ' Pinned processes ran V8\'s default parallel GC, whose helper threads share the one core with the event loop.'
  const start = e.startArgs?.length ? ` Nodes run with the node options of \`npm start\` (\`${e.startArgs.join(' ')}\`).` : ''
  return pinnedCores(e, nodes) + quota + share + gc + start
}

function pinnedCores(e, nodes) {
  if (!e.pinned) return 'Not pinned (no taskset).'
  const p = e.pinned
  // Reports before the services were pinned: `loadAndCeiling`, services unpinned.
  const loadCore = p.load ?? p.loadAndCeiling
  const services = (what) => (what === true ? `pinned to core ${loadCore}` : what ?? 'not pinned')
  const load = p.loadAndCeiling !== undefined
    ? `load generator and ceiling to core ${loadCore}; PostgreSQL and Redis not pinned.`
    : `ceiling to core ${p.ceiling} in the nodes' place; load generator to core ${loadCore}, with PostgreSQL (${services(p.services?.postgres)}) ` +
      `and Redis (${services(p.services?.redis)}), as the database side of the path.`
  if (p.spreadNodes) {
    return `Nodes of one-node scenarios pinned to core ${p.servers}; the ${nodes} nodes of the multi-node scenario not pinned (\`--spread-nodes\`: ` +
      `they may use both cores, sharing core ${loadCore} with the load generator, so ${nodes} nodes / 1 node is not a same-CPU-budget comparison); ${load}`
  }
  return `Nodes pinned to core ${p.servers}, every node of a scenario on that one core (the same CPU budget for 1 node and for ${nodes}; ` +
    `\`--spread-nodes\` would leave the multi-node scenario's nodes unpinned); ${load}`
}

/** The disk probe of the run (bench/lib/disk-sync.mjs); reports before it have none. */
function diskLine(d) {
  if (!d) return ''
  return `Disk under PGlite's data (${d.dir}): one fdatasync of an 8 KB write, ${d.samples} of them over ${d.ms / 1000} s, p50 ${f(d.p50Ms, 2)} / p99 ${f(d.p99Ms, 2)} / ` +
    `p99.9 ${f(d.p999Ms, 2)} / max ${f(d.maxMs)} ms (${d.over50Ms} over 50 ms): a commit that waits for the disk waits this long. `
}

/** PGlite with fsync: the step's WAL flushes over 0.1 s (every commit in flight waited for each); none: nothing. */
function diskStalls(st) {
  if (!(st.walFlushesOver100ms > 0)) return ''
  return ` (disk: ${st.walFlushesOver100ms} WAL flush${st.walFlushesOver100ms === 1 ? '' : 'es'} over 0.1 s${st.walFlushesOver500ms > 0 ? `, ${st.walFlushesOver500ms} over 0.5 s` : ''})`
}

/** A ceiling's name in the tables; reports before CEILINGS have the database kind as the key and no label. */
const ceilingLabel = (kind, c) => c.label ?? (kind === 'pg' ? 'PostgreSQL' : 'PGlite')

export function renderMarkdown(r) {
  const e = r.environment
  const lines = []
  lines.push(`# bench:domain, ${r.date}${r.quick ? ' (quick)' : ''}`, '')
  lines.push(
    `Machine: ${e.machine}. Node ${e.node}; centrifuge ${e.versions?.centrifuge}, PGlite ${e.pglite}` +
      (e.postgres ? `, ${e.postgres.version.split(' on ')[0]} (fsync ${e.postgres.fsync}, synchronous_commit ${e.postgres.synchronousCommit})` : '') +
      (e.redis ? `, Redis ${e.redis}` : '') +
      `. livedesk from ${r.dist.path}, built ${r.dist.builtAt}, checkout at ${r.dist.commit ?? '?'}${r.dist.srcDirty ? ' with uncommitted changes in src/ (the build may include them)' : ''}. ` +
      `Load average at start: ${e.loadAverageAtStart.map((v) => v.toFixed(2)).join(' ')}. ` +
      diskLine(e.diskSync) +
      pinning(e, r.settings.nodesInPg3 ?? 3),
    '',
  )
  const s = r.settings
  lines.push(
    `${s.operators} operators × maxChats ${s.maxChats}, ${s.clients} clients with an assigned session; consoles on the \`centrifuge\` SDK. ` +
      (s.history ? `Before each scenario, a history of ${s.history} past clients with a closed session of 4 messages each, analysed (\`--history\`). ` : '') +
      `Open loop, ${s.windowMs} ms window after ${s.warmupMs} ms warm-up, loss deadline ${s.lossDeadlineMs} ms after the last send. ` +
      `A rate passes with no HTTP error, nothing lost, delivery p99 < ${s.p99LimitMs} ms, and ≥ 95% of the offered rate both sent and delivered during the window. ` +
      `Ramp from ${s.startRate}/s by ×${s.factor}, then ${s.refine} bisection(s). Ceiling: ${s.ceilingWorkers} workers, closed loop, same window. ` +
      'Ratios are reported, not asserted.',
    '',
  )
  for (const k of r.skipped) lines.push(`Skipped ${k.scenario}: ${k.reason}.`, '')
  const measured = [...Object.values(r.ceilings), ...Object.values(r.scenarios).flatMap((sc) => sc.steps.filter((st) => st.counted))]
  const all = Object.values(r.scenarios).flatMap((sc) => sc.steps.filter((st) => st.kind !== 'prime')).length +
    Object.values(r.ceilings).reduce((a, c) => a + (c.attempts ?? 1), 0)
  const disturbed = measured.filter((m) => m.disturbed).length
  lines.push(
    `Shared box: ${disturbed} of the ${measured.length} windows the figures come from had more than ${Math.round(r.settings.disturbedCores * 100)}% of a core of foreign CPU ` +
      '(busy time of both cores less the nodes, the load generator or ceiling, the scenario\'s PostgreSQL backends and Redis; **bold** below); read those numbers as noisy. ' +
      `${all - measured.length} windows were taken again because foreign CPU disturbed them (up to ${r.settings.retries} per scenario; "superseded" below).`,
    '',
  )

  lines.push('## Ratios', '', '| ratio | value | issue 10 goal |', '|---|---|---|')
  for (const [k, [label, goal]] of Object.entries(GOALS(r.settings.nodesInPg3 ?? 3))) {
    if (k in r.ratios) lines.push(`| ${label} | ${f(r.ratios[k], 2)} | ${goal} |`) // reports before pg1r have no pg3_over_pg1r
  }
  lines.push('')

  lines.push(
    '## Scenarios',
    '',
    '| scenario | max messages/s | ceiling tx/s | max / ceiling | at half max: rate, delivery p50 / p99 ms | statements/msg incl. BEGIN/COMMIT | excl. | transactions/msg | idle statements/s | CPU ms/msg at max: nodes, PostgreSQL |',
    '|---|---|---|---|---|---|---|---|---|---|',
  )
  for (const sc of Object.values(r.scenarios)) {
    const ceiling = r.ceilings[sc.ceiling ?? sc.db]?.txPerSec
    const h = sc.half
    const m = h ?? sc.atMax
    lines.push(
      `| ${sc.label} | ${sc.lowerBound ? '≥ ' : ''}${sc.max ?? '–'} | ${f(ceiling, 0)} | ${sc.max !== null && ceiling ? f(sc.max / ceiling, 2) : '–'} | ` +
        `${h ? `${h.offered}/s: ${f(h.deliveryMs.p50Ms)} / ${f(h.deliveryMs.p99Ms)}` : '–'} | ${both(m, 'statementsPerMessage')} | ${both(m, 'statementsPerMessageExclBeginCommit')} | ` +
        `${both(m, 'transactionsPerMessage')} | ${f(sc.idle?.statementsPerSec)} | ${cpuPerMessage(sc.atMax, 'serverCpuFraction')}, ${sc.db === 'pg' ? cpuPerMessage(sc.atMax, 'postgresCpuFraction') : '–'} |`,
    )
  }
  lines.push(
    '',
    'Statements and transactions per message: Δ`livedesk_db_statements_total` and Δ`livedesk_db_transactions_total` of every node over the half-max step, ' +
      'per message answered 201, less what the nodes ran idle for as long (heartbeats, relays: "idle statements/s", measured before the ramp); ' +
      'in parentheses without that subtraction. "excl." subtracts BEGIN and COMMIT (2 per transaction).',
    '',
  )

  lines.push('## Ceilings', '', '| database | workers | tx/s | tx p50 / p99 ms | statements/tx incl. BEGIN/COMMIT | CPU: its process, PostgreSQL; foreign | CPU ms/tx: its process, PostgreSQL |', '|---|---|---|---|---|---|---|')
  for (const [kind, c] of Object.entries(r.ceilings)) {
    lines.push(
      `| ${ceilingLabel(kind, c)} | ${c.workers} | ${f(c.txPerSec, 0)} | ${f(c.txMs.p50Ms, 2)} / ${f(c.txMs.p99Ms, 2)} | ${f(c.statementsPerTx, 2)} | ` +
        `${pct(c.ceilingCpuFraction)}, ${pct(c.postgresCpuFraction)}; ${c.disturbed ? '**' : ''}${pct(c.foreignCpuFraction)}${c.disturbed ? '**' : ''} | ` +
        `${cpuPerTx(c, 'ceilingCpuFraction')}, ${(c.db ?? kind) === 'pg' ? cpuPerTx(c, 'postgresCpuFraction') : '–'} |`,
    )
  }
  lines.push('')

  for (const sc of Object.values(r.scenarios)) {
    lines.push(
      `## ${sc.label}`,
      '',
      (sc.history ? `History: ${sc.history.sessions} past sessions, ${sc.history.messages} messages, seeded${sc.history.analysed === false ? ' and left unanalysed' : ''} in ${f(sc.history.ms / 1000)} s. ` : '') +
      `Setup: ${f(sc.setup.ms / 1000)} s (first messages of ${s.clients} clients ${f(sc.setup.firstMessagesMs / 1000)} s); sessions per operator ${Math.min(...sc.setup.assignedPerOperator)}–${Math.max(...sc.setup.assignedPerOperator)}.` +
        ('pinnedToCore' in sc ? ` ${sc.nodes} node(s), ${sc.redis ? 'Redis broker' : 'memory broker'}, ${sc.pinnedToCore === null ? 'not pinned' : `pinned to core ${sc.pinnedToCore}`}` : '') +
        (sc.nodeCpu ? `, each node limited to ${sc.nodeCpu} of a core by a CFS quota of its own.` : 'pinnedToCore' in sc ? '.' : '') +
        (sc.db === 'pglite' && 'pgliteDurability' in sc ? ` PGlite durability: ${sc.pgliteDurability ?? "livedesk's default (fsync)"}.` : ''),
      '',
      '| step | offered/s | sent/s, delivered/s | errors | lost | delivery p50 / p90 / p99 / max ms | latency drift ms | HTTP p50 / p99 ms | schedule lag p99 ms | statements/msg net (raw) | CPU: nodes, load gen, PostgreSQL, Redis; foreign | verdict |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
    )
    for (const st of sc.steps) {
      const d = st.deliveryMs
      lines.push(
        `| ${st.kind}${st.again ? ' (again)' : ''}${st.counted || st.kind === 'prime' ? '' : ' (superseded)'} | ${st.offered} | ${f(st.achievedRate)}, ${f(st.deliveredRateInWindow)} | ${st.errors} | ${st.lost} | ${f(d.p50Ms)} / ${f(d.p90Ms)} / ${f(d.p99Ms)} / ${f(d.maxMs)} | ${f(st.latencyDriftMs)} | ` +
          `${f(st.responseMs.p50Ms)} / ${f(st.responseMs.p99Ms)} | ${f(st.scheduleLagMs.p99Ms)} | ${both(st, 'statementsPerMessage')} | ` +
          `${pct(st.serverCpuFraction)}, ${pct(st.loadgenCpuFraction)}, ${pct(st.postgresCpuFraction)}, ${pct(st.redisCpuFraction)}; ${st.disturbed ? '**' : ''}${pct(st.foreignCpuFraction)}${st.disturbed ? '**' : ''} | ` +
          `${st.kind === 'prime' ? 'not counted' : st.pass ? 'pass' : `fail: ${st.reasons.join('; ')}`}${diskStalls(st)} |`,
      )
    }
    lines.push('')
  }
  return lines.join('\n')
}

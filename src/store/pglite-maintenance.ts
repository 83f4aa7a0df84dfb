/**
 * PGlite runs no autovacuum (it has no background workers), so without this its tables are never vacuumed nor
 * analysed. Unvacuumed, a table that is written and pruned, as the outbox is, grows for ever (measured: 3.3 MB per
 * 20,000 events around 2,000 live rows, flat with a vacuum between); unanalysed, the planner guesses and reads whole
 * tables where an index would do (the offline timer's sweep, the per-IP limits). This does autovacuum's job: every
 * interval, each table past the thresholds below is vacuumed or analysed, one statement at a time.
 */
import type { Db } from './db.js'

/**
 * autovacuum's defaults (autovacuum_{vacuum,analyze}_{threshold,scale_factor}) but one: a table is analysed once its
 * changes reach its size (autovacuum: a tenth). Here an analyse stops every statement, and the event loop, while it
 * runs (30–60 ms for 300,000 messages with the target below); between two the planner scales the row count by the
 * file's size, so analysing at each doubling pays that a logarithmic number of times.
 */
export const PGLITE_THRESHOLDS = { vacuumBase: 50, vacuumScale: 0.2, analyzeBase: 50, analyzeScale: 1 }

/**
 * The statistics target of these analyses (PostgreSQL's default: 100). An analyse samples 300 × it rows, and reading
 * them is most of its time: 300,000 messages in memory took 157 ms with 100, 13 ms with 10 (30–60 ms from a data
 * directory). livedesk's plans are key lookups that ten-value lists and histograms settle as well.
 */
export const PGLITE_STATISTICS_TARGET = 10

export interface TableActivity {
  table: string
  /** Its rows when it was last vacuumed or analysed (0: never). */
  rows: number
  dead: number
  modifiedSinceAnalyze: number
}

export type MaintenanceOperation = 'vacuum' | 'analyze'

/** What a table needs, by the thresholds above: a vacuum (which analyses too when due) or an analyse, or nothing. */
export function maintenanceDue(t: TableActivity, th = PGLITE_THRESHOLDS): MaintenanceOperation | undefined {
  if (t.dead > th.vacuumBase + th.vacuumScale * t.rows) return 'vacuum'
  if (t.modifiedSinceAnalyze > th.analyzeBase + th.analyzeScale * t.rows) return 'analyze'
  return undefined
}

export interface MaintenanceRun {
  table: string
  operation: MaintenanceOperation
  seconds: number
}

/** The activity of livedesk's tables since their last vacuum and analyse, from the statistics PGlite keeps. */
async function tableActivity(db: Db): Promise<TableActivity[]> {
  // The counts of the last second may not be in the statistics yet: this statement's end puts them there.
  await db.query('SELECT pg_stat_force_next_flush()')
  // reltuples, as autovacuum reads it: the rows as of the last vacuum or analyse (-1: never), not the live count.
  const rows = await db.query<{ table: string; rows: number; dead: string; modified: string }>(
    `SELECT s.relname AS table, greatest(c.reltuples, 0)::float8 AS rows, s.n_dead_tup AS dead, s.n_mod_since_analyze AS modified
       FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.schemaname = 'public' ORDER BY s.relname`,
  )
  return rows.map((r) => ({ table: r.table, rows: Number(r.rows), dead: Number(r.dead), modifiedSinceAnalyze: Number(r.modified) }))
}

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`

/**
 * Vacuums and analyses the tables past autovacuum's thresholds. Each is one statement on PGlite's one connection:
 * other statements wait for it, as they wait for each other (a vacuum of the outbox takes a few milliseconds).
 */
export async function maintainTables(db: Db, onRun?: (run: MaintenanceRun) => void): Promise<MaintenanceRun[]> {
  const runs: MaintenanceRun[] = []
  await db.query(`SET default_statistics_target = ${PGLITE_STATISTICS_TARGET}`)
  for (const activity of await tableActivity(db)) {
    const operation = maintenanceDue(activity)
    if (!operation) continue
    const started = performance.now()
    const analyze = operation === 'analyze' || maintenanceDue({ ...activity, dead: 0 }) === 'analyze'
    await db.query(operation === 'vacuum' ? `VACUUM ${analyze ? '(ANALYZE) ' : ''}${quoted(activity.table)}` : `ANALYZE ${quoted(activity.table)}`)
    const run = { table: activity.table, operation, seconds: (performance.now() - started) / 1000 }
    runs.push(run)
    onRun?.(run)
  }
  return runs
}

/** Runs `maintainTables` every `intervalMs` until stopped; a failed round is reported and the next one runs. */
export class PgliteMaintenance {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<unknown> | undefined

  constructor(
    private readonly db: Db,
    private readonly intervalMs: number,
    private readonly hooks: { onRun?: (run: MaintenanceRun) => void; onError?: (err: unknown) => void } = {},
  ) {}

  start(): this {
    if (this.intervalMs > 0) this.schedule()
    return this
  }

  /** Stops the rounds; resolves once a round in progress ends (the database may close after). */
  async stop(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    await this.running
  }

  private schedule() {
    this.timer = setTimeout(() => {
      this.running = maintainTables(this.db, (run) => this.hooks.onRun?.(run))
        .catch((err) => this.hooks.onError?.(err))
        .finally(() => {
          this.running = undefined
          if (this.timer) this.schedule()
        })
    }, this.intervalMs)
    this.timer.unref()
  }
}

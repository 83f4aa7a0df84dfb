/** What the planner makes of a store function's statement: the tests that check plans at scale read it from here. */
import type { Db } from '../../src/store/index.js'

export interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Actual Rows'?: number
  'Actual Loops'?: number
  'Rows Removed by Filter'?: number
  Plans?: PlanNode[]
}

/** The statement `run` sends through the `Db` it is given, not run (the last one, when it sends several). */
export async function statementOf(db: Db, run: (recorder: Db) => Promise<unknown>): Promise<{ sql: string; params: unknown[] }> {
  let statement: { sql: string; params: unknown[] } | undefined
  await run({ ...db, query: async (sql: string, params?: unknown[]) => ((statement = { sql, params: params ?? [] }), []) })
  if (!statement) throw new Error('the function sent no statement')
  return statement
}

/** Every node of the statement's plan, depth first; `options` are EXPLAIN's (FORMAT JSON is added). */
export async function planNodes(db: Db, statement: { sql: string; params: unknown[] }, options = ''): Promise<PlanNode[]> {
  const [{ 'QUERY PLAN': plan }] = await db.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
    `EXPLAIN (${options ? `${options}, ` : ''}FORMAT JSON) ${statement.sql}`,
    statement.params,
  )
  const nodes: PlanNode[] = []
  const walk = (node: PlanNode) => {
    nodes.push(node)
    for (const child of node.Plans ?? []) walk(child)
  }
  walk(plan[0]!.Plan)
  return nodes
}

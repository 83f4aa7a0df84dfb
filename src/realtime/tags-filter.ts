/** Centrifugo's publication tags filter (`FilterNode` of client.proto, centrifuge `internal/filter`): validation and matching. */

export interface FilterNode {
  /** '' a comparison; 'and', 'or', 'not' over `nodes`. */
  op?: string
  key?: string
  cmp?: string
  val?: string
  vals?: string[]
  nodes?: FilterNode[]
}

const COMPARISONS = new Set(['eq', 'neq', 'in', 'nin', 'ex', 'nex', 'sw', 'ew', 'ct', 'lt', 'lte', 'gt', 'gte'])
/** Deeper filters are refused: a client must not make the server recurse without bound. */
const MAX_DEPTH = 10
const MAX_NODES = 64

/** The reason a filter is invalid, or undefined when it is valid. */
export function filterError(node: unknown, depth = 0, count = { n: 0 }): string | undefined {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return 'filter node must be an object'
  if (depth > MAX_DEPTH) return `filter deeper than ${MAX_DEPTH}`
  if (++count.n > MAX_NODES) return `filter with more than ${MAX_NODES} nodes`
  const f = node as FilterNode
  const op = f.op ?? ''
  if (op === '') {
    if (!f.key || typeof f.key !== 'string') return 'filter comparison needs a key'
    if (!f.cmp || !COMPARISONS.has(f.cmp)) return `filter cmp must be one of ${[...COMPARISONS].join(', ')}`
    if ((f.cmp === 'in' || f.cmp === 'nin') && !Array.isArray(f.vals)) return `filter cmp ${f.cmp} needs vals`
    return undefined
  }
  if (op !== 'and' && op !== 'or' && op !== 'not') return `filter op must be '', and, or or not, got ${String(op)}`
  if (!Array.isArray(f.nodes) || f.nodes.length === 0) return `filter op ${op} needs nodes`
  if (op === 'not' && f.nodes.length !== 1) return 'filter op not takes one node'
  for (const child of f.nodes) {
    const err = filterError(child, depth + 1, count)
    if (err) return err
  }
  return undefined
}

/** Whether a publication with these tags passes the filter (a valid one: see `filterError`). */
export function matchesFilter(f: FilterNode, tags: Record<string, string> | undefined): boolean {
  const op = f.op ?? ''
  if (op === 'and') return f.nodes!.every((n) => matchesFilter(n, tags))
  if (op === 'or') return f.nodes!.some((n) => matchesFilter(n, tags))
  if (op === 'not') return !matchesFilter(f.nodes![0]!, tags)
  const has = tags !== undefined && Object.hasOwn(tags, f.key!)
  const v = has ? tags![f.key!]! : ''
  const val = f.val ?? ''
  switch (f.cmp) {
    case 'ex': return has
    case 'nex': return !has
    case 'eq': return has && v === val
    case 'neq': return !has || v !== val
    case 'in': return has && f.vals!.includes(v)
    case 'nin': return !has || !f.vals!.includes(v)
    case 'sw': return has && v.startsWith(val)
    case 'ew': return has && v.endsWith(val)
    case 'ct': return has && v.includes(val)
    default: {
      if (!has) return false
      const a = Number(v)
      const b = Number(val)
      if (Number.isNaN(a) || Number.isNaN(b)) return false
      return f.cmp === 'lt' ? a < b : f.cmp === 'lte' ? a <= b : f.cmp === 'gt' ? a > b : a >= b
    }
  }
}

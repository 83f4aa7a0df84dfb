/**
 * Text the domain accepts: no NUL (PostgreSQL text and jsonb cannot hold U+0000) and well-formed UTF-16 (a
 * lone surrogate has no UTF-8 form, so it would be stored as U+FFFD or refused by the database).
 */

/** Why `s` cannot be stored, or undefined when it can. */
export function textProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain NUL (U+0000)'
  if (!(s as string & { isWellFormed(): boolean }).isWellFormed()) return 'must not contain a lone surrogate (an invalid code point)'
  return undefined
}

/**
 * The first string in a JSON value (object keys included) that cannot be stored, with its dotted path
 * (`coordinates.city`, `items.2`); undefined when all can. Walks iteratively, so depth costs no stack.
 */
export function findBadText(value: unknown, prefix = ''): { field: string; problem: string } | undefined {
  const stack: Array<[unknown, string]> = [[value, prefix]]
  while (stack.length > 0) {
    const [v, path] = stack.pop()!
    if (typeof v === 'string') {
      const problem = textProblem(v)
      if (problem) return { field: path || 'body', problem }
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], path ? `${path}.${i}` : String(i)])
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v)
      for (const [k] of entries) {
        const problem = textProblem(k)
        if (problem) return { field: path ? `${path}.${JSON.stringify(k)}` : JSON.stringify(k), problem: `(a field name) ${problem}` }
      }
      for (let i = entries.length - 1; i >= 0; i--) stack.push([entries[i]![1], path ? `${path}.${entries[i]![0]}` : entries[i]![0]])
    }
  }
  return undefined
}

/**
 * Channel patterns of the server API's `channels` method, with the syntax Centrifugo takes from gobwas/glob
 * (compiled without separators): `*` and `**` any run of characters, `?` one character, `[abc]` / `[!abc]` one
 * of / none of the listed characters, `[a-z]` / `[!a-z]` one range, `{a,b*}` alternatives (nestable), `\c` the
 * character c. Characters are Unicode code points, as Go's runes.
 *
 * Matching runs a Thompson NFA over the name: time O(name length × pattern length) whatever the pattern, so
 * no pattern can stall the event loop the way a backtracking RegExp built from `*` runs can.
 */

/** A pattern that cannot be parsed; the message says why. */
export class ChannelPatternError extends Error {}

type Test = (cp: number) => boolean

/** NFA states: `step` consumes one code point passing `test`; `star` consumes any, staying; `split` branches. */
type State =
  | { kind: 'step'; test: Test; next: number }
  | { kind: 'star'; next: number }
  | { kind: 'split'; next: number[] }
  | { kind: 'match' }

type Node =
  | { kind: 'test'; test: Test }
  | { kind: 'star' }
  | { kind: 'alt'; options: Node[][] }

const cps = (s: string) => Array.from(s, (c) => c.codePointAt(0)!)

/** Parses the gobwas/glob syntax into a sequence of nodes. */
function parse(pattern: string): Node[] {
  const chars = cps(pattern)
  let pos = 0
  const peek = () => chars[pos]
  const STAR = 0x2a, QUESTION = 0x3f, ESCAPE = 0x5c, OPEN = 0x5b, CLOSE = 0x5d, LBRACE = 0x7b, RBRACE = 0x7d, COMMA = 0x2c, NOT = 0x21, DASH = 0x2d

  const range = (): Node => {
    // after '['
    let not = false
    if (peek() === NOT) {
      not = true
      pos++
    }
    if (pos >= chars.length) throw new ChannelPatternError('unclosed [')
    // lo-hi: a single character, '-', a single character, then ']'
    if (chars[pos + 1] === DASH && pos + 2 < chars.length) {
      const lo = chars[pos]!, hi = chars[pos + 2]!
      pos += 3
      if (peek() !== CLOSE) throw new ChannelPatternError('a range [lo-hi] must close right after hi')
      pos++
      if (hi < lo) throw new ChannelPatternError('a range [lo-hi] needs hi >= lo')
      return { kind: 'test', test: not ? (cp) => cp < lo || cp > hi : (cp) => cp >= lo && cp <= hi }
    }
    const list = new Set<number>()
    for (;;) {
      const c = chars[pos++]
      if (c === undefined) throw new ChannelPatternError('unclosed [')
      if (c === CLOSE) break
      if (c === ESCAPE) {
        const e = chars[pos++]
        if (e === undefined) throw new ChannelPatternError('unclosed [')
        list.add(e)
      } else list.add(c)
    }
    if (list.size === 0) throw new ChannelPatternError('an empty [] matches nothing')
    return { kind: 'test', test: not ? (cp) => !list.has(cp) : (cp) => list.has(cp) }
  }

  // A sequence up to the end, or (inside braces) up to ',' or '}', which the caller consumes.
  const sequence = (depth: number): Node[] => {
    const out: Node[] = []
    while (pos < chars.length) {
      const c = chars[pos]!
      if (depth > 0 && (c === COMMA || c === RBRACE)) break
      pos++
      if (c === STAR) {
        if (peek() === STAR) pos++
        if (out.at(-1)?.kind !== 'star') out.push({ kind: 'star' })
      } else if (c === QUESTION) out.push({ kind: 'test', test: () => true })
      else if (c === OPEN) out.push(range())
      else if (c === LBRACE) {
        const options: Node[][] = [sequence(depth + 1)]
        while (peek() === COMMA) {
          pos++
          options.push(sequence(depth + 1))
        }
        // gobwas/glob closes braces left open at the end of the pattern
        if (peek() === RBRACE) pos++
        out.push({ kind: 'alt', options })
      } else {
        let lit = c
        if (c === ESCAPE) {
          if (pos >= chars.length) break // a trailing backslash escapes nothing, as gobwas/glob
          lit = chars[pos++]!
        }
        out.push({ kind: 'test', test: (cp) => cp === lit })
      }
    }
    return out
  }
  return sequence(0)
}

/** Lays the nodes out as NFA states; returns the start state. */
function build(nodes: Node[], states: State[], next: number): number {
  let start = next
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!
    if (n.kind === 'test') start = states.push({ kind: 'step', test: n.test, next: start }) - 1
    else if (n.kind === 'star') start = states.push({ kind: 'star', next: start }) - 1
    else start = states.push({ kind: 'split', next: n.options.map((o) => build(o, states, start)) }) - 1
  }
  return start
}

/** A compiled pattern: `matches(name)` in time linear in the name's length for a given pattern. */
export interface ChannelPattern {
  matches(name: string): boolean
}

/** Cached DFA states per pattern; past this the cache starts over (memory stays bounded, time stays linear). */
const MAX_DFA_STATES = 2_048
/** A pattern whose cache started over this often blows up as a DFA: it runs as a plain NFA simulation instead. */
const MAX_DFA_RESETS = 2

/**
 * Compiles `pattern`; throws ChannelPatternError for a malformed one or one longer than `maxLength` characters.
 * The NFA is turned into a DFA lazily (RE2's approach): each set of NFA states reached is one DFA state whose
 * transitions are cached per code point, so names over a small alphabet cost one lookup per character.
 */
export function compileChannelPattern(pattern: string, maxLength: number): ChannelPattern {
  if (pattern.length > maxLength) throw new ChannelPatternError(`pattern is longer than ${maxLength} characters`)
  const states: State[] = [{ kind: 'match' }]
  const start = build(parse(pattern), states, 0)
  // Each state is added to a set at most once per step: `mark[s] === generation` means already in.
  const mark = new Float64Array(states.length)
  let generation = 0
  const add = (set: number[], s: number) => {
    if (mark[s] === generation) return
    mark[s] = generation
    const st = states[s]!
    if (st.kind === 'split') for (const n of st.next) add(set, n)
    else {
      set.push(s)
      if (st.kind === 'star') add(set, st.next)
    }
  }

  type DState = { set: number[]; accept: boolean; next: Map<number, number> }
  let dstates: DState[] = []
  let resets = 0
  const index = new Map<string, number>()
  const dstateOf = (set: number[]): number => {
    set.sort((a, b) => a - b)
    const key = set.join(',')
    let d = index.get(key)
    if (d === undefined) {
      if (dstates.length >= MAX_DFA_STATES) {
        dstates = []
        index.clear()
        resets++
      }
      d = dstates.push({ set, accept: set.some((s) => states[s]!.kind === 'match'), next: new Map() }) - 1
      index.set(key, d)
    }
    return d
  }
  const startSet = () => {
    generation++
    const set: number[] = []
    add(set, start)
    return set
  }
  /** The NFA step from DFA state `d` on `cp`, cached on `d`. */
  const step = (d: number, cp: number): number => {
    const from = dstates[d]!
    const cached = from.next.get(cp)
    if (cached !== undefined) return cached
    generation++
    const set: number[] = []
    for (const s of from.set) {
      const st = states[s]!
      if (st.kind === 'step') {
        if (st.test(cp)) add(set, st.next)
      } else if (st.kind === 'star') add(set, s)
    }
    const before = dstates
    const to = dstateOf(set)
    // A cache that just started over no longer holds `from`.
    if (dstates === before) from.next.set(cp, to)
    return to
  }

  /** The NFA simulation alone: O(states) per character, no cache. */
  const simulate = (name: string): boolean => {
    let current = startSet()
    for (const ch of name) {
      if (current.length === 0) return false
      const cp = ch.codePointAt(0)!
      generation++
      const upcoming: number[] = []
      for (const s of current) {
        const st = states[s]!
        if (st.kind === 'step') {
          if (st.test(cp)) add(upcoming, st.next)
        } else if (st.kind === 'star') add(upcoming, s)
      }
      current = upcoming
    }
    return current.some((s) => states[s]!.kind === 'match')
  }

  return {
    matches(name: string): boolean {
      if (resets > MAX_DFA_RESETS) return simulate(name)
      let d = dstateOf(startSet())
      for (const ch of name) {
        if (dstates[d]!.set.length === 0) return false
        d = step(d, ch.codePointAt(0)!)
      }
      return dstates[d]!.accept
    },
  }
}

/**
 * The entries whose name matches, yielding to the event loop whenever a slice of work passes `sliceMs`: even the
 * costliest pattern over many long names delays other work by one slice, never by the whole scan.
 */
export async function matchingEntries<T>(entries: Array<[string, T]>, pattern: ChannelPattern, sliceMs = 10): Promise<Array<[string, T]>> {
  const out: Array<[string, T]> = []
  let sliceStart = performance.now()
  for (const entry of entries) {
    if (pattern.matches(entry[0])) out.push(entry)
    if (performance.now() - sliceStart > sliceMs) {
      await new Promise((resolve) => setImmediate(resolve))
      sliceStart = performance.now()
    }
  }
  return out
}

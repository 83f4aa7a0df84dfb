/** Request bodies as JSON, with the nesting depth checked before parsing so a deeply nested body costs one scan. */

/** Deepest nesting of objects and arrays a request body may have unless configured otherwise. */
export const DEFAULT_MAX_JSON_DEPTH = 32

/** Whether `text` nests objects/arrays deeper than `limit`: one pass over the characters, strings skipped whole. */
export function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      // Jump to the closing quote: the next one preceded by an even run of backslashes.
      for (;;) {
        i = text.indexOf('"', i + 1)
        if (i < 0) return false // unterminated: JSON.parse refuses it
        let backslashes = 0
        while (text.charCodeAt(i - 1 - backslashes) === 0x5c) backslashes++
        if (backslashes % 2 === 0) break
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}

export type ParsedJson = { ok: true; value: unknown } | { ok: false; error: string }

/** Parses a body; refuses malformed JSON and JSON nested deeper than `maxDepth` (checked first). */
export function parseJsonBody(text: string, maxDepth: number): ParsedJson {
  if (nestedDeeperThan(text, maxDepth)) return { ok: false, error: `body is nested deeper than ${maxDepth} levels` }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false, error: 'body is not valid JSON' }
  }
}

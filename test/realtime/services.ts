/** Real services for tests: their URL, or a visible skip (a failing test when LIVEDESK_REQUIRE_SERVICES=1). */
import { randomBytes } from 'node:crypto'
import { describe, it } from 'vitest'

/**
 * Returns the environment variable's value, or undefined after declaring a suite that says why it did not
 * run: skipped with a warning, or failing when the services are required (CI).
 */
export function serviceUrl(variable: string, suite: string): string | undefined {
  const url = process.env[variable]
  if (url) return url
  const why = `${variable} is not set`
  if (process.env.LIVEDESK_REQUIRE_SERVICES === '1') {
    describe(suite, () => {
      it(`needs ${variable}`, () => {
        throw new Error(`${why}, and LIVEDESK_REQUIRE_SERVICES=1 requires it`)
      })
    })
  } else {
    console.warn(`[skip] ${suite}: ${why}`)
    describe.skip(`${suite} (skipped: ${why})`, () => {
      it('runs against the real service', () => {})
    })
  }
  return undefined
}

/** A key prefix no other test run shares, so parallel runs on one Redis never meet. */
export function randomPrefix(name: string): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`
}

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
  missingService(suite, variable, `${variable} is not set`, 'runs against the real service')
  return undefined
}

/**
 * Declares the suite that could not run for want of `need` (`why`): skipped with a warning, or failing when the
 * services are required (CI, LIVEDESK_REQUIRE_SERVICES=1). `what` names the skipped test.
 */
export function missingService(suite: string, need: string, why: string, what: string): void {
  if (process.env.LIVEDESK_REQUIRE_SERVICES === '1') {
    describe(suite, () => {
      it(`needs ${need}`, () => {
        throw new Error(`${why}, and LIVEDESK_REQUIRE_SERVICES=1 requires it`)
      })
    })
  } else {
    console.warn(`[skip] ${suite}: ${why}`)
    describe.skip(`${suite} (skipped: ${why})`, () => {
      it(what, () => {})
    })
  }
}

/** A key prefix no other test run shares, so parallel runs on one Redis never meet. */
export function randomPrefix(name: string): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`
}

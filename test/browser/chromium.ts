/** Debian's Chromium driven by playwright-core (never a downloaded browser), and pages that fail on any error. */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { missingService } from '../realtime/services.js'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** True when Chromium is there; otherwise declares a visibly skipped suite (a failing one under LIVEDESK_REQUIRE_SERVICES=1). */
export function haveChromium(suite: string): boolean {
  if (existsSync(CHROMIUM_PATH)) return true
  const why = `Chromium not found at ${CHROMIUM_PATH} (set CHROMIUM_PATH or apt-get install chromium)`
  missingService(suite, 'Chromium', why, 'runs in a real browser')
  return false
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ARGS })
}

/**
 * Records uncaught exceptions and console errors of a page. `allow` lists console texts that the
 * test provokes on purpose (a refused reconnect while the server is down, for instance).
 */
export function watchErrors(page: Page, name: string): { errors: string[]; allow: (re: RegExp) => void } {
  const errors: string[] = []
  const allowed: RegExp[] = []
  page.on('pageerror', (err) => errors.push(`${name}: uncaught ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return
    const text = msg.text()
    if (!allowed.some((re) => re.test(text))) errors.push(`${name}: console.error ${text}`)
  })
  return { errors, allow: (re) => allowed.push(re) }
}

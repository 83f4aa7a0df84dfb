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

/** What `watchErrors` gives a test about one page. */
export interface PageWatch {
  errors: string[]
  /** Console texts the test provokes on purpose (a refused reconnect while the server is down, for instance). */
  allow: (re: RegExp) => void
  /** Resolves once no HTTP request of the page has been in flight for `quietMs` (WebSockets are not requests). */
  settled: (quietMs?: number) => Promise<void>
}

/**
 * Records uncaught exceptions and console errors of a page (a failed resource with its URL), and counts the page's
 * HTTP requests in flight. Call it right after creating the page, before it loads anything.
 */
export function watchErrors(page: Page, name: string): PageWatch {
  const errors: string[] = []
  const allowed: RegExp[] = []
  page.on('pageerror', (err) => errors.push(`${name}: uncaught ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return
    const text = msg.text()
    const url = text.startsWith('Failed to load resource') ? ` (${msg.location().url})` : ''
    if (!allowed.some((re) => re.test(text))) errors.push(`${name}: console.error ${text}${url}`)
  })
  let inFlight = 0
  let lastChange = Date.now()
  const change = (by: number) => {
    inFlight += by
    lastChange = Date.now()
  }
  page.on('request', () => change(1))
  page.on('requestfinished', () => change(-1))
  page.on('requestfailed', () => change(-1))
  const settled = async (quietMs = 300) => {
    for (;;) {
      const quietFor = Date.now() - lastChange
      if (inFlight === 0 && quietFor >= quietMs) return
      await new Promise((resolve) => setTimeout(resolve, inFlight === 0 ? quietMs - quietFor : 50))
    }
  }
  return { errors, allow: (re) => allowed.push(re), settled }
}

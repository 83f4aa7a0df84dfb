/** The steps the console and widget browser suites share: a livedesk with a Chromium, and the signed-in pages. */
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'
import type { LivedeskOptions } from '../../src/main.js'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { launchChromium, watchErrors } from './chromium.js'

/** A page with its recorded errors (see `watchErrors`). */
export interface WatchedPage {
  page: Page
  watch: ReturnType<typeof watchErrors>
}

/**
 * Starts a livedesk (with `options`) and Chromium before the tests of the calling describe block and closes both
 * after them; read `l` and `browser` inside the tests (a test may replace `l`, e.g. after a restart).
 */
export function livedeskInChromium(options: LivedeskOptions = {}): { l: TestLivedesk; browser: Browser } {
  const suite = {} as { l: TestLivedesk; browser: Browser }
  beforeAll(async () => {
    ;[suite.l, suite.browser] = await Promise.all([startTestLivedesk(options), launchChromium()])
  })
  afterAll(async () => {
    await suite.browser?.close()
    await suite.l?.close().catch(() => {})
  })
  return suite
}

/** A new page in `from` (a browser: in a new context of its own) watched as `name`. */
async function watchedPage(from: Browser | BrowserContext, name: string): Promise<WatchedPage> {
  const context = 'newContext' in from ? await from.newContext() : from
  const page = await context.newPage()
  return { page, watch: watchErrors(page, name) }
}

/** The operator console signed in with `token`, once its connection is up. */
export async function openConsole(from: Browser | BrowserContext, url: string, token: string, name = 'console'): Promise<WatchedPage> {
  const opened = await watchedPage(from, name)
  await opened.page.goto(`${url}/?token=${encodeURIComponent(token)}`)
  await opened.page.locator('#conn[data-state="connected"]').waitFor()
  return opened
}

/** The client widget started as `clientName`, once its connection is up (no session yet: that takes a message). */
export async function openWidget(from: Browser | BrowserContext, url: string, clientName: string): Promise<WatchedPage> {
  const opened = await watchedPage(from, 'widget')
  await opened.page.goto(`${url}/widget`)
  await opened.page.locator('#name').fill(clientName)
  await opened.page.locator('#name').press('Enter')
  await opened.page.locator('#conn[data-state="connected"]').waitFor()
  return opened
}

/** Types `text` in the page's composer and sends it with Enter (console and widget alike). */
export async function sendText(page: Page, text: string): Promise<void> {
  await page.locator('#text').fill(text)
  await page.locator('#text').press('Enter')
}

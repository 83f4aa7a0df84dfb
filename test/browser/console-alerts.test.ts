/**
 * Issue 16 items 6 and 7 in Chromium: with notifications granted and the tab hidden, a new chat and a new client
 * message make a desktop Notification and a tone and count in the title, cleared once visible and read; "Mute
 * alerts" silences them; permission is asked only from the button; a widget's rating shows in the console.
 *
 * Headless Chromium never hides a tab (a second tab brought to front, Target.activateTarget, a minimized window:
 * `visibilityState` stays 'visible'), so an init script overrides `document.visibilityState`/`hidden` and fires
 * `visibilitychange`; it also wraps `Notification` and `OscillatorNode.start` to record calls, delegating to the real ones.
 */
import type { BrowserContext, Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { newClient, newOperator, ok } from '../http/e2e.js'
import { haveChromium } from './chromium.js'
import { livedeskInChromium, openConsole, openWidget, sendText } from './console-pages.js'

/** Runs in the page before its scripts: records notifications, permission requests and tones; lets the test hide the page. */
function recorders(): void {
  const w = window as any
  w.__notifications = []
  w.__permissionRequests = 0
  w.__tones = 0
  const Real = window.Notification
  const Recorded = function (this: unknown, title: string, options?: NotificationOptions) {
    w.__notifications.push({ title, body: options?.body ?? '', tag: options?.tag ?? '' })
    return new Real(title, options)
  } as unknown as typeof Notification
  Recorded.prototype = Real.prototype
  Object.defineProperty(Recorded, 'permission', { get: () => Real.permission })
  Recorded.requestPermission = ((...args: any[]) => {
    w.__permissionRequests++
    return (Real.requestPermission as any)(...args)
  }) as typeof Notification.requestPermission
  w.Notification = Recorded
  const start = OscillatorNode.prototype.start
  OscillatorNode.prototype.start = function (this: OscillatorNode, ...args: any[]) {
    w.__tones++
    return (start as any).apply(this, args)
  }
  let visibility: DocumentVisibilityState = 'visible'
  Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => visibility })
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => visibility !== 'visible' })
  w.__setVisibility = (v: DocumentVisibilityState) => {
    visibility = v
    document.dispatchEvent(new Event('visibilitychange'))
  }
}

const notifications = (page: Page): Promise<Array<{ title: string; body: string; tag: string }>> => page.evaluate(() => (window as any).__notifications)
const setVisibility = (page: Page, v: 'visible' | 'hidden') => page.evaluate((state) => (window as any).__setVisibility(state), v)
const titleIs = (page: Page, title: string) => page.waitForFunction((t) => document.title === t, title, { timeout: 10_000 })
const notified = (page: Page, body: string) =>
  page.waitForFunction((b) => (window as any).__notifications.some((n: any) => n.body === b), body, { timeout: 10_000 })

if (haveChromium('console alerts and ratings')) {
  describe('console alerts and ratings', () => {
    const suite = livedeskInChromium()

    /** Takes an operator out of routing, so the next test's chats go to its own operator. */
    async function retire(operatorId: string, context: BrowserContext): Promise<void> {
      await ok(suite.l, 'PUT', `/operators/${operatorId}/status`, { status: 'offline' })
      await context.close()
    }

    async function consolePage(token: string, grant: boolean): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
      const context = await suite.browser.newContext()
      if (grant) await context.grantPermissions(['notifications'], { origin: suite.l.url })
      await context.addInitScript(recorders)
      const { page, watch: { errors } } = await openConsole(context, suite.l.url, token)
      await page.waitForFunction(() => document.body.dataset.refetchedAt !== undefined)
      return { context, page, errors }
    }

    it('notifies, sounds and counts in the title while hidden; clears once visible and read; mute silences', async () => {
      const { l } = suite
      const op = await newOperator(l, 'Alma', 3)
      const { context, page, errors } = await consolePage(op.token, true)
      expect(await page.evaluate(() => Notification.permission)).toBe('granted')
      // Granted already: no banner, and nothing was asked on load.
      expect(await page.locator('[data-testid="notifications-banner"]').isHidden()).toBe(true)
      expect(await page.evaluate(() => (window as any).__permissionRequests)).toBe(0)
      // A gesture on the page unlocks Web Audio for later tones.
      await page.locator('#mine').click()

      // Hidden: a new chat and its first message.
      await setVisibility(page, 'hidden')
      const vera = await newClient(l, 'Vera')
      await ok(l, 'POST', `/clients/${vera.id}/messages`, { text: 'Is anyone there?' })
      await notified(page, 'Is anyone there?')
      expect((await notifications(page)).map((n) => n.title)).toContain('New chat: Vera')
      await titleIs(page, '(1) livedesk console')
      await ok(l, 'POST', `/clients/${vera.id}/messages`, { text: 'Hello?' })
      await notified(page, 'Hello?')
      await titleIs(page, '(2) livedesk console')
      expect((await notifications(page)).every((n) => n.tag.startsWith('livedesk-'))).toBe(true)
      expect(await page.evaluate(() => (window as any).__tones)).toBeGreaterThan(0)

      // Visible again: the count stays until the chat is read, then clears.
      await setVisibility(page, 'visible')
      expect(await page.title()).toBe('(2) livedesk console')
      await page.locator('#mine [data-session]', { hasText: 'Vera' }).click()
      await titleIs(page, 'livedesk console')

      // The open chat, hidden: a message counts (nobody saw it), and clears once visible.
      await setVisibility(page, 'hidden')
      await ok(l, 'POST', `/clients/${vera.id}/messages`, { text: 'Still there?' })
      await notified(page, 'Still there?')
      await titleIs(page, '(1) livedesk console')
      await setVisibility(page, 'visible')
      await titleIs(page, 'livedesk console')

      // Nothing while visible; muted: the title counts, but no notification (nor tone).
      const before = (await notifications(page)).length
      await ok(l, 'POST', `/clients/${vera.id}/messages`, { text: 'seen on screen' })
      await page.locator('#messages .msg.client', { hasText: 'seen on screen' }).waitFor()
      await page.locator('[data-testid="alerts-mute"]').check()
      await setVisibility(page, 'hidden')
      const tones = await page.evaluate(() => (window as any).__tones)
      await ok(l, 'POST', `/clients/${vera.id}/messages`, { text: 'muted one' })
      await titleIs(page, '(1) livedesk console')
      expect((await notifications(page)).length).toBe(before)
      expect(await page.evaluate(() => (window as any).__tones)).toBe(tones)
      expect(await page.evaluate(() => localStorage.getItem('livedesk.alertsMuted'))).toBe('1')
      expect(errors).toEqual([])
      await retire(op.id, context)
    })

    it('asks for notification permission only from the button', async () => {
      const op = await newOperator(suite.l, 'Bert', 3)
      const { context, page, errors } = await consolePage(op.token, false)
      const banner = page.locator('[data-testid="notifications-banner"]')
      await banner.waitFor()
      expect(await page.evaluate(() => (window as any).__permissionRequests)).toBe(0)
      await page.locator('[data-testid="notifications-enable"]').click()
      await page.waitForFunction(() => (window as any).__permissionRequests === 1)
      expect(errors).toEqual([])
      await retire(op.id, context)
    })

    it('shows the rating a client gives in the widget to the operator who closed the chat and to a supervisor', async () => {
      const { l, browser } = suite
      const op = await newOperator(l, 'Cleo', 3)
      const { page, errors } = await consolePage(op.token, true)
      // A supervisor who takes no chats watches.
      const sue = await ok(l, 'POST', '/operators', { name: 'Sue', maxChats: 0, role: 'supervisor' })
      const supervisor = await consolePage((await ok(l, 'POST', `/operators/${sue.id}/tokens`, {})).token, true)
      const { page: widget, watch: widgetWatch } = await openWidget(browser, l.url, 'Rosa')
      await sendText(widget, 'Can I change my order?')

      await page.locator('#mine [data-session]', { hasText: 'Rosa' }).click()
      await page.locator('#messages .msg.client', { hasText: 'Can I change my order?' }).waitFor()
      await sendText(page, 'Done, changed it for you')
      await widget.locator('#messages .msg.operator', { hasText: 'Done, changed it for you' }).waitFor()
      await page.locator('#close-chat').click()

      const form = widget.locator('[data-testid="rating-form"]')
      await form.waitFor()
      await form.locator('.star[data-score="4"]').click()
      await form.locator('textarea').fill('Fast, thanks')
      await form.locator('button[type="submit"]').click()
      await widget.locator('[data-testid="rating-thanks"]').waitFor()

      const shown = page.locator('[data-testid="chat-rating"][data-score="4"]')
      await shown.waitFor()
      expect(await shown.textContent()).toContain('4/5')
      expect(await shown.textContent()).toContain('Fast, thanks')
      await page.locator('#notice', { hasText: 'Rosa rated the chat 4/5' }).waitFor()
      await supervisor.page.locator('#notice', { hasText: 'rated the chat 4/5: “Fast, thanks”' }).waitFor()
      // After a reload the widget does not offer it again.
      await widget.reload()
      await widget.locator('#messages .msg.operator', { hasText: 'Done, changed it for you' }).waitFor()
      expect(await widget.locator('[data-testid="rating-form"]').isHidden()).toBe(true)
      expect([...errors, ...supervisor.errors, ...widgetWatch.errors]).toEqual([])
    })
  })
}

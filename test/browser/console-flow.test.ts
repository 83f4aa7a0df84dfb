/**
 * Issue 6, "What must be shown": an operator console and a client widget in two browser contexts
 * against a real in-process livedesk, including a server restart on the same port and data dir.
 */
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { haveChromium } from './chromium.js'
import { livedeskInChromium, openConsole, openWidget, sendText } from './console-pages.js'

// The README's screenshots are refreshed with UPDATE_SCREENSHOTS=1; other runs keep theirs out of git.
const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(process.env.UPDATE_SCREENSHOTS === '1' ? ['docs', 'screenshots'] : ['test-results', 'screenshots']))
// Short domain intervals so presence and typing settle in well under a second.
const DOMAIN = { clientPresenceGraceMs: 300, typingTtlMs: 4000, typingMinIntervalMs: 100, timerFirstAnswerSec: 1 }

async function call(l: { url: string }, method: string, path: string, body: unknown, token: string): Promise<any> {
  const res = await fetch(`${l.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return text ? JSON.parse(text) : undefined
}

/** Polls a page value until the matcher passes (Playwright waits and SDK reconnects take a few seconds at most). */
const poll = <T>(fn: () => Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 50 })

/** Text of the console's visible chat messages, in order. */
const texts = (page: Page) => page.locator('#messages .msg .text').allTextContents()

if (haveChromium('console and widget in a browser')) {
  describe('console and widget in a browser', () => {
    const suite = livedeskInChromium({ domain: DOMAIN } as never)

    it('carries a chat from the widget to the console and back, survives a restart, and throws the operator out', async () => {
      const { browser } = suite
      let l = suite.l
      const key = l.apiKey
      const operator = await call(l, 'POST', '/operators', { name: 'Olga', maxChats: 1 }, key)
      const { token } = await call(l, 'POST', `/operators/${operator.id}/tokens`, {}, key)

      // The operator's console on a laptop screen.
      const opContext = await browser.newContext({ viewport: { width: 1280, height: 800 } })
      const { page: op, watch: opWatch } = await openConsole(opContext, l.url, token)
      expect(await op.locator('#me-name').textContent()).toBe('Olga')
      expect(op.url()).not.toContain('token=')
      // The first connect loads the state over HTTP and says so.
      await poll(() => op.locator('#notice').textContent()).toMatch(/^Loaded 0 of your chats and 0 waiting/)

      // A first client fills Olga's only slot, so the next session waits in the queue.
      const warm = await call(l, 'POST', '/clients', { name: 'Warm-up' }, key)
      await call(l, 'POST', `/clients/${warm.id}/messages`, { text: 'first question' }, key)
      await op.locator('#mine [data-session]', { hasText: 'Warm-up' }).waitFor()

      // The visitor on a phone-sized widget.
      const clientContext = await browser.newContext({ viewport: { width: 400, height: 720 } })
      const { page: widget, watch: widgetWatch } = await openWidget(clientContext, l.url, 'Anna')
      await sendText(widget, 'Hello, I need help with my order')
      await widget.locator('#messages .msg.client', { hasText: 'Hello, I need help' }).waitFor()

      // The new session shows up in the queue, live. Olga opens it; Accept is refused while her only
      // slot is taken (the domain's rule) and the console says why.
      const queued = op.locator('#queue [data-session]', { hasText: 'Anna' })
      await queued.waitFor()
      await queued.locator('button').click()
      await op.locator('#messages .msg.client', { hasText: 'Hello, I need help' }).waitFor()
      opWatch.allow(/status of 409/)
      await op.locator('#accept:not([hidden])').click()
      await poll(() => op.locator('#notice').textContent()).toMatch(/Could not accept: .*maxChats/)
      // The warm-up client leaves: the queue hands Anna to Olga by itself, and the console moves her over.
      await call(l, 'POST', `/clients/${warm.id}/close`, {}, key)
      await op.locator('#mine [data-session]', { hasText: 'Anna' }).waitFor()
      await op.locator('#accept').waitFor({ state: 'hidden' })
      await op.locator('#messages .msg.client', { hasText: 'Hello, I need help' }).waitFor()
      expect(await op.locator('#chat-presence').textContent()).toBe('online')
      // The first-answer timer (1 s here) ran from the client's message and is now overdue.
      await poll(() => op.locator('#chat-timer').textContent()).toMatch(/^Answer overdue by 0:\d\d$/)
      expect(await op.locator('#chat-timer').getAttribute('class')).toContain('late')

      // Client typing with its draft shows in the console, and clears when the message is sent.
      await widget.locator('#text').pressSequentially('Where is my parcel', { delay: 20 })
      await poll(() => op.locator('#typing').textContent()).toContain('Anna is typing: Where is my parcel')
      await widget.locator('#text').press('Enter')
      await op.locator('#messages .msg.client', { hasText: 'Where is my parcel' }).waitFor()
      await op.locator('#typing').waitFor({ state: 'hidden' })

      // Operator typing (the typing RPC) shows in the widget; the reply arrives and clears it.
      await op.locator('#text').pressSequentially('We are on it', { delay: 20 })
      await widget.locator('#typing:not([hidden])').waitFor()
      await op.locator('#text').press('Enter')
      await widget.locator('#messages .msg.operator', { hasText: 'We are on it' }).waitFor()
      await widget.locator('#typing').waitFor({ state: 'hidden' })
      // The widget reads it: the console's tick turns into a read tick; the answer stopped the timer.
      await op.locator('#messages .msg.own .ticks.read').waitFor()
      expect(await op.locator('#chat-timer').textContent()).toBe('')

      // Olga edits her message (↑ in the empty composer); both sides show the edit.
      await op.locator('#text').press('ArrowUp')
      await op.locator('#editing:not([hidden])').waitFor()
      await op.locator('#text').fill('We are on it, Anna: the parcel left today')
      await op.locator('#text').press('Enter')
      await op.locator('#messages .msg.own .edited').waitFor()
      await widget.locator('#messages .msg.operator', { hasText: 'the parcel left today' }).locator('.edited').waitFor()
      expect(await texts(op)).toEqual(['Hello, I need help with my order', 'Where is my parcel', 'We are on it, Anna: the parcel left today'])

      // The server restarts on the same port and data dir: the console shows it reconnecting,
      // comes back by itself, refetches (the new process has no history to recover from) and shows the same state.
      opWatch.allow(/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/)
      widgetWatch.allow(/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/)
      const refetchedBefore = await op.evaluate(() => document.body.dataset.refetchedAt)
      await l.close()
      await op.locator('#conn[data-state="reconnecting"]').waitFor()
      l = await startTestLivedesk({ port: l.port, dataDir: l.dataDir, domain: DOMAIN } as never)
      suite.l = l
      await op.locator('#conn[data-state="connected"]').waitFor({ timeout: 15_000 })
      await poll(() => op.evaluate(() => document.body.dataset.refetchedAt)).not.toBe(refetchedBefore)
      expect(await op.locator('#notice').textContent()).toMatch(/reloaded/)
      expect(await texts(op)).toEqual(['Hello, I need help with my order', 'Where is my parcel', 'We are on it, Anna: the parcel left today'])
      expect(await op.locator('#mine [data-session]').allTextContents()).toEqual([expect.stringContaining('Anna')])
      await widget.locator('#conn[data-state="connected"]').waitFor({ timeout: 15_000 })
      await poll(() => op.locator('#chat-presence').textContent()).toBe('online')

      // Anna writes again: the next-answer timer runs; another visitor waits in the queue (Olga is full).
      await sendText(widget, 'Thanks! Can I also change the address?')
      await op.locator('#messages .msg.client', { hasText: 'change the address' }).waitFor()
      // Olga has the chat open, so it is read: the widget shows read ticks on Anna's message.
      await widget.locator('#messages .msg.client', { hasText: 'change the address' }).locator('.ticks.read').waitFor()
      await poll(() => op.locator('#chat-timer').textContent()).toMatch(/^Answer within [12]:\d\d$/)
      const tom = await call(l, 'POST', '/clients', { name: 'Tom Becker', channel: 'telegram' }, key)
      await call(l, 'POST', `/clients/${tom.id}/messages`, { text: 'Do you ship to Berlin?' }, key)
      await op.locator('#queue [data-session]', { hasText: 'Tom Becker' }).waitFor()

      mkdirSync(SCREENSHOTS, { recursive: true })
      await op.screenshot({ path: join(SCREENSHOTS, 'console.png') })
      await widget.screenshot({ path: join(SCREENSHOTS, 'widget.png') })

      // The visitor leaves: after the grace period the console shows the client offline.
      expect(widgetWatch.errors.join(' | ')).toBe('')
      await clientContext.close()
      await poll(() => op.locator('#chat-presence').textContent()).toBe('offline')

      // Olga closes the chat: her slot frees up and the queue hands Tom to her.
      await op.locator('#close-chat').click()
      await poll(() => op.locator('#chat-status').textContent()).toBe('closed')
      await op.locator('#mine [data-session]', { hasText: 'Tom Becker' }).waitFor()
      await op.locator('#queue [data-session]').waitFor({ state: 'detached' })

      // A second login of Olga throws this console out with chatUserExists.
      const second = await call(l, 'POST', `/operators/${operator.id}/tokens`, {}, key)
      await op.locator('#ended[data-kind="chatUserExists"]').waitFor()
      expect(await op.locator('#ended').textContent()).toMatch(/signed in as you elsewhere/)
      expect(await op.evaluate(() => sessionStorage.getItem('livedesk.operatorToken'))).toBeNull()

      // The second login works in two tabs; signing out in one shows operatorLoggedOut in the other.
      const { page: op2, watch: op2Watch } = await openConsole(opContext, l.url, second.token, 'second console')
      await op2.locator('#mine [data-session]', { hasText: 'Tom Becker' }).waitFor()
      const { page: tab, watch: tabWatch } = await openConsole(opContext, l.url, second.token, 'second tab')
      // Signed out once both consoles' first requests are answered: one still in flight in either (they share the
      // token) would be refused 401 by the sign-out.
      await tab.locator('#mine [data-session]', { hasText: 'Tom Becker' }).waitFor()
      await Promise.all([tabWatch.settled(), op2Watch.settled()])
      // From the sign-out on, the token both share is revoked: a request the other console starts before its
      // operatorLoggedOut arrives (a refresh of the groups, seen in CI) is rightly refused 401.
      op2Watch.allow(/status of 401/)
      await tab.locator('#logout').click()
      await op2.locator('#ended[data-kind="operatorLoggedOut"]').waitFor()
      expect(await op2.locator('#ended').textContent()).toMatch(/signed out/)

      // A third login, until Olga is blocked through the API.
      const third = await call(l, 'POST', `/operators/${operator.id}/tokens`, {}, key)
      await op2.locator('#token').fill(third.token)
      await op2.locator('#token').press('Enter')
      await op2.locator('#conn[data-state="connected"]').waitFor()
      await op2.locator('#mine [data-session]', { hasText: 'Tom Becker' }).waitFor()
      await call(l, 'POST', `/operators/${operator.id}/block`, { reason: 'end of the test' }, key)
      await op2.locator('#ended[data-kind="operatorBlocked"]').waitFor()
      expect(await op2.locator('#ended').textContent()).toMatch(/blocked.*end of the test/)
      expect(await op2.locator('#conn').getAttribute('data-state')).toBe('disconnected')

      expect([...opWatch.errors, ...op2Watch.errors, ...tabWatch.errors].join(' | ')).toBe('')
      await opContext.close()
    }, 90_000)
  })
}

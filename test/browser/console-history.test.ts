/**
 * Issue 16 item 4 in a browser: the open chat's "History" panel lists the client's earlier session and opens it
 * read-only; the search box finds a Russian word of that old session, highlights it, and opens the session.
 */
import { describe, expect, it } from 'vitest'
import { newClient, newOperator, ok } from '../http/e2e.js'
import { haveChromium } from './chromium.js'
import { livedeskInChromium, openConsole } from './console-pages.js'

if (haveChromium('client history and search in the console')) {
  describe('client history and search in the console', () => {
    const suite = livedeskInChromium()

    it('lists the earlier session, searches it and opens it read-only', async () => {
      const { l, browser } = suite
      const ann = await newOperator(l, 'Ann', 3)
      const client = await newClient(l, 'Vera')
      // an earlier conversation, taken over HTTP while no console is connected
      const { sessionId: old } = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'Где мой заказ номер 42?' })
      await ok(l, 'POST', `/sessions/${old}/accept`, undefined, ann.token)
      await ok(l, 'POST', `/sessions/${old}/messages`, { text: 'It left the warehouse today' }, ann.token)
      await ok(l, 'POST', `/sessions/${old}/close`, undefined, ann.token)
      const { sessionId: current } = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'Hello again' })

      const { page, watch } = await openConsole(browser, l.url, ann.token)
      // the new session reaches Ann (routed on connect) or waits in the queue: either list opens it
      await page.locator(`[data-session="${current}"] button.session`).first().click()
      await page.locator('#messages .msg.client', { hasText: 'Hello again' }).waitFor()

      const history = page.locator('[data-testid="history"]')
      await history.locator('summary', { hasText: 'History (1 earlier)' }).click()
      const item = history.locator(`[data-session="${old}"]`)
      expect(await item.getAttribute('data-status')).toBe('closed')
      expect(await item.textContent()).toContain('It left the warehouse today')
      await item.locator('button').click()
      const viewer = page.locator('[data-testid="session-viewer"]')
      await viewer.locator('.msg.client', { hasText: 'Где мой заказ номер 42?' }).waitFor()
      expect(await viewer.getAttribute('data-session')).toBe(old)
      expect(await viewer.locator('[data-testid="viewer-meta"]').textContent()).toContain('read-only')
      // read-only: the viewer has no composer
      expect(await viewer.locator('textarea, input').count()).toBe(0)
      await viewer.locator('[data-testid="viewer-close"]').click()
      await viewer.waitFor({ state: 'hidden' })

      await page.locator('[data-testid="search-q"]').fill('ЗАКАЗ')
      await page.locator('[data-testid="search-q"]').press('Enter')
      const hit = page.locator(`[data-testid="search-results"] [data-session="${old}"]`)
      await hit.waitFor()
      expect(await hit.locator('mark').textContent()).toBe('заказ')
      await hit.locator('button').click()
      await viewer.locator('.msg.found', { hasText: 'Где мой заказ номер 42?' }).waitFor()
      expect(await viewer.getAttribute('data-session')).toBe(old)
      // the live chat is untouched underneath
      expect(await page.locator('#messages').textContent()).toContain('Hello again')
      expect(watch.errors).toEqual([])
    })
  })
}

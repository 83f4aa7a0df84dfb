/** The built pages load in Chromium without errors, are usable by keyboard, and fit a phone. */
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { haveChromium, launchChromium, watchErrors } from './chromium.js'

if (haveChromium('web pages')) {
  describe('web pages', () => {
    let l: TestLivedesk
    let browser: Browser

    beforeAll(async () => {
      ;[l, browser] = await Promise.all([startTestLivedesk(), launchChromium()])
    })
    afterAll(async () => {
      await browser?.close()
    })

    it('serves the console with a sign-in form that a bad token cannot pass', async () => {
      const page = await browser.newPage()
      const watch = watchErrors(page, 'console')
      // The refused /me is the one error this test provokes.
      watch.allow(/status of 401/)
      await page.goto(`${l.url}/`)
      await expect(page.title()).resolves.toContain('livedesk')
      const token = page.locator('#token')
      await expect(token.evaluate((el) => el === document.activeElement)).resolves.toBe(true)
      await token.fill('not-a-token')
      await token.press('Enter')
      await page.locator('#signin-error:not([hidden])').waitFor()
      expect(await page.locator('#signin-error').textContent()).toMatch(/not valid/)
      expect(watch.errors).toEqual([])
      await page.close()
    })

    it('serves the widget at /widget, fitting a phone screen', async () => {
      const context = await browser.newContext({ viewport: { width: 375, height: 700 }, isMobile: true })
      const page = await context.newPage()
      const watch = watchErrors(page, 'widget')
      await page.goto(`${l.url}/widget`)
      await page.locator('#start:not([hidden])').waitFor()
      const width = await page.evaluate(() => document.documentElement.scrollWidth)
      expect(width).toBeLessThanOrEqual(375)
      expect(watch.errors).toEqual([])
      await context.close()
    })

    it('fits the console on a phone: the list, then the chat with a way back', async () => {
      const post = async (path: string, body: unknown) => {
        const res = await fetch(`${l.url}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${l.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
        expect(res.ok).toBe(true)
        return res.json()
      }
      const operator = await post('/operators', { name: 'Pavel' })
      const { token } = await post(`/operators/${operator.id}/tokens`, {})
      const context = await browser.newContext({ viewport: { width: 375, height: 700 }, isMobile: true })
      const page = await context.newPage()
      const watch = watchErrors(page, 'phone console')
      await page.goto(`${l.url}/?token=${encodeURIComponent(token)}`)
      await page.locator('#conn[data-state="connected"]').waitFor()
      const client = await post('/clients', { name: 'Lea Martin with a rather long name for a small screen' })
      await post(`/clients/${client.id}/messages`, { text: 'Bonjour! '.repeat(20) })
      const item = page.locator('#mine [data-session] button')
      await item.click()
      await page.locator('#chat:not([hidden])').waitFor()
      expect(await page.locator('.sidebar').isVisible()).toBe(false)
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375)
      await page.locator('#back').click()
      await item.waitFor()
      expect(await page.locator('.chat').isVisible()).toBe(false)
      expect(watch.errors).toEqual([])
      await context.close()
    })

    it('lets a visitor end the chat and start a new one, and remembers the visitor on reload', async () => {
      const context = await browser.newContext({ viewport: { width: 375, height: 700 } })
      const page = await context.newPage()
      const watch = watchErrors(page, 'widget')
      await page.goto(`${l.url}/widget`)
      await page.locator('#name').press('Enter')
      await page.locator('#conn[data-state="connected"]').waitFor()
      await page.locator('#close').waitFor({ state: 'hidden' })
      await page.locator('#text').fill('first chat')
      await page.locator('#text').press('Enter')
      await page.locator('#close:not([hidden])').click()
      await page.locator('#closed', { hasText: 'You closed this chat' }).waitFor()
      await page.locator('#close').waitFor({ state: 'hidden' })
      await page.locator('#text').fill('second chat')
      await page.locator('#text').press('Enter')
      await page.locator('#close:not([hidden])').waitFor()
      await page.reload()
      await page.locator('#conn[data-state="connected"]').waitFor()
      expect(await page.locator('#messages .msg .text').allTextContents()).toEqual(['first chat', 'second chat'])
      expect(watch.errors).toEqual([])
      await context.close()
    })
  })
}

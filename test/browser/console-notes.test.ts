/**
 * Issue 16 item 2 in a browser: the operator writes an internal note with the "Note" toggle; the console shows it
 * tinted and labelled, the widget page never shows it while it does show the next normal reply.
 */
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { newOperator, ok } from '../http/e2e.js'
import { haveChromium, launchChromium, watchErrors } from './chromium.js'

if (haveChromium('internal notes in the console')) {
  describe('internal notes in the console', () => {
    let l: TestLivedesk
    let browser: Browser
    beforeAll(async () => {
      ;[l, browser] = await Promise.all([startTestLivedesk({}), launchChromium()])
    })
    afterAll(async () => {
      await browser?.close()
      await l?.close()
    })

    it('shows a note tinted in the console and never in the widget', async () => {
      const { token } = await newOperator(l, 'Nora', 2)
      const op = await (await browser.newContext()).newPage()
      const opWatch = watchErrors(op, 'console')
      await op.goto(`${l.url}/?token=${encodeURIComponent(token)}`)
      await op.locator('#conn[data-state="connected"]').waitFor()

      const widget = await (await browser.newContext()).newPage()
      const widgetWatch = watchErrors(widget, 'widget')
      await widget.goto(`${l.url}/widget`)
      await widget.locator('#name').fill('Vera')
      await widget.locator('#name').press('Enter')
      await widget.locator('#conn[data-state="connected"]').waitFor()
      await widget.locator('#text').fill('Where is my refund?')
      await widget.locator('#text').press('Enter')

      await op.locator('#mine [data-session]', { hasText: 'Vera' }).click()
      await op.locator('#messages .msg.client', { hasText: 'Where is my refund?' }).waitFor()
      await op.locator('#note-toggle').check()
      await op.locator('#text').fill('Billing approved it yesterday')
      await op.locator('#text').press('Enter')
      const note = op.locator('#messages .msg.note', { hasText: 'Billing approved it yesterday' })
      await note.waitFor()
      expect(await note.getAttribute('data-internal')).toBe('true')
      expect(await note.locator('[data-testid="note-label"]').textContent()).toContain('Note')
      const tint = await note.evaluate((e) => getComputedStyle(e).backgroundColor)
      const plain = await op.locator('#messages .msg.client').first().evaluate((e) => getComputedStyle(e).backgroundColor)
      expect(tint).not.toBe(plain)

      await op.locator('#note-toggle').uncheck()
      await op.locator('#text').fill('Your refund is on its way')
      await op.locator('#text').press('Enter')
      await widget.locator('#messages .msg.operator', { hasText: 'Your refund is on its way' }).waitFor()
      expect(await widget.locator('#messages').textContent()).not.toContain('Billing approved')
      // and after a reload (the widget's history over HTTP)
      await widget.reload()
      await widget.locator('#messages .msg.operator', { hasText: 'Your refund is on its way' }).waitFor()
      expect(await widget.locator('#messages').textContent()).not.toContain('Billing approved')
      expect([...opWatch.errors, ...widgetWatch.errors]).toEqual([])
    })
  })
}

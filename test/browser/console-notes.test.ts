/**
 * Issue 16 item 2 in a browser: the operator writes an internal note with the "Note" toggle; the console shows it
 * tinted and labelled, the widget page never shows it while it does show the next normal reply.
 */
import { describe, expect, it } from 'vitest'
import { newOperator, ok } from '../http/e2e.js'
import { haveChromium } from './chromium.js'
import { livedeskInChromium, openConsole, openWidget, sendText } from './console-pages.js'

if (haveChromium('internal notes in the console')) {
  describe('internal notes in the console', () => {
    const suite = livedeskInChromium()

    it('shows a note tinted in the console and never in the widget', async () => {
      const { l, browser } = suite
      const { token } = await newOperator(l, 'Nora', 2)
      const { page: op, watch: opWatch } = await openConsole(browser, l.url, token)
      const { page: widget, watch: widgetWatch } = await openWidget(browser, l.url, 'Vera')
      await sendText(widget, 'Where is my refund?')

      await op.locator('#mine [data-session]', { hasText: 'Vera' }).click()
      await op.locator('#messages .msg.client', { hasText: 'Where is my refund?' }).waitFor()
      await op.locator('#note-toggle').check()
      await sendText(op, 'Billing approved it yesterday')
      const note = op.locator('#messages .msg.note', { hasText: 'Billing approved it yesterday' })
      await note.waitFor()
      expect(await note.getAttribute('data-internal')).toBe('true')
      expect(await note.locator('[data-testid="note-label"]').textContent()).toContain('Note')
      const tint = await note.evaluate((e) => getComputedStyle(e).backgroundColor)
      const plain = await op.locator('#messages .msg.client').first().evaluate((e) => getComputedStyle(e).backgroundColor)
      expect(tint).not.toBe(plain)

      await op.locator('#note-toggle').uncheck()
      await sendText(op, 'Your refund is on its way')
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

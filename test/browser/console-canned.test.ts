/**
 * Issue 16 item 3 in a browser: the operator types "/ref" in the composer, picks the suggested canned reply, the
 * text lands in the composer (editable), is sent, and the client's widget receives it; the manager adds a reply.
 */
import { describe, expect, it } from 'vitest'
import { newOperator, ok } from '../http/e2e.js'
import { haveChromium } from './chromium.js'
import { livedeskInChromium, openConsole, openWidget, sendText } from './console-pages.js'

if (haveChromium('canned replies in the console')) {
  describe('canned replies in the console', () => {
    const suite = livedeskInChromium()

    it('inserts a reply picked after "/ref" with Tab or Enter, and the widget receives it', async () => {
      const { l, browser } = suite
      const { token } = await newOperator(l, 'Olga', 2)
      await ok(l, 'POST', '/canned-replies', { shortcut: 'refund', title: 'Refund', text: 'Your refund is on its way.' }, token)
      await ok(l, 'POST', '/canned-replies', { shortcut: 'hello', title: 'Hello', text: 'Hello! How can I help?' })

      const { page: op, watch: opWatch } = await openConsole(browser, l.url, token)
      const { page: widget, watch: widgetWatch } = await openWidget(browser, l.url, 'Anna')
      await sendText(widget, 'I want my money back')

      const mine = op.locator('#mine [data-session]', { hasText: 'Anna' })
      await mine.waitFor()
      await mine.locator('button').first().click()
      await op.locator('#messages .msg.client', { hasText: 'money back' }).waitFor()

      // "/ref" suggests only /refund; Tab inserts its text in place of "/ref", and nothing is sent yet.
      await op.locator('#text').pressSequentially('Anna, /ref', { delay: 20 })
      const suggestions = op.locator('[data-testid="canned-suggestions"]:not([hidden]) li')
      await suggestions.first().waitFor()
      expect(await suggestions.allTextContents()).toEqual(['/refund Refund'])
      await op.locator('#text').press('Tab')
      expect(await op.locator('#text').inputValue()).toBe('Anna, Your refund is on its way.')
      await op.locator('[data-testid="canned-suggestions"]').waitFor({ state: 'hidden' })
      // The operator edits it, then Enter sends it; the widget receives the text.
      await op.locator('#text').press('End')
      await op.locator('#text').pressSequentially(' Today.', { delay: 10 })
      await op.locator('#text').press('Enter')
      await widget.locator('#messages .msg.operator', { hasText: 'Anna, Your refund is on its way. Today.' }).waitFor()

      // Enter on a suggestion inserts it (and does not send); the shared reply is offered too.
      await op.locator('#text').pressSequentially('/hel', { delay: 20 })
      await suggestions.first().waitFor()
      await op.locator('#text').press('Enter')
      expect(await op.locator('#text').inputValue()).toBe('Hello! How can I help?')
      await op.locator('#text').press('Enter')
      await widget.locator('#messages .msg.operator', { hasText: 'Hello! How can I help?' }).waitFor()

      // The manager adds a personal reply; the composer offers it at once.
      await op.locator('[data-testid="canned-open"]').click()
      const dialog = op.locator('[data-testid="canned-dialog"]')
      await dialog.locator('[data-testid="canned-list"] li', { hasText: '/refund' }).waitFor()
      await dialog.getByLabel('Shortcut').fill('ship')
      await dialog.getByLabel('Title').fill('Shipping')
      await dialog.getByLabel('Text').fill('It ships tomorrow.')
      await dialog.getByRole('button', { name: 'Save' }).click()
      await dialog.locator('[data-testid="canned-list"] li', { hasText: '/ship' }).waitFor()
      await dialog.getByRole('button', { name: 'Close' }).click()
      await op.locator('#text').pressSequentially('/sh', { delay: 20 })
      await suggestions.first().waitFor()
      await op.locator('#text').press('Tab')
      expect(await op.locator('#text').inputValue()).toBe('It ships tomorrow.')

      expect(opWatch.errors.join(' | ')).toBe('')
      expect(widgetWatch.errors.join(' | ')).toBe('')
    }, 60_000)
  })
}

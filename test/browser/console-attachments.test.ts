/**
 * Issue 16 item 1 in a browser: a PNG attached in the widget previews in the console (decoded, not a broken
 * image), one attached in the console previews in the widget, and a PDF shows as a download link with its name and
 * size; the files come through the pages' CSP (blob: previews) with no error.
 */
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { newOperator } from '../http/e2e.js'
import { haveChromium } from './chromium.js'
import { livedeskInChromium, openConsole, openWidget, sendText } from './console-pages.js'

/** A real 4×4 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGM4IWcDRwzEcQDgQxIh0JD36gAAAABJRU5ErkJggg==', 'base64')
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n')

/** Waits until the image of message `text` on `page` is decoded; returns its natural width. */
async function previewWidth(page: Page, author: string, text: string): Promise<number> {
  const img = page.locator(`#messages .msg.${author}`, { hasText: text }).locator('img[data-testid="attachment-image"]')
  await img.waitFor()
  await page.waitForFunction((e) => (e as HTMLImageElement).complete && (e as HTMLImageElement).naturalWidth > 0, await img.elementHandle(), { timeout: 15_000 })
  return img.evaluate((e) => (e as HTMLImageElement).naturalWidth)
}

if (haveChromium('attachments in the console and the widget')) {
  describe('attachments in the console and the widget', () => {
    const suite = livedeskInChromium()

    it('previews a PNG from the widget in the console and one from the console in the widget', async () => {
      const { l, browser } = suite
      const { token } = await newOperator(l, 'Ivy', 2)
      const { page: op, watch: opWatch } = await openConsole(browser, l.url, token)
      const { page: widget, watch: widgetWatch } = await openWidget(browser, l.url, 'Rosa')

      // the widget attaches a screenshot: it uploads at once, then goes with the message
      await widget.locator('#file').setInputFiles({ name: 'screenshot.png', mimeType: 'image/png', buffer: PNG })
      await widget.locator('[data-testid="pending-file"][data-state="done"]').waitFor()
      await sendText(widget, 'the error I get')
      await widget.locator('#pending').waitFor({ state: 'hidden' })
      expect(await previewWidth(widget, 'client', 'the error I get')).toBe(4)

      await op.locator('#mine [data-session]', { hasText: 'Rosa' }).click()
      expect(await previewWidth(op, 'client', 'the error I get')).toBe(4)
      // a click opens the full image
      const [opened] = await Promise.all([op.context().waitForEvent('page'), op.locator('#messages .msg.client img[data-testid="attachment-image"]').click()])
      expect(opened.url()).toMatch(/^blob:/)
      await opened.close()

      // the operator answers with an image and no caption, then a PDF
      await op.locator('#file').setInputFiles({ name: 'fix.png', mimeType: 'image/png', buffer: PNG })
      await op.locator('[data-testid="pending-file"][data-state="done"]').waitFor()
      await op.locator('#send').click()
      await op.locator('#pending').waitFor({ state: 'hidden' })
      const fromOperator = widget.locator('#messages .msg.operator img[data-testid="attachment-image"]')
      await fromOperator.waitFor()
      await widget.waitForFunction((e) => (e as HTMLImageElement).complete && (e as HTMLImageElement).naturalWidth === 4, await fromOperator.elementHandle(), { timeout: 15_000 })

      await op.locator('#file').setInputFiles({ name: 'invoice.pdf', mimeType: 'application/pdf', buffer: PDF })
      await op.locator('[data-testid="pending-file"][data-state="done"]').waitFor()
      await sendText(op, 'your invoice')
      const link = widget.locator('#messages .msg.operator', { hasText: 'your invoice' }).locator('[data-testid="attachment-file"]')
      await link.waitFor()
      expect(await link.textContent()).toBe(`invoice.pdf · ${PDF.length} B`)
      const [download] = await Promise.all([widget.waitForEvent('download'), link.click()])
      expect(download.suggestedFilename()).toBe('invoice.pdf')

      // a refused file says why in the strip and is never sent (the browser logs the 415 it got)
      widgetWatch.allow(/status of 415/)
      await widget.locator('#file').setInputFiles({ name: 'tool.exe', mimeType: 'application/x-msdownload', buffer: Buffer.from('MZ') })
      await widget.locator('[data-testid="pending-file"][data-state="failed"]', { hasText: 'not accepted' }).waitFor()

      expect([...opWatch.errors, ...widgetWatch.errors]).toEqual([])
    })
  })
}

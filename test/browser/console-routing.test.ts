/**
 * Issue 15, "Browser tests": the status switch (an operator goes away and a new chat goes to the other), the transfer
 * dialog (the chat moves from one console to another with the note visible, a refused target shown), and the
 * supervisor view updating live. Real livedesk, real Chromium, the console as built into web/dist.
 */
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { newClient, newOperator, ok } from '../http/e2e.js'
import { haveChromium, launchChromium, watchErrors } from './chromium.js'

// Refreshed in docs/screenshots with UPDATE_SCREENSHOTS=1, as console-flow.test.ts does.
const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(process.env.UPDATE_SCREENSHOTS === '1' ? ['docs', 'screenshots'] : ['test-results', 'screenshots']))

const poll = <T>(fn: () => Promise<T>) => expect.poll(fn, { timeout: 15_000, interval: 50 })

/** A client writes, which starts its session and routes it. */
async function clientWrites(l: TestLivedesk, name: string, text: string): Promise<{ id: string }> {
  const client = await newClient(l, name)
  await ok(l, 'POST', `/clients/${client.id}/messages`, { text })
  return client
}

if (haveChromium('console routing in a browser')) {
  describe('console: status, transfers and the supervisor view in a browser', () => {
    let l: TestLivedesk
    let browser: Browser
    const watches: Array<ReturnType<typeof watchErrors>> = []

    /**
     * Three servers, started together: routing is global, so the away case needs one of its own (by load), the
     * supervisor case short auto-offline timers; transfers and group queues share one (a grouped session goes to
     * its members only).
     */
    let servers: TestLivedesk[] = []
    beforeAll(async () => {
      const start = (domain: Record<string, number> = {}) => startTestLivedesk({ domain: { clientPresenceGraceMs: 300, ...domain } } as never)
      ;[browser, ...servers] = await Promise.all([launchChromium(), start(), start(), start({ operatorAutoOfflineAfterMs: 600, timerSweepMs: 100 })]) as [Browser, ...TestLivedesk[]]
    }, 90_000)
    const server = (i: number) => {
      l = servers[i]!
    }
    afterAll(async () => {
      await browser?.close()
    })

    /** A signed-in, connected console whose first load is done. */
    async function consoleOf(op: { token: string; name: string }): Promise<{ page: Page; watch: ReturnType<typeof watchErrors> }> {
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
      const watch = watchErrors(page, `console of ${op.name}`)
      watches.push(watch)
      await page.goto(`${l.url}/?token=${encodeURIComponent(op.token)}`)
      await page.locator('#conn[data-state="connected"]').waitFor({ timeout: 15_000 })
      await page.waitForFunction(() => !!document.body.dataset.refetchedAt)
      expect(await page.locator('#me-name').textContent()).toBe(op.name)
      return { page, watch }
    }

    const mine = (page: Page, name: string) => page.locator('#mine [data-session]', { hasText: name })

    it('an operator who goes away keeps her chats, and a new chat goes to the other', async () => {
      server(0)
      // Petr holds two chats, Olga one: by load the next chat would be Olga's.
      const petr = await newOperator(l, 'Petr', 3)
      const { page: petrPage } = await consoleOf(petr)
      await clientWrites(l, 'Pia', 'first for Petr')
      await clientWrites(l, 'Paul', 'second for Petr')
      await mine(petrPage, 'Pia').waitFor()
      await mine(petrPage, 'Paul').waitFor()
      const olga = await newOperator(l, 'Olga', 3)
      const { page: olgaPage } = await consoleOf(olga)
      expect(await olgaPage.locator('#my-status').inputValue()).toBe('online')
      await clientWrites(l, 'Anna', 'for Olga')
      await mine(olgaPage, 'Anna').waitFor()

      // Olga switches to away in her console.
      await olgaPage.locator('#my-status').selectOption('away')
      await olgaPage.locator('#my-status[data-status="away"]').waitFor()
      await poll(() => olgaPage.locator('#notice').textContent()).toMatch(/You are away/)
      expect((await ok(l, 'GET', '/me', undefined, olga.token)).status).toBe('away')

      // A new chat goes to Petr; Olga keeps Anna and sees nothing new.
      await clientWrites(l, 'Nina', 'who takes me?')
      await mine(petrPage, 'Nina').waitFor()
      expect(await olgaPage.locator('#mine [data-session]').allTextContents()).toEqual([expect.stringContaining('Anna')])
      expect(await olgaPage.locator('#queue [data-session]').count()).toBe(0)

      // Back online, she takes the next one again (her load is the lowest).
      await olgaPage.locator('#my-status').selectOption('online')
      await olgaPage.locator('#my-status[data-status="online"]').waitFor()
      await clientWrites(l, 'Oleg', 'and me?')
      await mine(olgaPage, 'Oleg').waitFor()
      expect(await mine(petrPage, 'Oleg').count()).toBe(0)
    }, 90_000)

    it('a transfer moves the chat from one console to another with the note visible; a refused target is explained', async () => {
      server(1)
      const olga = await newOperator(l, 'Olga T', 2)
      const { page: olgaPage, watch: olgaWatch } = await consoleOf(olga)
      await clientWrites(l, 'Anna T', 'I was charged twice')
      await mine(olgaPage, 'Anna T').waitFor()
      // Created after the routing, so the chat is surely Olga's; Ivan is blocked and cannot take chats.
      const petr = await newOperator(l, 'Petr T', 2)
      const ivan = await newOperator(l, 'Ivan T', 2)
      await ok(l, 'POST', `/operators/${ivan.id}/block`, { reason: 'on leave' })
      const { page: petrPage } = await consoleOf(petr)

      await mine(olgaPage, 'Anna T').locator('button').click()
      await olgaPage.locator('#messages .msg.client', { hasText: 'I was charged twice' }).waitFor()
      await olgaPage.locator('#transfer:not([hidden])').click()
      await olgaPage.locator('#transfer-dialog[open]').waitFor()
      // An operator's dialog lists the colleagues with their status and load (GET /operators/status).
      expect(await olgaPage.locator(`#transfer-target option[value="operator:${petr.id}"]`).textContent()).toBe('Petr T (online, 0/2)')
      await olgaPage.locator('#transfer-target').selectOption(`operator:${ivan.id}`)
      const note = 'Charged twice on 12 May; billing approved the refund'
      await olgaPage.locator('#transfer-note').fill(note)
      mkdirSync(SCREENSHOTS, { recursive: true })
      await olgaPage.screenshot({ path: join(SCREENSHOTS, 'console-transfer.png') })
      olgaWatch.allow(/status of 409/)
      await olgaPage.locator('#transfer-submit').click()
      await poll(() => olgaPage.locator('#transfer-error').textContent()).toMatch(/^Ivan T cannot take this chat now \(.+\)\. Pick someone who is online/)
      // Refused: the dialog stays open and the chat stays Olga's.
      expect(await olgaPage.locator('#transfer-dialog').getAttribute('open')).not.toBeNull()
      expect(await mine(olgaPage, 'Anna T').count()).toBe(1)

      await olgaPage.locator('#transfer-target').selectOption(`operator:${petr.id}`)
      await olgaPage.locator('#transfer-submit').click()
      await olgaPage.locator('#transfer-dialog').waitFor({ state: 'hidden' })
      await mine(olgaPage, 'Anna T').waitFor({ state: 'detached' })
      await poll(() => olgaPage.locator('#notice').textContent()).toMatch(/transferred the chat with Anna T to/)
      expect(await olgaPage.locator('#chat').isHidden()).toBe(true)

      // Petr's console gets it live, says who sent it with the note, and shows the note on the chat.
      await mine(petrPage, 'Anna T').waitFor()
      await poll(() => petrPage.locator('#notice').textContent()).toBe(`Olga T transferred the chat with Anna T to you: “${note}”`)
      await mine(petrPage, 'Anna T').locator('button').click()
      await petrPage.locator('#messages .msg.client', { hasText: 'I was charged twice' }).waitFor()
      expect(await petrPage.locator('#chat-transfer').textContent()).toBe(`Transferred by Olga T: “${note}”`)
      // He can answer at once.
      await petrPage.locator('#text').fill('Refund is on its way')
      await petrPage.locator('#text').press('Enter')
      await petrPage.locator('#messages .msg.own', { hasText: 'Refund is on its way' }).waitFor()
    }, 90_000)

    it('shows a queue for each group of mine apart from the shared one; going online takes from it', async () => {
      server(1)
      const gina = await newOperator(l, 'Gina G', 2)
      const billing = await ok(l, 'POST', '/groups', { name: 'Billing' })
      await ok(l, 'POST', '/groups', { name: 'Sales' })
      await ok(l, 'PUT', `/groups/${billing.id}/operators`, { operatorIds: [gina.id] }, undefined, [200])
      const { page } = await consoleOf(gina)
      // Her one group's queue, by name, beside the shared queue; Sales is not hers.
      const billingQueue = page.locator(`#group-queues [data-group-queue="${billing.id}"]`)
      await poll(() => billingQueue.locator('h2').textContent()).toBe('Queue · Billing 0')
      expect(await page.locator('#group-queues [data-group-queue]').count()).toBe(1)

      await page.locator('#my-status').selectOption('away')
      await page.locator('#my-status[data-status="away"]').waitFor()
      const bill = await newClient(l, 'Bill G')
      await ok(l, 'POST', `/clients/${bill.id}/messages`, { text: 'a question about my invoice', group: 'Billing' })
      await billingQueue.locator('[data-session]', { hasText: 'Bill G' }).waitFor()
      expect(await billingQueue.locator('h2').textContent()).toBe('Queue · Billing 1')
      expect(await page.locator('#queue [data-session]').count()).toBe(0)

      // Online again: Billing's queue drains to her.
      await page.locator('#my-status').selectOption('online')
      await mine(page, 'Bill G').waitFor()
      await billingQueue.locator('[data-session]').waitFor({ state: 'detached' })
    }, 90_000)

    it('the supervisor view shows every open chat with its holder and every operator\'s status and load, updating live', async () => {
      // Auto-offline soon after a console closes (the other timers at their defaults, far away).
      server(2)
      const olga = await newOperator(l, 'Olga S', 2)
      const { page: olgaPage } = await consoleOf(olga)
      const sam = await ok(l, 'POST', '/operators', { name: 'Sam S', maxChats: 2, role: 'supervisor' })
      const samToken = (await ok(l, 'POST', `/operators/${sam.id}/tokens`, {})).token as string
      const { page: samPage } = await consoleOf({ token: samToken, name: 'Sam S' })
      await samPage.locator('#supervisor:not([hidden])').waitFor()
      // Sam supervises and takes no chats himself today.
      await samPage.locator('#my-status').selectOption('away')
      await samPage.locator('#team [data-operator][data-status="away"]', { hasText: 'Sam S' }).waitFor()
      const olgaRow = samPage.locator(`#team [data-operator="${olga.id}"]`)
      await olgaRow.waitFor()
      expect(await olgaRow.getAttribute('data-status')).toBe('online')
      expect(await olgaRow.locator('[data-testid="detail"]').textContent()).toBe('online · connected')

      // A client writes: the chat appears in Sam's view with its holder, and Olga's load goes up, live.
      await clientWrites(l, 'Anna S', 'hello supervisors')
      await mine(olgaPage, 'Anna S').waitFor()
      const annaRow = samPage.locator('#all-sessions [data-session]', { hasText: 'Anna S' })
      await poll(() => annaRow.locator('[data-testid="holder"]').textContent()).toBe('→ Olga S')
      await poll(() => olgaRow.getAttribute('data-load')).toBe('1')
      expect(await olgaRow.locator('[data-testid="load"]').textContent()).toBe('1/2')

      // Olga goes away in her console: Sam sees it at once.
      await olgaPage.locator('#my-status').selectOption('away')
      await poll(() => olgaRow.getAttribute('data-status')).toBe('away')

      mkdirSync(SCREENSHOTS, { recursive: true })
      await samPage.screenshot({ path: join(SCREENSHOTS, 'console-supervisor.png') })

      // Sam transfers Anna from Olga back to the queue (nobody is online), then closes it.
      await annaRow.locator('[data-action="transfer"]').click()
      await samPage.locator('#transfer-dialog[open]').waitFor()
      await samPage.locator('#transfer-target').selectOption('queue')
      await samPage.locator('#transfer-note').fill('Olga is away; next one online please')
      await samPage.locator('#transfer-submit').click()
      await samPage.locator('#transfer-dialog').waitFor({ state: 'hidden' })
      await poll(() => annaRow.locator('[data-testid="holder"]').textContent()).toBe('queue')
      await mine(olgaPage, 'Anna S').waitFor({ state: 'detached' })
      await poll(() => olgaRow.getAttribute('data-load')).toBe('0')

      await annaRow.locator('[data-action="close"]').click()
      await annaRow.waitFor({ state: 'detached' })

      // Olga closes her laptop: the timers set her offline, and Sam sees it marked as automatic.
      await olgaPage.context().close()
      await poll(() => olgaRow.getAttribute('data-status')).toBe('offline')
      expect(await olgaRow.locator('[data-testid="detail"]').textContent()).toBe('offline (auto) · not connected')

      expect(watches.flatMap((w) => w.errors).join(' | ')).toBe('')
    }, 90_000)
  })
}

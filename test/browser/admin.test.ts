/**
 * Issue 14, item 1: the admin page in Chromium against a real in-process livedesk. It signs in with the API key,
 * creates an operator, hands out a console sign-in link, sees the console's connection in the live figures,
 * publishes a test event seen by the console and by the tail, and blocks and logs operators out.
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { haveChromium, launchChromium, watchErrors } from './chromium.js'

/** Polls a page value until the matcher passes; the page refreshes every 200 ms (`?poll=200`). */
const poll = <T>(fn: () => Promise<T>) => expect.poll(fn, { timeout: 15_000, interval: 50 })

async function call(l: TestLivedesk, method: string, path: string): Promise<any> {
  const res = await fetch(`${l.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${l.apiKey}` } })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return res.json()
}

async function send(l: TestLivedesk, path: string, body: unknown): Promise<any> {
  const res = await fetch(`${l.url}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${l.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`)
  return res.json()
}

/** The operator's row on the admin page. */
const row = (admin: Page, id: string) => admin.locator(`#operators tr[data-operator="${id}"]`)

if (haveChromium('admin page in a browser')) {
  describe('admin page in a browser', () => {
    let l: TestLivedesk
    let browser: Browser

    beforeAll(async () => {
      ;[l, browser] = await Promise.all([startTestLivedesk(), launchChromium()])
    })
    afterAll(async () => {
      await browser?.close()
    })

    it('runs the operators, the figures, the tail and the publish form through the public APIs', async () => {
      const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } })
      const admin = await adminContext.newPage()
      const adminWatch = watchErrors(admin, 'admin')
      const adminPage = await admin.goto(`${l.url}/admin?poll=200`)
      // The console's CSP: own scripts only, never framed.
      expect(adminPage!.headers()['content-security-policy']).toContain("frame-ancestors 'none'")
      expect(adminPage!.headers()['content-security-policy']).toContain("script-src 'self'")

      // A wrong key is refused (the browser logs that 401); the right one signs in and stays in sessionStorage, never in the URL.
      adminWatch.allow(/status of 401/)
      await admin.locator('#api-key').fill('not-the-key')
      await admin.locator('#api-key').press('Enter')
      await poll(() => admin.locator('#signin-error').textContent()).toMatch(/not the API key/)
      await admin.locator('#api-key').fill(l.apiKey)
      await admin.locator('#api-key').press('Enter')
      await admin.locator('#app').waitFor()
      expect(admin.url()).not.toContain(l.apiKey)
      expect(await admin.evaluate(() => sessionStorage.getItem('livedesk.apiKey'))).toBe(l.apiKey)
      await poll(() => admin.locator('#fig-connections').textContent()).toBe('0')

      // Create an operator from the form.
      await admin.locator('#new-name').fill('Olga')
      await admin.locator('#new-max').fill('2')
      await admin.locator('#new-name').press('Enter')
      const olgaRow = admin.locator('#operators tr', { hasText: 'Olga' })
      await olgaRow.waitFor()
      const id = (await olgaRow.getAttribute('data-operator'))!
      expect((await call(l, 'GET', `/operators/${id}`)).maxChats).toBe(2)

      // Edit maxChats.
      await row(admin, id).locator('[data-testid="max-chats"]').fill('3')
      await row(admin, id).locator('[data-action="save"]').click()
      await poll(async () => (await call(l, 'GET', `/operators/${id}`)).maxChats).toBe(3)

      // A sign-in link opens the console signed in; the token never travels in a request URL.
      await row(admin, id).locator('[data-action="sign-in-link"]').click()
      await poll(() => admin.locator('#link').inputValue()).toMatch(new RegExp(`^${l.url}/#token=.+`))
      const link = await admin.locator('#link').inputValue()
      const token = decodeURIComponent(link.split('#token=')[1]!)
      const opContext = await browser.newContext({ viewport: { width: 1280, height: 800 } })
      const op = await opContext.newPage()
      const opWatch = watchErrors(op, 'console')
      const requested: string[] = []
      op.on('request', (r) => requested.push(r.url()))
      await op.goto(link)
      await op.locator('#conn[data-state="connected"]').waitFor()
      expect(await op.locator('#me-name').textContent()).toBe('Olga')
      expect(op.url()).toBe(`${l.url}/`)
      expect(requested.length).toBeGreaterThan(0)
      expect(requested.filter((u) => u.includes(token) || u.includes(encodeURIComponent(token)))).toEqual([])

      // Its connection shows in the live figures: one connection, the operator online, its channel with a subscriber.
      await poll(() => admin.locator('#fig-connections').textContent()).toBe('1')
      await poll(() => row(admin, id).getAttribute('data-online')).toBe('true')
      await admin.locator('#channels').evaluate((e) => e.closest('details')!.setAttribute('open', ''))
      await poll(() => admin.locator(`#channels tr[data-channel="operator:${id}"] td.num`).textContent()).toBe('1')
      await poll(() => admin.locator('#fig-nodes').textContent()).toBe('1')

      // A client writes: Olga gets the session, and the figures show it held, per operator and in total.
      const client = await send(l, '/clients', { name: 'Anna' })
      await send(l, `/clients/${client.id}/messages`, { text: 'Hello' })
      await poll(() => row(admin, id).locator('[data-testid="open-sessions"]').textContent()).toBe('1')
      await poll(() => admin.locator('#fig-assigned').textContent()).toBe('1')
      await poll(() => admin.locator('#fig-queue').textContent()).toBe('0')

      // Tail the operator's channel, then publish a test event to it: the console and the tail both show it.
      await row(admin, id).locator('[data-action="watch"]').click()
      await poll(() => admin.locator('#tail-state').getAttribute('data-watching')).toBe(`operator:${id}`)
      await admin.locator('#publish-channel').fill(`operator:${id}`)
      await admin.locator('#publish-data').fill(JSON.stringify({ event: 'adminNotice', data: { text: 'Fire drill at 3' } }))
      await admin.locator('#publish-form button[type="submit"]').click()
      await poll(() => admin.locator('#publish-result').textContent()).toMatch(/^Published/)
      await poll(() => op.locator('#notice').textContent()).toBe('From the administrators: Fire drill at 3')
      await poll(() => admin.locator('#tail li').allTextContents()).toContainEqual(expect.stringContaining('Fire drill at 3'))

      // Malformed JSON is refused on the page, before any request.
      await admin.locator('#publish-data').fill('{oops')
      await admin.locator('#publish-form button[type="submit"]').click()
      await poll(() => admin.locator('#publish-result').textContent()).toMatch(/not JSON/)

      // Block: the console is thrown out, the row says blocked, the connection leaves the figures.
      await row(admin, id).locator('[data-action="block"]').click()
      await op.locator('#ended[data-kind="operatorBlocked"]').waitFor()
      await poll(() => row(admin, id).getAttribute('data-blocked')).toBe('true')
      await poll(() => admin.locator('#fig-connections').textContent()).toBe('0')
      // Her session went back to the queue.
      await poll(() => admin.locator('#fig-queue').textContent()).toBe('1')
      await poll(() => row(admin, id).locator('[data-testid="open-sessions"]').textContent()).toBe('0')
      expect(await op.evaluate(() => sessionStorage.getItem('livedesk.operatorToken'))).toBeNull()

      // Unblock, a new link, then "Log out" from the admin page ends that console session too.
      await row(admin, id).locator('[data-action="unblock"]').click()
      await poll(() => row(admin, id).getAttribute('data-blocked')).toBe('false')
      await admin.locator('#link').evaluate((e) => ((e as HTMLInputElement).value = ''))
      await row(admin, id).locator('[data-action="sign-in-link"]').click()
      await poll(() => admin.locator('#link').inputValue()).toMatch(/#token=/)
      await op.goto(await admin.locator('#link').inputValue())
      await op.locator('#conn[data-state="connected"]').waitFor()
      await poll(() => row(admin, id).getAttribute('data-online')).toBe('true')
      await row(admin, id).locator('[data-action="log-out"]').click()
      await op.locator('#ended[data-kind="operatorLoggedOut"]').waitFor()
      await poll(() => row(admin, id).getAttribute('data-online')).toBe('false')

      expect([...adminWatch.errors, ...opWatch.errors]).toEqual([])
      await Promise.all([adminContext.close(), opContext.close()])
    }, 90_000)

    it('answers the admin routes of /api/v1 with clear errors', async () => {
      const post = (path: string, key: string, body: unknown) =>
        fetch(`${l.url}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      const unknown = await post('/operators/nobody/logout', l.apiKey, {})
      expect(unknown.status).toBe(404)
      expect((await unknown.json()).error.code).toBe('not_found')
      const wrongKey = await post('/operators/nobody/logout', 'wrong', {})
      expect(wrongKey.status).toBe(401)
      const op = await (await post('/operators', l.apiKey, { name: 'Pia' })).json()
      const extra = await post(`/operators/${op.id}/logout`, l.apiKey, { reason: 'x', extra: 1 })
      expect(extra.status).toBe(400)
      const figures = await call(l, 'GET', '/figures')
      // Anna's one open session from the first test: held by Olga or back in the queue, depending on Olga's last login.
      expect(figures.queued + figures.assigned).toBe(1)
      expect(figures).toEqual({ queued: expect.any(Number), assigned: expect.any(Number), bot: 0, busyOperators: figures.assigned })
      const noKey = await fetch(`${l.url}/api/v1/figures`)
      expect(noKey.status).toBe(401)
    })
  })
}

/**
 * Issue 13: a console behind a proxy that refuses WebSocket upgrades falls back by itself to HTTP-streaming
 * and shows every live event. The proxy is a small HTTP proxy on loopback in the test: it answers every
 * `Upgrade` with 403 and forwards everything else, streaming responses as they come.
 */
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { newClient, newOperator, ok } from '../http/e2e.js'
import { haveChromium, launchChromium, watchErrors } from './chromium.js'

/** Forwards HTTP to `target` (bodies streamed both ways); refuses every WebSocket upgrade. */
function upgradeRefusingProxy(target: URL): Promise<{ url: string; refused: () => number; close: () => Promise<void> }> {
  let refused = 0
  const server: Server = createServer((req, res) => {
    const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  })
  server.on('upgrade', (_req, socket) => {
    refused++
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    refused: () => refused,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }),
  })))
}

if (haveChromium('console falls back from WebSocket')) {
  describe('console behind a proxy that refuses WebSocket', () => {
    let l: TestLivedesk
    let browser: Browser
    let proxy: Awaited<ReturnType<typeof upgradeRefusingProxy>>

    beforeAll(async () => {
      ;[l, browser] = await Promise.all([startTestLivedesk({ domain: { clientPresenceGraceMs: 300 } } as never), launchChromium()])
      proxy = await upgradeRefusingProxy(new URL(l.url))
    }, 60_000)
    afterAll(async () => {
      await browser?.close()
      await proxy?.close()
    })

    it('connects over HTTP-streaming and shows the queue, the chat and its messages live', async () => {
      const operator = await newOperator(l, 'Olga', 2)
      const page = await (await browser.newContext()).newPage()
      const watch = watchErrors(page, 'console')
      // The refused upgrade is the point of the test; Chromium logs it.
      watch.allow(/WebSocket connection to .* failed/)
      await page.goto(`${proxy.url}/?token=${encodeURIComponent(operator.token)}`)
      await page.locator('#conn[data-state="connected"]').waitFor({ timeout: 15_000 })
      expect(proxy.refused()).toBeGreaterThan(0)
      // Only emulated transports have a session: the console's connection is one of them.
      const sessions = [...l.node.hub.sessions.values()]
      expect(sessions).toHaveLength(1)
      expect(sessions[0].user).toContain(operator.id)

      // Live events: a new client's chat reaches Olga (routing), then its messages, all through the stream.
      const client = await newClient(l, 'Anna')
      await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'Hello over a stream' })
      await page.locator('#mine [data-session], #queue [data-session]', { hasText: 'Anna' }).first().waitFor()
      await page.locator('#mine [data-session], #queue [data-session]', { hasText: 'Anna' }).first().locator('button').first().click().catch(() => {})
      await page.locator('#messages .msg.client', { hasText: 'Hello over a stream' }).waitFor()
      await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'A second message' })
      await page.locator('#messages .msg.client', { hasText: 'A second message' }).waitFor()
      expect(watch.errors).toEqual([])
    })
  })
}

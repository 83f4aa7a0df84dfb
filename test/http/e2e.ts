/** End-to-end helpers: the HTTP API in, the real `centrifuge` SDK out, through a real livedesk. */
import { randomUUID } from 'node:crypto'
import type { Centrifuge } from 'centrifuge'
import { expect } from 'vitest'
import type { Livedesk } from '../../src/main.js'
import { newSdk, nextEvent } from '../helpers/sdk.js'

export async function api(l: Livedesk, method: string, path: string, body?: unknown, token: string | null = l.apiKey): Promise<{ status: number; body: any }> {
  const res = await fetch(`${l.url}/api/v1${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

/** `api`, failing the test unless the status is the expected one. */
export async function ok(l: Livedesk, method: string, path: string, body?: unknown, token?: string | null, status = method === 'POST' ? [200, 201, 202, 204] : [200]) {
  const res = await api(l, method, path, body, token === undefined ? l.apiKey : token)
  if (!status.includes(res.status)) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

export async function newOperator(l: Livedesk, name: string, maxChats?: number): Promise<{ id: string; token: string; name: string }> {
  const op = await ok(l, 'POST', '/operators', { name, ...(maxChats !== undefined ? { maxChats } : {}) })
  const { token } = await ok(l, 'POST', `/operators/${op.id}/tokens`, {})
  return { id: op.id, token, name }
}

export async function newClient(l: Livedesk, name = 'Ann'): Promise<{ id: string; chatId: string; token: string }> {
  return ok(l, 'POST', '/clients', { name })
}

/** A connected SDK that records every publication's `data` (an event envelope). */
export interface Console {
  sdk: Centrifuge
  events: any[]
  /** Waits for an envelope with this `event` (and matching `match`). */
  next(event: string, match?: (e: any) => boolean, timeoutMs?: number): Promise<any>
  names(): string[]
  close(): void
}

/** Connects with the seed's options: `data: { application, settings: { token } }`. */
export async function connect(l: Livedesk, application: 'notifications' | 'widget', token: string): Promise<Console> {
  const sdk = newSdk(l.wsUrl, { data: { application, settings: { token } } })
  const events: any[] = []
  const waiters: Array<{ event: string; match: (e: any) => boolean; resolve: (e: any) => void }> = []
  sdk.on('publication', (ctx) => {
    events.push(ctx.data)
    for (const w of [...waiters]) {
      if (ctx.data?.event === w.event && w.match(ctx.data)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(ctx.data)
      }
    }
  })
  const connected = nextEvent(sdk, 'connected')
  sdk.connect()
  await connected
  return {
    sdk,
    events,
    names: () => events.map((e) => e.event),
    next(event, match = () => true, timeoutMs = 5_000) {
      const seen = events.find((e) => e.event === event && match(e))
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const w = { event, match, resolve: (e: any) => (clearTimeout(timer), resolve(e)) }
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1)
          reject(new Error(`timed out waiting for ${event}; got ${events.map((e) => e.event).join(', ')}`))
        }, timeoutMs)
        waiters.push(w)
      })
    },
    close: () => sdk.disconnect(),
  }
}

/**
 * Proves nothing more is on its way to `c`: a marker published now on each of `channels` arrives after
 * everything published earlier, so an event that has not arrived by then was never sent to it.
 */
export async function settle(l: Livedesk, c: Console, channels: string[]): Promise<void> {
  for (const channel of channels) {
    const id = randomUUID()
    await l.node.publish(channel, { event: 'marker', id })
    await c.next('marker', (e) => e.id === id)
  }
}

export function expectEnvelope(e: any, event: string) {
  expect(e).toMatchObject({ event, id: expect.any(String), at: expect.any(String), data: expect.anything() })
  expect(new Date(e.at).toISOString()).toBe(e.at)
}

export const sessionOfChat = async (l: Livedesk, token: string, chatId: string) => {
  const { items } = await ok(l, 'GET', '/sessions?limit=200', undefined, token)
  return items.find((s: any) => s.chatId === chatId)
}

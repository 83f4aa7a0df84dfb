/** Starts a real livedesk in-process on a free loopback port, with a temporary data dir and short intervals. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { startLivedesk, type Livedesk, type LivedeskOptions } from '../../src/main.js'

export type TestLivedesk = Livedesk & { dataDir: string }

const started: TestLivedesk[] = []

export async function startTestLivedesk(options: LivedeskOptions = {}): Promise<TestLivedesk> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'livedesk-test-'))
  const livedesk = await startLivedesk({
    port: 0,
    host: '127.0.0.1',
    apiKey: 'test-api-key',
    logLevel: process.env.LOG_LEVEL ?? 'silent',
    ...options,
    dataDir,
    realtime: { pingIntervalMs: 2_000, pongTimeoutMs: 1_000, staleCloseDelayMs: 2_000, expiredCloseDelayMs: 1_000, ...options.realtime },
  })
  const handle = { ...livedesk, dataDir }
  started.push(handle)
  return handle
}

afterAll(async () => {
  for (const l of started.splice(0)) {
    await l.close().catch(() => {})
    rmSync(l.dataDir, { recursive: true, force: true })
  }
})

/** Calls Centrifugo's server API of a test server. */
export async function serverApi(l: Livedesk, method: string, body: unknown, key = l.apiKey): Promise<{ status: number; body: any }> {
  const res = await fetch(`${l.url}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: await res.json() }
}

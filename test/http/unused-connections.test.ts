/**
 * A connection that never sends a request (a browser's preconnect, a TCP health check, an SDK request aborted
 * while its socket connected) must not hold the server's shutdown open: Node's close() waits for it forever.
 */
import { connect, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startTestLivedesk } from '../helpers/livedesk.js'

const opened = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })

const within = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms).unref())])

describe('shutdown with connections that never sent a request', () => {
  it('ends them and closes at once (it waited for them forever)', async () => {
    const livedesk = await startTestLivedesk({ hooks: {} })
    const silent = await opened(livedesk.port)
    const silentClosed = new Promise<void>((resolve) => silent.once('close', () => resolve()))
    // A half-sent request: its socket has bytes but no complete request yet, so it counts as unused too.
    const partial = await opened(livedesk.port)
    partial.write('GET /health HTTP/1.1\r\nHost: x\r\n')
    const partialClosed = new Promise<void>((resolve) => partial.once('close', () => resolve()))
    // A keep-alive connection that served a request stays Node's to close (idle), as before.
    expect((await fetch(`${livedesk.url}/health`)).status).toBe(200)

    await within(livedesk.close(), 5_000, 'close()')
    await within(silentClosed, 1_000, 'the silent connection to end')
    await within(partialClosed, 1_000, 'the half-sent request to end')
  })
})

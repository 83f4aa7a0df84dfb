/** A raw `ws` client speaking the JSON protocol by hand, for what the SDK never sends (bad input, no pongs, no reads). */
import WebSocket from 'ws'

export interface RawClient {
  ws: WebSocket
  /** Every line received, parsed; pings are `{}`. */
  lines: any[]
  /** How many lines each received text frame held. */
  frameSizes: number[]
  /** Resolves with the close code and reason once the socket is closed. */
  closed: Promise<{ code: number; reason: string }>
  send(frame: string | Buffer, binary?: boolean): void
  /** Sends a connect command and resolves with its reply line. */
  connect(data?: unknown, id?: number): Promise<any>
  /** Resolves with the first received line matching `match`. */
  waitFor(match: (line: any) => boolean, timeoutMs?: number): Promise<any>
}

export async function openRaw(url: string, options: { origin?: string } = {}): Promise<RawClient> {
  const ws = new WebSocket(url, options)
  const lines: any[] = []
  const frameSizes: number[] = []
  const waiters = new Set<{ match: (l: any) => boolean; resolve: (l: any) => void }>()
  ws.on('message', (data, isBinary) => {
    if (isBinary) return
    const texts = data.toString().split('\n')
    frameSizes.push(texts.length)
    for (const text of texts) {
      if (!text.trim()) continue
      const line = JSON.parse(text)
      lines.push(line)
      for (const w of waiters) if (w.match(line)) { waiters.delete(w); w.resolve(line) }
    }
  })
  ws.on('error', () => {}) // a close follows; its code is what the tests check
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  )
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
    ws.once('error', reject)
  })
  const waitFor = (match: (l: any) => boolean, timeoutMs = 5_000) => {
    const seen = lines.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise<any>((resolve, reject) => {
      const w = { match, resolve: (l: any) => { clearTimeout(timer); resolve(l) } }
      const timer = setTimeout(() => { waiters.delete(w); reject(new Error('timed out waiting for a line')) }, timeoutMs)
      waiters.add(w)
    })
  }
  return {
    ws, lines, frameSizes, closed, waitFor,
    send: (frame, binary = false) => ws.send(frame, { binary }),
    connect: (data = { user: 'raw' }, id = 1) => {
      ws.send(JSON.stringify({ connect: { data, name: 'raw' }, id }))
      return waitFor((l) => l.id === id)
    },
  }
}

/** Resolves with the close of a socket, or rejects when it stays open longer than `timeoutMs`. */
export function closedWithin(raw: RawClient, timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
  return Promise.race([
    raw.closed,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs).unref()),
  ])
}

/** An authenticate hook for tests: `connect.data.user` is the user, `connect.data.channels` the server-side channels. */
export const dataAuth = {
  authenticate: async (e: { data?: unknown }) => {
    const d = (e.data ?? {}) as { user?: string; channels?: string[] }
    return { user: d.user ?? 'anonymous', channels: d.channels ?? [] }
  },
}

/** Reads one counter or gauge from GET /metrics. */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm'))
  if (!m) throw new Error(`metric ${name} not found`)
  return Number(m[1])
}

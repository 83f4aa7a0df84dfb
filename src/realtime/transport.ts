/** What the gateway needs from a socket; the `ws` adapter (transport-ws.ts) provides it. */
export interface Transport {
  /** Writes one text frame. */
  write(frame: Buffer | string): void
  /** Sends a close frame with this code and reason, then lets the socket go. */
  close(code: number, reason: string): void
  /** Bytes accepted by `write` that the kernel has not taken yet. */
  readonly bufferedAmount: number
}

/** Facts about the peer, captured at upgrade time. */
export interface TransportInfo {
  remoteAddress?: string
  userAgent?: string
  headers?: Record<string, string>
}

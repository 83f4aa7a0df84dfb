/** What the client core needs from a connection; transport-ws.ts and transport-http.ts provide it. */
export interface Transport {
  /** Centrifugo's transport name: `websocket`, `http_stream`, `sse`. */
  readonly name: TransportName
  readonly capabilities: TransportCapabilities
  /** Writes one frame: one message, or several joined by newlines. */
  write(frame: Buffer | string): void
  /** Ends the connection with this code and reason (a close frame, or a disconnect push then the end of the stream). */
  close(code: number, reason: string): void
  /** Bytes accepted by `write` that the kernel has not taken yet. */
  readonly bufferedAmount: number
}

export type TransportName = 'websocket' | 'http_stream' | 'sse'

export interface TransportCapabilities {
  /** One long response or socket carries every push (all transports so far). */
  streaming: boolean
  /** Binary frames can be written (WebSocket). */
  binary: boolean
  /** Commands after connect arrive on the same connection; false: through the emulation endpoint. */
  bidirectional: boolean
}

/** Facts about the peer, captured at upgrade time. */
export interface TransportInfo {
  remoteAddress?: string
  userAgent?: string
  headers?: Record<string, string>
}

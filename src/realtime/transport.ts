/** What the client core needs from a connection; transport-ws.ts and transport-http.ts provide it. */
export interface Transport {
  /** Centrifugo's transport name. */
  readonly name: TransportName
  readonly capabilities: TransportCapabilities
  /** Writes one frame: one message, or several joined by newlines. */
  write(frame: Buffer | string): void
  /**
   * Writes several messages at once, framing each itself (a stream whose format delimits messages: no joined copy
   * per connection); absent: the write queue joins them into frames for `write`.
   */
  writeMany?(messages: readonly (Buffer | string)[]): void
  /** Ends the connection with this code and reason (a close frame, or a disconnect push then the end of the stream). */
  close(code: number, reason: string): void
  /** Bytes accepted by `write` that the kernel has not taken yet. */
  readonly bufferedAmount: number
}

export type TransportName = 'websocket' | 'http_stream' | 'sse' | 'uni_websocket' | 'uni_http_stream' | 'uni_sse'

export interface TransportCapabilities {
  /** One long response or socket carries every push (all transports so far). */
  streaming: boolean
  /** Binary frames can be written (WebSocket). */
  binary: boolean
  /** The client sends commands after connect (and answers pings); false: unidirectional, connect only. */
  bidirectional: boolean
  /** Commands after connect arrive through the emulation endpoint, not on this connection (HTTP-streaming, SSE). */
  emulation: boolean
}

/** Facts about the peer, captured at upgrade time. */
export interface TransportInfo {
  remoteAddress?: string
  userAgent?: string
  /** The connection request's HTTP headers (what proxies may pass on, `http_headers`). */
  headers?: Record<string, string | string[] | undefined>
}

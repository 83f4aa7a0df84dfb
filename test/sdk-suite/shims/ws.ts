/** `ws` for the vendored tests: the real package, its client pointed at the suite's livedesk. */
import { createRequire } from 'node:module'
import type * as Ws from 'ws'
import { toLivedesk } from './address.js'

// Required, not imported: an import of 'ws' here would resolve to this shim again.
const ws = createRequire(import.meta.url)('ws') as typeof Ws

class WebSocket extends ws.WebSocket {
  constructor(address: string | URL, ...rest: any[]) {
    super(toLivedesk(String(address)), ...rest)
  }
}

export const WebSocketServer = ws.WebSocketServer
export { WebSocket }
export default WebSocket

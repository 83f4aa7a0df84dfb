/** The real `centrifuge` SDK in Node (no global WebSocket in Node 20), plus a way to wait for its events. */
import { Centrifuge, type ClientEvents, type Options, type TransportEndpoint } from 'centrifuge'
import WebSocket from 'ws'
import { gatewayTransport } from './transports.js'

const LIVEDESK_WEBSOCKET = /^(wss?):\/\/([^/]+)\/centrifugo\/connection\/websocket$/

/**
 * The SDK for a livedesk's WebSocket URL (`livedesk.wsUrl`) over the transport `GATEWAY_TRANSPORT` names
 * (test/helpers/transports.ts). A test that lists its own transports (an array) gets exactly those.
 */
export function newSdk(url: string | TransportEndpoint[], options: Partial<Options> = {}): Centrifuge {
  const livedesk = typeof url === 'string' ? LIVEDESK_WEBSOCKET.exec(url) : null
  if (livedesk) return gatewayTransport().newSdk(`${livedesk[1] === 'wss' ? 'https' : 'http'}://${livedesk[2]}`, options)
  if (gatewayTransport().name !== 'websocket') throw new Error(`newSdk: ${JSON.stringify(url)} is not a livedesk WebSocket URL to run over ${gatewayTransport().name}`)
  return new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, ...options })
}

/** Resolves with the next event of that name (or the first one matching `match`), rejects after `timeoutMs`. */
export function nextEvent<E extends keyof ClientEvents>(
  emitter: { once: Function; on: Function; off?: Function; removeListener?: Function },
  event: E,
  match: (ctx: Parameters<ClientEvents[E]>[0]) => boolean = () => true,
  timeoutMs = 5_000,
): Promise<Parameters<ClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const off = (emitter.off ?? emitter.removeListener)!.bind(emitter)
    const timer = setTimeout(() => {
      off(event, handler)
      reject(new Error(`timed out waiting for ${String(event)}`))
    }, timeoutMs)
    const handler = (ctx: any) => {
      if (!match(ctx)) return
      clearTimeout(timer)
      off(event, handler)
      resolve(ctx)
    }
    emitter.on(event, handler)
  })
}

/** Collects every event of that name into an array, for assertions about order and count. */
export function collect<E extends keyof ClientEvents>(emitter: { on: Function }, event: E): Array<Parameters<ClientEvents[E]>[0]> {
  const items: any[] = []
  emitter.on(event, (ctx: any) => items.push(ctx))
  return items
}

/** Waits until `check` returns true, polling on a short interval, or fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

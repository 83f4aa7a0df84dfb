/** Waiting for events of map subscriptions (their event names are not the SDK's typed client events). */
export type Emitter = { on(event: string, fn: (ctx: any) => void): unknown; removeListener(event: string, fn: (ctx: any) => void): unknown }

/** The next `event` matching `match`; rejects after `timeoutMs`. */
export function next(emitter: Emitter, event: string, match: (ctx: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, handler)
      reject(new Error(`timed out waiting for ${event}`))
    }, timeoutMs)
    const handler = (ctx: any) => {
      if (!match(ctx)) return
      clearTimeout(timer)
      emitter.removeListener(event, handler)
      resolve(ctx)
    }
    emitter.on(event, handler)
  })
}

/** Every `event` from now on, in order. */
export function all(emitter: Emitter, event: string): any[] {
  const items: any[] = []
  emitter.on(event, (ctx) => items.push(ctx))
  return items
}

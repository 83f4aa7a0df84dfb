/** Upstream tests hard-code the address of their CI's Centrifugo (localhost:8000); the shims send it to the suite's livedesk. */
import { inject } from 'vitest'

const UPSTREAM_ORIGIN = /^(ws|wss|http|https):\/\/localhost:8000(?=[/?#]|$)/

export function toLivedesk(url: string): string {
  const { host } = new URL(inject('sdkSuiteUrl'))
  return url.replace(UPSTREAM_ORIGIN, (_, scheme: string) => `${scheme}://${host}`)
}

/**
 * `eventsource` for the vendored tests: the package when installed, pointed at the suite's livedesk. Node 20
 * has no EventSource; without the package, constructing one throws (the sse tests are listed in expected.ts).
 */
import { createRequire } from 'node:module'
import { toLivedesk } from './address.js'

type EventSourceClass = new (url: string, init?: unknown) => object

function load(): EventSourceClass {
  try {
    const mod = createRequire(import.meta.url)('eventsource')
    return (mod.EventSource ?? mod.default ?? mod) as EventSourceClass
  } catch {
    return class {
      constructor() {
        throw new Error('the eventsource package is not installed')
      }
    }
  }
}

const Base = load()

export default class EventSource extends Base {
  constructor(url: string | URL, init?: unknown) {
    super(toLivedesk(String(url)), init)
  }
}

/** Starts one livedesk configured like the SDK's CI Centrifugo for the whole vendored suite; its address goes to the shims. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { startLivedesk } from '../../src/main.js'
import { centrifugoTestOptions } from './centrifugo-config.js'

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'livedesk-sdk-suite-'))
  const livedesk = await startLivedesk(centrifugoTestOptions(dataDir))
  project.provide('sdkSuiteUrl', livedesk.url)
  return async () => {
    await livedesk.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The livedesk of this suite, e.g. http://127.0.0.1:41234; shims/address.ts sends upstream's localhost:8000 there. */
    sdkSuiteUrl: string
  }
}

/**
 * The centrifuge-js integration suite (upstream/, unchanged) against livedesk: its imports of the SDK's own
 * sources resolve to the installed `centrifuge` package, and its `ws`, `undici` and `eventsource` to shims
 * that send upstream's hard-coded localhost:8000 to the livedesk of global-setup.ts.
 */
import { fileURLToPath } from 'node:url'
import type { Plugin } from 'vite'
import { defineProject } from 'vitest/config'
import { excludedFiles } from './expected.js'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const UPSTREAM_DIR = here('./upstream/')

/** What the vendored files import, as served here: the SDK's sources as the npm build ships them, and the shims. */
const UPSTREAM_IMPORTS: Record<string, string> = {
  // The package index re-exports the types and codes modules.
  './centrifuge': 'centrifuge',
  './types': 'centrifuge',
  './codes': 'centrifuge',
  './protobuf': 'centrifuge/build/protobuf',
  ws: here('./shims/ws.ts'),
  undici: here('./shims/undici.ts'),
  eventsource: here('./shims/eventsource.ts'),
}

/** Only files in upstream/ see these: livedesk itself (started by the global setup) keeps the real `ws`. */
const upstreamImports: Plugin = {
  name: 'sdk-suite-upstream-imports',
  enforce: 'pre',
  resolveId(source, importer, options) {
    const target = importer?.startsWith(UPSTREAM_DIR) && Object.hasOwn(UPSTREAM_IMPORTS, source) ? UPSTREAM_IMPORTS[source] : undefined
    return target ? this.resolve(target, importer, { ...options, skipSelf: true }) : null
  },
}

export default defineProject({
  plugins: [upstreamImports],
  test: {
    name: 'sdk-suite',
    root: here('.'),
    include: ['upstream/*.test.ts'],
    exclude: excludedFiles().map((file) => `upstream/${file}`),
    // Upstream is written for jest: test, expect, describe and the hooks are globals.
    globals: true,
    setupFiles: [here('./setup.ts')],
    globalSetup: [here('./global-setup.ts')],
    // jest's default is 5 s; livedesk on a busy CI machine gets twice that.
    testTimeout: 10_000,
    hookTimeout: 10_000,
  },
})

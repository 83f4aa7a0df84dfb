#!/usr/bin/env node
/**
 * Builds dist/pglite-template (src/store/pglite-template.ts): the PGlite cluster a first start copies instead of
 * running initdb. Run by `npm run build` after tsc; does nothing when the template is up to date. A failure only
 * warns: without a template the first start runs initdb, as it did before.
 */
import { buildPgliteTemplate, DEFAULT_PGLITE_TEMPLATE } from '../dist/store/pglite-template.js'

const started = performance.now()
try {
  const built = await buildPgliteTemplate()
  console.log(`${DEFAULT_PGLITE_TEMPLATE}: ${built ? `built in ${Math.round(performance.now() - started)} ms` : 'up to date'}`)
} catch (err) {
  console.warn(`warning: no PGlite template (${DEFAULT_PGLITE_TEMPLATE}), a first start will run initdb: ${err instanceof Error ? err.message : err}`)
}

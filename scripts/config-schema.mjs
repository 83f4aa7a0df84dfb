// Writes docs/config.schema.json from the schema the server validates with (run after `tsc`: `npm run config-schema`).
import { writeFileSync } from 'node:fs'
import { configSchemaJson } from '../dist/config/index.js'

writeFileSync(new URL('../docs/config.schema.json', import.meta.url), configSchemaJson())

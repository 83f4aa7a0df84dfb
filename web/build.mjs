// Builds the operator console and the client widget into web/dist (served by the HTTP app).
// Runs at `npm install` (prepare) and in `npm run build`: esbuild only, a second or so.
import { build } from 'esbuild'
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const web = dirname(fileURLToPath(import.meta.url))
const src = join(web, 'src')
const dist = join(web, 'dist')

const started = Date.now()
await rm(dist, { recursive: true, force: true })
await mkdir(join(dist, 'widget'), { recursive: true })
await mkdir(join(dist, 'admin'), { recursive: true })

await build({
  entryPoints: {
    'assets/console': join(src, 'console/main.ts'),
    'assets/widget': join(src, 'widget/main.ts'),
    'assets/admin': join(src, 'admin/main.ts'),
  },
  outdir: dist,
  bundle: true,
  // The SDK goes into one shared chunk that the console and the widget both load.
  splitting: true,
  chunkNames: 'assets/chunk-[hash]',
  format: 'esm',
  platform: 'browser',
  target: ['chrome109', 'firefox115', 'safari15.4'],
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
  legalComments: 'linked',
})

// Pages are static; CSS is copied as written (small, no preprocessing).
await cp(join(src, 'styles'), join(dist, 'assets'), { recursive: true })
await cp(join(src, 'console/index.html'), join(dist, 'index.html'))
await cp(join(src, 'widget/index.html'), join(dist, 'widget/index.html'))
await cp(join(src, 'admin/index.html'), join(dist, 'admin/index.html'))

const version = JSON.parse(await readFile(join(web, '..', 'package.json'), 'utf8')).version
await writeFile(join(dist, 'build.json'), JSON.stringify({ version, builtAt: new Date().toISOString() }) + '\n')
console.log(`web: console, widget and admin page built into web/dist in ${Date.now() - started} ms`)

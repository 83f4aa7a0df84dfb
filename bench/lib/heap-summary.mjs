/**
 * `node bench/lib/heap-summary.mjs <snapshot> [--per=N]`: self size per constructor in a V8 heap snapshot,
 * largest first, optionally divided by N connections: where a server's per-connection heap goes.
 */
import { readFileSync } from 'node:fs'

const file = process.argv[2]
const per = Number(process.argv.find((a) => a.startsWith('--per='))?.slice(6) ?? 1)
const snap = JSON.parse(readFileSync(file, 'utf8'))
const { node_fields: fields, node_types: [types] } = snap.snapshot.meta
const width = fields.length
const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f))
const sizes = new Map()
const counts = new Map()
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + iType]]
  const name = type === 'object' || type === 'closure' ? `${type === 'closure' ? 'closure ' : ''}${snap.strings[snap.nodes[i + iName]]}` : `(${type})`
  sizes.set(name, (sizes.get(name) ?? 0) + snap.nodes[i + iSize])
  counts.set(name, (counts.get(name) ?? 0) + 1)
}
const total = [...sizes.values()].reduce((a, b) => a + b, 0)
console.log(`${file}: ${(total / 1024 / 1024).toFixed(1)} MB self size${per > 1 ? `, ${(total / per).toFixed(0)} B per connection` : ''}`)
for (const [name, size] of [...sizes].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
  console.log(`${(size / per).toFixed(0).padStart(8)} B ${String(Math.round(counts.get(name) / per * 100) / 100).padStart(7)}× ${name.slice(0, 80)}`)
}

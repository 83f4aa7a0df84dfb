/** What the numbers were measured on: machine, kernel, Node and library versions, load at start. */
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import { join } from 'node:path'

const version = (root, pkg) => {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

export function environment(root) {
  const cpus = os.cpus()
  let commit = null
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {}
  return {
    machine: `${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}`,
    cpuModel: cpus[0]?.model,
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    versions: { ws: version(root, 'ws'), 'socket.io': version(root, 'socket.io'), 'socket.io-client': version(root, 'socket.io-client'), centrifuge: version(root, 'centrifuge') },
    livedeskCommit: commit,
    loadAverageAtStart: os.loadavg(),
  }
}

/**
 * The nodes of a cluster as the server API's `info` lists them (centrifuge `node.go`: each node publishes its info
 * on the control channel every `nodeInfoIntervalMs`; a node not heard of for twice that plus a second is gone).
 * With the memory broker the only node is this one.
 */
import type { Logger } from 'pino'

/** Centrifugo's `NodeResult` (api.proto), zero values included. */
export interface NodeInfo {
  uid: string
  name: string
  version: string
  num_clients: number
  num_users: number
  num_channels: number
  num_subs: number
  uptime: number
}

export interface NodeRegistryOptions {
  /** This node's info, read at each publish and each listing. */
  self(): NodeInfo
  /** Sends this node's info to every node (the broker's control channel). */
  publish(info: NodeInfo): Promise<void>
  intervalMs: number
  log: Logger
}

export class NodeRegistry {
  private readonly nodes = new Map<string, { info: NodeInfo; expiresAt: number }>()
  private timer?: NodeJS.Timeout

  constructor(private readonly opts: NodeRegistryOptions) {}

  /** Publishes now and then every interval, until `stop`. */
  start(): void {
    const publish = () => void this.opts.publish(this.opts.self()).catch((err) => this.opts.log.warn({ err }, 'node info publish failed'))
    publish()
    this.timer = setInterval(publish, this.opts.intervalMs)
    this.timer.unref()
  }

  /** Another node's info, from the control channel (this node's own comes back too and is ignored). */
  handle(info: NodeInfo): void {
    if (!info || typeof info.uid !== 'string' || info.uid === this.opts.self().uid) return
    this.nodes.set(info.uid, { info, expiresAt: Date.now() + this.opts.intervalMs * 2 + 1_000 })
  }

  /** This node first, then the others heard of recently. */
  list(): NodeInfo[] {
    const now = Date.now()
    const out = [this.opts.self()]
    for (const [uid, n] of this.nodes) {
      if (n.expiresAt <= now) this.nodes.delete(uid)
      else out.push(n.info)
    }
    return out
  }

  stop(): void {
    clearInterval(this.timer)
  }
}

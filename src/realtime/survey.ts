/**
 * Asking every node and gathering their answers (centrifuge `Survey`), over the broker's control channel: the server
 * API's `channels` counts the subscribers of every node. The nodes asked are those `NodeRegistry` knows; one that
 * does not answer within `timeoutMs` is left out of the result (and logged) rather than failing it.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'

/** What a survey asks; each node answers it from its own state. */
export type SurveyOp = 'channels'

export type SurveyMessage =
  | { type: 'survey'; id: string; op: SurveyOp; from: string }
  | { type: 'survey_reply'; id: string; to: string; from: string; data: unknown }

export interface SurveyOptions {
  nodeId: string
  /** The other nodes expected to answer. */
  otherNodes(): string[]
  /** Sends a message to every node. */
  publish(msg: SurveyMessage): Promise<void>
  /** This node's answer. */
  answer(op: SurveyOp): unknown
  timeoutMs: number
  log: Logger
}

export class Surveys {
  private readonly pending = new Map<string, { waiting: Set<string>; replies: Map<string, unknown>; done: () => void }>()

  constructor(private readonly opts: SurveyOptions) {}

  /** Every node's answer by node id, this node's included. */
  async ask(op: SurveyOp): Promise<Map<string, unknown>> {
    const replies = new Map<string, unknown>([[this.opts.nodeId, this.opts.answer(op)]])
    const waiting = new Set(this.opts.otherNodes())
    if (waiting.size === 0) return replies
    const id = randomUUID()
    let timer: NodeJS.Timeout | undefined
    const finished = new Promise<void>((resolve) => {
      this.pending.set(id, { waiting, replies, done: resolve })
      timer = setTimeout(resolve, this.opts.timeoutMs)
    })
    try {
      await this.opts.publish({ type: 'survey', id, op, from: this.opts.nodeId })
      await finished
    } finally {
      clearTimeout(timer)
      this.pending.delete(id)
    }
    if (waiting.size) this.opts.log.warn({ op, nodes: [...waiting] }, 'survey: nodes did not answer in time; left out')
    return replies
  }

  /** A survey message from the control channel. */
  handle(msg: SurveyMessage): void {
    if (msg.type === 'survey') {
      if (msg.from === this.opts.nodeId) return
      const data = this.opts.answer(msg.op)
      void this.opts.publish({ type: 'survey_reply', id: msg.id, to: msg.from, from: this.opts.nodeId, data }).catch((err) => this.opts.log.warn({ err }, 'survey reply failed'))
      return
    }
    if (msg.to !== this.opts.nodeId) return
    const p = this.pending.get(msg.id)
    if (!p) return
    p.replies.set(msg.from, msg.data)
    p.waiting.delete(msg.from)
    if (p.waiting.size === 0) p.done()
  }
}

/**
 * One connection's bounded write queue (centrifuge writer.go): messages queued within one event-loop turn go
 * out together, up to `maxMessagesInFrame` per newline-joined frame; past `maxQueueBytes` unsent bytes
 * (queued here plus what the transport has not sent) the connection is too slow and must be cut.
 */
import type { Transport } from './transport.js'

export interface WriteQueueLimits {
  /** Unsent bytes a connection may hold (queue plus transport buffer) before it is cut as slow. */
  maxQueueBytes: number
  /** Messages joined into one frame at most. */
  maxMessagesInFrame: number
}

/** What a flush did: wrote one or more frames, had nothing to write, or found the peer too slow (nothing written). */
export type FlushResult = 'written' | 'empty' | 'slow'

export class WriteQueue {
  private queue: Array<Buffer | string> = []
  private queuedBytes = 0
  private due = false

  /** `onDue` is called once when the first message is queued after a flush: the owner schedules `flush`. */
  constructor(
    private readonly transport: Transport,
    private readonly limits: WriteQueueLimits,
    private readonly onDue: () => void,
    /** Joins several messages into one frame (the codec's `joinMessages`); default: JSON lines. */
    private readonly join: (messages: readonly (Buffer | string)[]) => Buffer | string = (m) => joinMessages(m, 0, m.length),
  ) {}

  /** Queued messages not written yet. */
  get length(): number {
    return this.queue.length
  }

  /** Queues a message; false when the queued bytes pass the cap (the message is not queued). */
  enqueue(message: Buffer | string): boolean {
    this.queuedBytes += message.length
    if (this.queuedBytes > this.limits.maxQueueBytes) return false
    this.queue.push(message)
    if (!this.due) {
      this.due = true
      this.onDue()
    }
    return true
  }

  /** Writes what is queued. Fan-out Buffers pass through untouched when a frame holds one message. */
  flush(): FlushResult {
    this.due = false
    const queue = this.queue
    const count = queue.length
    if (count === 0) return 'empty'
    // What the transport has not sent yet counts too: a peer that stopped reading is cut here.
    if (this.queuedBytes + this.transport.bufferedAmount > this.limits.maxQueueBytes) return 'slow'
    this.queuedBytes = 0
    if (count === 1) {
      this.transport.write(queue[0])
    } else if (this.transport.writeMany) {
      this.transport.writeMany(queue)
    } else {
      const max = this.limits.maxMessagesInFrame
      for (let i = 0; i < count; i += max) {
        const n = Math.min(max, count - i)
        this.transport.write(n === 1 ? queue[i] : this.join(i === 0 && n === count ? queue : queue.slice(i, i + n)))
      }
    }
    // Writes are synchronous, so the array can be reused for the next turn.
    queue.length = 0
    return 'written'
  }

  /** Drops everything queued (a slow or closed connection). */
  clear(): void {
    this.queue = []
    this.queuedBytes = 0
  }
}

const NEWLINE = Buffer.from('\n')

function joinMessages(queue: readonly (Buffer | string)[], from: number, to: number): Buffer | string {
  let allStrings = true
  for (let i = from; i < to; i++) if (typeof queue[i] !== 'string') { allStrings = false; break }
  if (allStrings) return (queue.slice(from, to) as string[]).join('\n')
  const parts: Buffer[] = []
  for (let i = from; i < to; i++) {
    if (i > from) parts.push(NEWLINE)
    const m = queue[i]
    parts.push(typeof m === 'string' ? Buffer.from(m) : m)
  }
  return Buffer.concat(parts)
}

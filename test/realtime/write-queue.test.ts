import { describe, expect, it } from 'vitest'
import type { Transport } from '../../src/realtime/transport.js'
import { WriteQueue } from '../../src/realtime/write-queue.js'

/** Records every frame written; `bufferedAmount` is set by the test to play a peer that stopped reading. */
class RecordingTransport implements Transport {
  readonly name = 'websocket'
  readonly capabilities = { streaming: true, binary: true, bidirectional: true, emulation: false }
  readonly frames: Array<Buffer | string> = []
  bufferedAmount = 0
  closed?: { code: number; reason: string }
  write(frame: Buffer | string): void { this.frames.push(frame) }
  close(code: number, reason: string): void { this.closed = { code, reason } }
}

function setup(limits = { maxQueueBytes: 1000, maxMessagesInFrame: 3 }) {
  const transport = new RecordingTransport()
  let due = 0
  const queue = new WriteQueue(transport, limits, () => due++)
  return { transport, queue, dues: () => due }
}

describe('WriteQueue', () => {
  it('asks for one flush per batch and writes a single message as the same object', () => {
    const { transport, queue, dues } = setup()
    const shared = Buffer.from('{"push":{}}')
    expect(queue.enqueue(shared)).toBe(true)
    expect(queue.enqueue('x')).toBe(true)
    expect(dues()).toBe(1)
    queue.flush()
    queue.enqueue(shared)
    expect(dues()).toBe(2)
    expect(queue.flush()).toBe('written')
    expect(transport.frames.at(-1)).toBe(shared) // the fan-out Buffer itself, not a copy
  })

  it('hands a transport that frames messages itself (writeMany) the queued messages, uncopied and unjoined', () => {
    const transport = new RecordingTransport()
    const batches: Array<Array<Buffer | string>> = []
    Object.assign(transport, { writeMany: (messages: readonly (Buffer | string)[]) => void batches.push([...messages]) })
    const queue = new WriteQueue(transport, { maxQueueBytes: 1000, maxMessagesInFrame: 2 }, () => {})
    const shared = Buffer.from('{"push":{}}')
    for (const m of [shared, 'b', shared]) queue.enqueue(m)
    expect(queue.flush()).toBe('written')
    expect(transport.frames).toEqual([])
    expect(batches).toHaveLength(1)
    expect(batches[0][0]).toBe(shared)
    expect(batches[0][2]).toBe(shared)
    expect(batches[0][1]).toBe('b')
  })

  it('joins up to maxMessagesInFrame messages per frame with newlines', () => {
    const { transport, queue } = setup()
    for (const m of ['a', 'b', 'c', 'd', 'e']) queue.enqueue(m)
    expect(queue.flush()).toBe('written')
    expect(transport.frames).toEqual(['a\nb\nc', 'd\ne'])
  })

  it('joins strings and Buffers into one Buffer', () => {
    const { transport, queue } = setup()
    queue.enqueue('a')
    queue.enqueue(Buffer.from('b'))
    queue.flush()
    expect(transport.frames).toHaveLength(1)
    expect(Buffer.isBuffer(transport.frames[0])).toBe(true)
    expect(transport.frames[0].toString()).toBe('a\nb')
  })

  it('refuses a message past maxQueueBytes', () => {
    const { queue } = setup({ maxQueueBytes: 10, maxMessagesInFrame: 16 })
    expect(queue.enqueue('12345')).toBe(true)
    expect(queue.enqueue('123456')).toBe(false)
    expect(queue.length).toBe(1)
  })

  it('is slow when what the transport holds plus the queue passes the cap, and writes nothing', () => {
    const { transport, queue } = setup({ maxQueueBytes: 10, maxMessagesInFrame: 16 })
    queue.enqueue('12345')
    transport.bufferedAmount = 6
    expect(queue.flush()).toBe('slow')
    expect(transport.frames).toEqual([])
  })

  it('reports an empty flush, and clear drops what is queued', () => {
    const { transport, queue } = setup()
    expect(queue.flush()).toBe('empty')
    queue.enqueue('a')
    queue.clear()
    expect(queue.flush()).toBe('empty')
    expect(transport.frames).toEqual([])
  })
})

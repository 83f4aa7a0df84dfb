import { describe, expect, it } from 'vitest'
import { MemoryBroker } from '../../src/realtime/broker-memory.js'
import { brokerContract } from './broker-contract.js'

brokerContract({ name: 'MemoryBroker', newBroker: () => new MemoryBroker(), shared: false })

describe('MemoryBroker: compact history', () => {
  const idle = { handlePublication() {}, handleJoin() {}, handleLeave() {}, handleControl() {} }
  const opts = { historySize: 3, historyTtlMs: 60_000, historyMetaTtlMs: 60_000 }

  it('keeps info and tags with their own publications while history is trimmed around them', async () => {
    const broker = new MemoryBroker()
    await broker.run(idle)
    const info = { client: 'c1', user: 'u1' }
    for (let n = 1; n <= 5; n++) await broker.publish('ch', n % 2 ? { data: `"${n}"` } : { data: `"${n}"`, info, tags: { n: String(n) } }, opts)
    const { publications } = await broker.history('ch', { limit: -1, historyMetaTtlMs: 60_000 })
    expect(publications.map((p) => [p.offset, p.data, p.info?.user, p.tags?.n])).toEqual([
      [3, '"3"', undefined, undefined],
      [4, '"4"', 'u1', '4'],
      [5, '"5"', undefined, undefined],
    ])
    await broker.close()
  })

  it('answers a repeated key with its first position until the result expires, also after the stream started over (as Redis does)', async () => {
    const broker = new MemoryBroker()
    await broker.run(idle)
    const short = { ...opts, historyMetaTtlMs: 50 }
    const first = await broker.publish('ch', { data: '1' }, { ...short, idempotencyKey: 'a' })
    await new Promise((resolve) => setTimeout(resolve, 80))
    const second = await broker.publish('ch', { data: '2' }, { ...short, idempotencyKey: 'b' })
    expect(second).toMatchObject({ offset: 1 })
    expect(second!.epoch).not.toBe(first!.epoch)
    expect(await broker.publish('ch', { data: '1' }, { ...short, idempotencyKey: 'a' })).toEqual(first)
    expect(await broker.publish('ch', { data: '2' }, { ...short, idempotencyKey: 'b' })).toEqual(second)
    await broker.close()
  })

  it('keeps integer keys apart from keys that only look alike ("7" is not "07" nor " 7")', async () => {
    const broker = new MemoryBroker()
    await broker.run(idle)
    const once = (key: string) => broker.publish('ch', { data: key }, { ...opts, historySize: 10, idempotencyKey: key })
    expect(await once('7')).toMatchObject({ offset: 1 })
    expect(await once('07')).toMatchObject({ offset: 2 })
    expect(await once(' 7')).toMatchObject({ offset: 3 })
    expect(await once('7')).toMatchObject({ offset: 1 })
    expect(await once('07')).toMatchObject({ offset: 2 })
    await broker.close()
  })

  it('keeps long histories exactly across its chunks of 64: trimmed, read since a position, emptied, refilled', async () => {
    const broker = new MemoryBroker()
    await broker.run(idle)
    const long = { historySize: 150, historyTtlMs: 60_000, historyMetaTtlMs: 60_000 }
    const all = { limit: -1, historyMetaTtlMs: 60_000 }
    // Data of varied length and a two-byte character now and then, so that chunk boundaries fall anywhere.
    const dataOf = (n: number) => JSON.stringify({ n, text: 'x'.repeat(n % 7) + (n % 13 === 0 ? 'ж' : '') })
    for (let n = 1; n <= 300; n++) await broker.publish('long', { data: dataOf(n) }, long)
    const kept = (await broker.history('long', all)).publications
    expect(kept.map((p) => p.offset)).toEqual(Array.from({ length: 150 }, (_, i) => 151 + i))
    expect(kept.every((p) => p.data === dataOf(p.offset!))).toBe(true)
    const since = await broker.history('long', { ...all, since: { offset: 250, epoch: '' } })
    expect(since.publications.map((p) => p.data)).toEqual(Array.from({ length: 50 }, (_, i) => dataOf(251 + i)))
    await broker.removeHistory('long')
    expect((await broker.history('long', all)).publications).toEqual([])
    for (let n = 301; n <= 400; n++) await broker.publish('long', { data: dataOf(n) }, long)
    const refilled = (await broker.history('long', all)).publications
    expect(refilled.map((p) => [p.offset, p.data])).toEqual(Array.from({ length: 100 }, (_, i) => [301 + i, dataOf(301 + i)]))
    await broker.close()
  })
})

import { describe, expect, it } from 'vitest'
import { isRecovered, placePublication } from '../../src/realtime/recovery.js'

const pubs = (...offsets: number[]) => offsets.map((offset) => ({ data: '{}', offset }))

describe('isRecovered', () => {
  const top = { offset: 5, epoch: 'e1' }
  it.each([
    ['nothing missed', { offset: 5, epoch: 'e1' }, [], true],
    ['contiguous to the top', { offset: 2, epoch: 'e1' }, pubs(3, 4, 5), true],
    ['no epoch given', { offset: 2, epoch: '' }, pubs(3, 4, 5), true],
    ['another epoch', { offset: 2, epoch: 'e0' }, pubs(3, 4, 5), false],
    ['a gap at the start (history trimmed)', { offset: 1, epoch: 'e1' }, pubs(3, 4, 5), false],
    ['not up to the top', { offset: 2, epoch: 'e1' }, pubs(3, 4), false],
    ['nothing read but the top moved', { offset: 3, epoch: 'e1' }, [], false],
  ] as const)('%s', (_name, since, read, expected) => {
    expect(isRecovered(since, top, [...read], 10)).toBe(expected)
  })

  it('is false when more than max publications were missed', () => {
    expect(isRecovered({ offset: 2, epoch: 'e1' }, top, pubs(3, 4, 5), 2)).toBe(false)
  })
})

describe('placePublication', () => {
  const at = { offset: 7, epoch: 'e1' }
  it.each([
    [8, 'e1', 'next'],
    [8, undefined, 'next'],
    [7, 'e1', 'duplicate'],
    [3, 'e1', 'duplicate'],
    [9, 'e1', 'lost'],
    [8, 'e2', 'lost'],
  ] as const)('offset %s epoch %s is %s', (offset, epoch, expected) => {
    expect(placePublication(at, offset, epoch)).toBe(expected)
  })
})

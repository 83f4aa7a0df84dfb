/** Stream positions: whether a history read recovers a client's position, and where a live publication fits. */
import type { StreamPosition } from '../protocol/types.js'
import type { BrokerPublication } from './broker.js'

/**
 * True when `publications` (read after `since`, at most `max + 1` asked) are exactly what the client missed:
 * same epoch (or none given), not more than `max`, contiguous from `since.offset + 1` up to the stream's `top`.
 */
export function isRecovered(since: StreamPosition, top: StreamPosition, publications: BrokerPublication[], max: number): boolean {
  if (since.epoch && since.epoch !== top.epoch) return false
  if (publications.length > max) return false
  if (publications.length === 0) return top.offset === since.offset
  return publications[0].offset === since.offset + 1 && publications[publications.length - 1].offset === top.offset
}

/** Where a live publication at `offset`/`epoch` fits a subscription positioned at `current`. */
export type Placement = 'next' | 'duplicate' | 'lost'

/** `next`: deliver and advance; `duplicate`: already delivered, drop; `lost`: a gap or a new epoch, the position is lost. */
export function placePublication(current: StreamPosition, offset: number, epoch: string | undefined): Placement {
  if (epoch && current.epoch && epoch !== current.epoch) return 'lost'
  if (offset <= current.offset) return 'duplicate'
  return offset === current.offset + 1 ? 'next' : 'lost'
}

/**
 * Epochs for new streams: a random part drawn once per process and a counter, so candidates never repeat across
 * nodes or restarts without a random draw per publication (the Redis broker sends a candidate with every publish,
 * and `randomBytes` there took ~4 µs of each).
 */
import { randomBytes } from 'node:crypto'

const processPart = randomBytes(6).toString('base64url')
let counter = 0

export const newEpoch = (): string => `${processPart}${(counter++).toString(36)}`

/** Comparing a presented secret (API key, metrics token) with the configured one. */
import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (s: string) => createHash('sha256').update(s).digest()

/** A check of presented values against `secret` in constant time whatever their length: both sides are hashed first. */
export function secretMatcher(secret: string): (presented: string | undefined) => boolean {
  const expected = digest(secret)
  return (presented) => presented !== undefined && timingSafeEqual(digest(presented), expected)
}

/** Opaque bearer tokens: random, shown once, stored only as their SHA-256. */
import { createHash, randomBytes, randomUUID } from 'node:crypto'

export const newToken = (prefix: string) => `${prefix}_${randomBytes(24).toString('base64url')}`
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')
export const newId = () => randomUUID()

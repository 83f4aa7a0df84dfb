/** Centrifugo-style JWTs (HS256): connection tokens (`sub`, `exp`, `channels`, `info`) and subscription tokens (`sub`, `channel`, `exp`). */
import { errors, jwtVerify } from 'jose'
import { Disconnects, Errors } from '../protocol/codes.js'

export interface ConnectionClaims {
  user: string
  expireAt: number
  channels: string[]
  info?: unknown
}

async function verify(token: string, secret: Promise<CryptoKey> | undefined) {
  if (!secret) throw Disconnects.invalidToken
  try {
    const { payload } = await jwtVerify(token, await secret, { algorithms: ['HS256'] })
    return payload
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw Errors.tokenExpired()
    throw Disconnects.invalidToken
  }
}

/** A token's user: no `sub` is the anonymous user '' (as Centrifugo); a `sub` that is not a string is not a valid token. */
function userOf(claims: { sub?: unknown }): string | undefined {
  if (claims.sub === undefined) return ''
  return typeof claims.sub === 'string' ? claims.sub : undefined
}

/** Verifies a connection JWT; an expired one is error 109 (the SDK fetches a new one), any other failure closes 3500. */
export async function verifyConnectionToken(token: string, secret: Promise<CryptoKey> | undefined): Promise<ConnectionClaims> {
  const claims = await verify(token, secret)
  const user = userOf(claims)
  if (user === undefined) throw Disconnects.invalidToken
  const channels = Array.isArray(claims.channels) ? claims.channels.filter((c): c is string => typeof c === 'string') : []
  return { user, expireAt: claims.exp ?? 0, channels, info: claims.info }
}

/** Verifies a subscription JWT for this user and channel; a mismatch is permission denied. */
export async function verifySubscriptionToken(token: string, secret: Promise<CryptoKey> | undefined, user: string, channel: string): Promise<{ expireAt: number; info?: unknown }> {
  let claims
  try {
    claims = await verify(token, secret)
  } catch (err) {
    if (err === Disconnects.invalidToken) throw Errors.permissionDenied()
    throw err
  }
  if (userOf(claims) !== user || claims.channel !== channel) throw Errors.permissionDenied()
  return { expireAt: claims.exp ?? 0, info: claims.info }
}

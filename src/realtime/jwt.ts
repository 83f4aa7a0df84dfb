/** Centrifugo-style JWTs (HS256, or RS256/ES256 with a public key): connection tokens (`sub`, `exp`, `channels`, `info`) and subscription tokens (`sub`, `channel`, `exp`). */
import { errors, importSPKI, jwtVerify } from 'jose'
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
    const key = await secret
    const { payload } = await jwtVerify(token, key, { algorithms: [algorithmOf(key)] })
    return payload
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw Errors.tokenExpired()
    throw Disconnects.invalidToken
  }
}

/** The JWT algorithm a key verifies: the one it was imported for (tokenKeyOf). */
function algorithmOf(key: CryptoKey): string {
  const name = key.algorithm.name
  return name === 'RSASSA-PKCS1-v1_5' ? 'RS256' : name === 'ECDSA' ? 'ES256' : 'HS256'
}

/** The key JWTs are verified with: the HS256 secret, or a PEM public key (Centrifugo's rsa_public_key, ecdsa_public_key). */
export function tokenKeyOf(config: { hmacSecret?: string; tokenPublicKey?: { pem: string; algorithm: 'RS256' | 'ES256' } }): Promise<CryptoKey> | undefined {
  if (config.tokenPublicKey) {
    const key = importSPKI(config.tokenPublicKey.pem, config.tokenPublicKey.algorithm)
    // A key that does not import fails each verification (3500), not the process.
    key.catch(() => {})
    return key
  }
  if (!config.hmacSecret) return undefined
  return globalThis.crypto.subtle.importKey('raw', new TextEncoder().encode(config.hmacSecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
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

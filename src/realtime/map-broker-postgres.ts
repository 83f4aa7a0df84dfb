/**
 * The map broker on the database (PGlite or PostgreSQL; Centrifugo OSS's `map_broker.type: postgres`), for maps
 * whose state must outlive a restart. Tables of migration 015: `map_meta` (epoch, top offset, stream options),
 * `map_state`, `map_stream`, `map_results`. Each write is one transaction that locks the channel's meta row, so a
 * channel's writes are serialised and get consecutive offsets; the change goes to this node's subscribers after
 * the commit. Fan-out is to this node only: several nodes share map state through Redis (map-broker-redis.ts).
 */
import type { ClientInfo, StreamPosition } from '../protocol/types.js'
import type { Db } from '../store/db.js'
import {
  DEFAULT_MAP_IDEMPOTENT_RESULT_TTL_MS, UnrecoverablePositionError, hasStream,
  type MapBroker, type MapBrokerEventHandler, type MapChannelOptions, type MapPublication, type MapPublishOptions,
  type MapRemoveOptions, type MapStateResult, type MapStreamResult, type MapUpdateResult,
} from './map-broker.js'
import { newEpoch } from './epoch.js'

export interface PostgresMapBrokerOptions {
  db: Db
  /** How often expired keys (and expired stream entries, results and channels) are removed. @default 1_000 */
  expireIntervalMs?: number
  onError?: (err: Error) => void
}

interface MetaRow { epoch: string; top: string | number; stream_size: number; stream_ttl: string | number; meta_ttl: string | number }
interface StateRow { key: string; data: string; info: string | null; tags: string | null; offset: string | number; version: string | number; version_epoch: string; expires_at: string | number | null }
type StreamRow = StateRow & { removed: boolean }

/** A change committed in a transaction, handed to subscribers once the transaction is over. */
type Committed = { result: MapUpdateResult; pub?: MapPublication }

export class PostgresMapBroker implements MapBroker {
  private readonly db: Db
  private handler?: MapBrokerEventHandler
  private timer?: NodeJS.Timeout
  private sweeping = false
  private readonly expireIntervalMs: number
  private readonly onError: (err: Error) => void

  constructor(opts: PostgresMapBrokerOptions) {
    this.db = opts.db
    this.expireIntervalMs = opts.expireIntervalMs ?? 1_000
    this.onError = opts.onError ?? (() => {})
  }

  async run(handler: MapBrokerEventHandler): Promise<void> {
    this.handler = handler
    this.timer = setInterval(() => void this.sweep(), this.expireIntervalMs)
    this.timer.unref()
  }

  async subscribe(): Promise<void> {}
  async unsubscribe(): Promise<void> {}

  async publish(channel: string, key: string, opts: MapPublishOptions, chOpts: MapChannelOptions): Promise<MapUpdateResult> {
    const now = Date.now()
    const done = await this.db.transaction(async (tx): Promise<Committed> => {
      const meta = await this.lockMeta(tx, channel, chOpts, now)
      const seen = await this.seen(tx, channel, opts.idempotencyKey, now)
      if (seen) return { result: { position: seen, suppressed: true, suppressReason: 'idempotency' } }
      const position = { offset: Number(meta.top), epoch: meta.epoch }
      const [row] = await tx.query<StateRow>('SELECT * FROM map_state WHERE channel = $1 AND key = $2', [channel, key])
      const live = row && (row.expires_at === null || Number(row.expires_at) > now) ? row : undefined
      if (hasStream(chOpts) && opts.version && live && Number(live.version) > 0 &&
        (opts.versionEpoch ?? '') === live.version_epoch && opts.version <= Number(live.version)) {
        return { result: { position, suppressed: true, suppressReason: 'version' } }
      }
      if (opts.keyMode === 'if_new' && live) {
        if (opts.refreshTtlOnSuppress && chOpts.keyTtlMs > 0) {
          await tx.query('UPDATE map_state SET expires_at = $3 WHERE channel = $1 AND key = $2', [channel, key, now + chOpts.keyTtlMs])
        }
        return { result: { position, suppressed: true, suppressReason: 'key_exists' } }
      }
      if (opts.keyMode === 'if_exists' && !live) return { result: { position, suppressed: true, suppressReason: 'key_not_found' } }
      const pub: MapPublication = { key, data: opts.data }
      if (opts.info) pub.info = opts.info
      if (opts.tags && Object.keys(opts.tags).length) pub.tags = opts.tags
      const top = await this.append(tx, channel, meta, pub, chOpts, now)
      await tx.query(
        `INSERT INTO map_state (channel, key, data, info, tags, "offset", version, version_epoch, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (channel, key) DO UPDATE SET data = $3, info = $4, tags = $5, "offset" = $6, version = $7, version_epoch = $8, expires_at = $9`,
        [channel, key, opts.data, json(pub.info), json(pub.tags), pub.offset ?? 0, opts.version ?? 0, opts.version ? opts.versionEpoch ?? '' : '',
          chOpts.keyTtlMs > 0 ? now + chOpts.keyTtlMs : null],
      )
      const result = { position: { offset: top, epoch: meta.epoch }, suppressed: false }
      await this.remember(tx, channel, opts, result.position, now)
      return { result, pub: opts.useDelta && live ? { ...pub, prevData: live.data } : pub }
    })
    return this.deliver(channel, done)
  }

  async remove(channel: string, key: string, opts: MapRemoveOptions, chOpts: MapChannelOptions): Promise<MapUpdateResult> {
    const now = Date.now()
    const done = await this.db.transaction(async (tx): Promise<Committed> => {
      const meta = await this.lockMeta(tx, channel, chOpts, now)
      const seen = await this.seen(tx, channel, opts.idempotencyKey, now)
      if (seen) return { result: { position: seen, suppressed: true, suppressReason: 'idempotency' } }
      const committed = await this.removeRow(tx, channel, key, meta, chOpts, now, false)
      if (!committed.result.suppressed) await this.remember(tx, channel, opts, committed.result.position, now)
      return committed
    })
    return this.deliver(channel, done)
  }

  /** Deletes the key and appends its removal; with `onlyExpired`, only when its TTL has passed (the sweep re-checks). */
  private async removeRow(tx: Db, channel: string, key: string, meta: MetaRow, chOpts: MapChannelOptions, now: number, onlyExpired: boolean): Promise<Committed> {
    const position = { offset: Number(meta.top), epoch: meta.epoch }
    const [row] = await tx.query<StateRow>(
      `DELETE FROM map_state WHERE channel = $1 AND key = $2 ${onlyExpired ? 'AND expires_at <= $3' : 'AND $3::bigint IS NOT NULL'} RETURNING *`,
      [channel, key, now],
    )
    if (!row) return { result: { position, suppressed: true, suppressReason: 'key_not_found' } }
    const pub: MapPublication = { key, data: '', removed: true }
    if (row.tags) pub.tags = JSON.parse(row.tags)
    const top = await this.append(tx, channel, meta, pub, chOpts, now)
    return { result: { position: { offset: top, epoch: meta.epoch }, suppressed: false }, pub }
  }

  private deliver(channel: string, done: Committed): MapUpdateResult {
    if (done.pub) this.handler?.handleMapPublication(channel, done.pub, done.result.position)
    return done.result
  }

  /**
   * The channel's meta row, locked for this transaction: created with a new epoch when missing, and started again
   * (new epoch, empty state and stream) when it expired. Each write extends its TTL and records the stream options.
   */
  private async lockMeta(tx: Db, channel: string, chOpts: MapChannelOptions, now: number): Promise<MetaRow> {
    const expiresAt = chOpts.metaTtlMs > 0 ? now + chOpts.metaTtlMs : null
    await tx.query('INSERT INTO map_meta (channel, epoch, expires_at) VALUES ($1, $2, $3) ON CONFLICT (channel) DO NOTHING', [channel, newEpoch(), expiresAt])
    const [meta] = await tx.query<MetaRow & { expires_at: string | number | null }>('SELECT * FROM map_meta WHERE channel = $1 FOR UPDATE', [channel])
    if (meta!.expires_at !== null && Number(meta!.expires_at) <= now) {
      await tx.query('DELETE FROM map_state WHERE channel = $1', [channel])
      await tx.query('DELETE FROM map_stream WHERE channel = $1', [channel])
      meta!.epoch = newEpoch()
      meta!.top = 0
    }
    meta!.stream_size = chOpts.streamSize
    meta!.stream_ttl = chOpts.streamTtlMs
    meta!.meta_ttl = chOpts.metaTtlMs
    await tx.query(
      'UPDATE map_meta SET epoch = $2, top = $3, stream_size = $4, stream_ttl = $5, meta_ttl = $6, expires_at = $7 WHERE channel = $1',
      [channel, meta!.epoch, meta!.top, chOpts.streamSize, chOpts.streamTtlMs, chOpts.metaTtlMs, expiresAt],
    )
    return meta!
  }

  /** Gives the change the next offset and appends it to the stream (stream modes); returns the stream top. */
  private async append(tx: Db, channel: string, meta: MetaRow, pub: MapPublication, chOpts: MapChannelOptions, now: number): Promise<number> {
    if (!hasStream(chOpts)) return Number(meta.top)
    const top = Number(meta.top) + 1
    pub.offset = top
    await tx.query('UPDATE map_meta SET top = $2 WHERE channel = $1', [channel, top])
    await tx.query(
      'INSERT INTO map_stream (channel, "offset", key, data, removed, info, tags, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [channel, top, pub.key, pub.data, pub.removed === true, json(pub.info), json(pub.tags), now + chOpts.streamTtlMs],
    )
    await tx.query('DELETE FROM map_stream WHERE channel = $1 AND "offset" <= $2', [channel, top - chOpts.streamSize])
    meta.top = top
    return top
  }

  private async seen(tx: Db, channel: string, idempotencyKey: string | undefined, now: number): Promise<StreamPosition | undefined> {
    if (!idempotencyKey) return undefined
    const [r] = await tx.query<{ offset: string; epoch: string }>(
      'SELECT "offset", epoch FROM map_results WHERE channel = $1 AND idempotency_key = $2 AND expires_at > $3', [channel, idempotencyKey, now],
    )
    return r && { offset: Number(r.offset), epoch: r.epoch }
  }

  private async remember(tx: Db, channel: string, opts: { idempotencyKey?: string; idempotentResultTtlMs?: number }, position: StreamPosition, now: number): Promise<void> {
    if (!opts.idempotencyKey) return
    await tx.query(
      `INSERT INTO map_results (channel, idempotency_key, "offset", epoch, expires_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (channel, idempotency_key) DO UPDATE SET "offset" = $3, epoch = $4, expires_at = $5`,
      [channel, opts.idempotencyKey, position.offset, position.epoch, now + (opts.idempotentResultTtlMs ?? DEFAULT_MAP_IDEMPOTENT_RESULT_TTL_MS)],
    )
  }

  /** The channel's position, its meta created when missing (reads establish the epoch, as Centrifugo's do). */
  private async position(channel: string, chOpts: MapChannelOptions): Promise<StreamPosition> {
    const now = Date.now()
    const [meta] = await this.db.query<{ epoch: string; top: string; expires_at: string | null }>('SELECT epoch, top, expires_at FROM map_meta WHERE channel = $1', [channel])
    if (meta && (meta.expires_at === null || Number(meta.expires_at) > now)) return { offset: Number(meta.top), epoch: meta.epoch }
    // Missing or expired: a write transaction starts it (again) with a new epoch.
    const created = await this.db.transaction((tx) => this.lockMeta(tx, channel, chOpts, now))
    return { offset: Number(created.top), epoch: created.epoch }
  }

  async readState(channel: string, opts: { cursor?: string; limit: number; revision?: StreamPosition }, chOpts: MapChannelOptions): Promise<MapStateResult> {
    // The position first: the state read after it is at least as new, and the stream catch-up covers the difference.
    const position = await this.position(channel, chOpts)
    if (opts.revision && opts.revision.epoch !== position.epoch) throw new UnrecoverablePositionError()
    if (opts.limit === 0) return { publications: [], position, cursor: '' }
    const rows = await this.db.query<StateRow>(
      `SELECT * FROM map_state WHERE channel = $1 AND key > $2 AND (expires_at IS NULL OR expires_at > $3) ORDER BY key ${opts.limit > 0 ? 'LIMIT $4' : ''}`,
      opts.limit > 0 ? [channel, opts.cursor ?? '', Date.now(), opts.limit + 1] : [channel, opts.cursor ?? '', Date.now()],
    )
    const more = opts.limit > 0 && rows.length > opts.limit
    const page = more ? rows.slice(0, opts.limit) : rows
    return { publications: page.map(rowToPublication), position, cursor: more ? page[page.length - 1]!.key : '' }
  }

  async readStream(channel: string, opts: { since?: StreamPosition; limit: number }, chOpts: MapChannelOptions): Promise<MapStreamResult> {
    const position = await this.position(channel, chOpts)
    const since = opts.since
    if (since?.epoch && since.epoch !== position.epoch) throw new UnrecoverablePositionError()
    if (opts.limit === 0) return { publications: [], position }
    if (since && since.offset > position.offset) throw new UnrecoverablePositionError()
    if (since && since.offset === position.offset) return { publications: [], position }
    const rows = await this.db.query<StreamRow>(
      `SELECT * FROM map_stream WHERE channel = $1 AND "offset" > $2 AND expires_at > $3 ORDER BY "offset" ${opts.limit > 0 ? 'LIMIT $4' : ''}`,
      opts.limit > 0 ? [channel, since?.offset ?? 0, Date.now(), opts.limit] : [channel, since?.offset ?? 0, Date.now()],
    )
    const publications = rows.map(rowToPublication)
    // The next change after `since` is no longer kept: the client cannot catch up from the stream.
    if (since && publications[0]?.offset !== since.offset + 1) throw new UnrecoverablePositionError()
    return { publications, position }
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    this.handler = undefined
  }

  /** Removes expired keys (publishing each removal), then expired stream entries, results and channels; bounded per run. */
  private async sweep(): Promise<void> {
    if (this.sweeping) return
    this.sweeping = true
    try {
      const now = Date.now()
      const due = await this.db.query<{ channel: string; key: string }>('SELECT channel, key FROM map_state WHERE expires_at <= $1 LIMIT 500', [now])
      for (const { channel, key } of due) {
        const done = await this.db.transaction(async (tx): Promise<Committed | undefined> => {
          const [m] = await tx.query<MetaRow>('SELECT * FROM map_meta WHERE channel = $1', [channel])
          if (!m) {
            await tx.query('DELETE FROM map_state WHERE channel = $1 AND key = $2', [channel, key])
            return undefined
          }
          const chOpts: MapChannelOptions = {
            mode: m.stream_size > 0 ? 'recoverable' : 'ephemeral', keyTtlMs: 1, streamSize: m.stream_size, streamTtlMs: Number(m.stream_ttl), metaTtlMs: Number(m.meta_ttl),
          }
          const meta = await this.lockMeta(tx, channel, chOpts, now)
          return this.removeRow(tx, channel, key, meta, chOpts, now, true)
        })
        if (done) this.deliver(channel, done)
      }
      await this.db.query('DELETE FROM map_stream WHERE expires_at <= $1', [now])
      await this.db.query('DELETE FROM map_results WHERE expires_at <= $1', [now])
      await this.db.query('DELETE FROM map_meta m WHERE expires_at <= $1 AND NOT EXISTS (SELECT 1 FROM map_state s WHERE s.channel = m.channel)', [now])
    } catch (err) {
      this.onError(err as Error)
    } finally {
      this.sweeping = false
    }
  }
}

const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v))

function rowToPublication(row: StateRow | StreamRow): MapPublication {
  const pub: MapPublication = { key: row.key, data: row.data }
  const offset = Number(row.offset)
  if (offset) pub.offset = offset
  if ('removed' in row && row.removed) pub.removed = true
  if (row.info) pub.info = JSON.parse(row.info) as ClientInfo
  if (row.tags) pub.tags = JSON.parse(row.tags) as Record<string, string>
  return pub
}

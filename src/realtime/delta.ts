/**
 * Fossil delta compression as Centrifugo does it (centrifuge hub.go `getDeltaPub`, client.go
 * `makeRecoveredPubsDeltaFossil`). A subscriber that asked for `delta: 'fossil'` in a namespace whose
 * `allowedDeltaTypes` has it gets each publication as a fossil delta against the channel's previous one, whole
 * when it has no base yet (the first after subscribe) or when the delta would not be smaller. With the JSON protocol
 * such a subscriber's payloads travel as JSON strings (the data's JSON text, or the delta); with protobuf as bytes.
 */
import { isUtf8 } from 'node:buffer'
import { createDelta } from 'fossil-delta'
import type { Codec } from '../protocol/codec.js'
import type { Publication } from '../protocol/types.js'
import type { BrokerPublication } from './broker.js'

export type DeltaType = 'fossil'

export const DELTA_TYPES: readonly DeltaType[] = ['fossil']

export const isDeltaType = (value: string): value is DeltaType => (DELTA_TYPES as readonly string[]).includes(value)

/** The fossil delta turning `prev` into `data` (both JSON text, as UTF-8), or null when it is not smaller than `data`. */
export function fossilDelta(prev: string, data: string): Buffer | null {
  const target = Buffer.from(data)
  const patch = createDelta(Buffer.from(prev), target)
  return patch.length < target.length ? Buffer.from(patch.buffer, patch.byteOffset, patch.length) : null
}

/**
 * A delta as the codec carries it, or null when it cannot: the JSON SDK reads a delta back from a JSON string as
 * UTF-8, so a delta whose literal bytes split a character goes whole instead.
 */
function deltaPayload(patch: Buffer | null, codec: Codec): Buffer | string | null {
  if (!patch) return null
  if (codec.binary) return patch
  return isUtf8(patch) ? patch.toString('utf8') : null
}

/** Data as a delta subscriber gets it whole: the JSON text as a string (JSON) or as bytes (protobuf). */
const wholePayload = (data: string, codec: Codec): Buffer | string => (codec.binary ? Buffer.from(data) : data)

/**
 * One fan-out's frames for the channel's delta subscribers: the whole publication and the delta against `prev`,
 * each encoded once per codec on first need and shared by every delta subscriber of that codec.
 */
export class DeltaFrames {
  private readonly byCodec = new Map<string, { whole: Buffer; delta: Buffer }>()
  /** undefined: not computed yet; null: no delta (no base, or not smaller). */
  private patch?: Buffer | null

  constructor(
    private readonly channel: string,
    private readonly pub: BrokerPublication,
    private readonly meta: Omit<Publication, 'data'>,
    /** The channel's previous publication when the broker carried it (published with delta, history on). */
    private readonly prev: BrokerPublication | undefined,
    /** The frame non-delta subscribers of this codec get; protobuf delta subscribers get the same bytes whole. */
    private readonly plain: (codec: Codec) => Buffer,
  ) {}

  of(codec: Codec): { whole: Buffer; delta: Buffer } {
    let frames = this.byCodec.get(codec.name)
    if (!frames) this.byCodec.set(codec.name, (frames = this.encode(codec)))
    return frames
  }

  private encode(codec: Codec): { whole: Buffer; delta: Buffer } {
    const whole = codec.binary ? this.plain(codec) : this.frame(codec, this.pub.data, false)
    if (this.patch === undefined) this.patch = this.prev ? fossilDelta(this.prev.data, this.pub.data) : null
    const payload = deltaPayload(this.patch, codec)
    return { whole, delta: payload === null ? whole : this.frame(codec, payload, true) }
  }

  private frame(codec: Codec, payload: Buffer | string, delta: boolean): Buffer {
    const meta = delta ? { ...this.meta, delta } : this.meta
    const encoded = typeof payload === 'string'
      ? codec.encodePublicationPush(this.channel, JSON.stringify(payload), meta)
      : codec.encodePush({ channel: this.channel, pub: { ...meta, data: payload } })
    return typeof encoded === 'string' ? Buffer.from(encoded) : encoded
  }
}

/**
 * Recovered publications for a delta subscriber, in order: the first whole, each next one a delta against the one
 * before it (whole when not smaller), as Centrifugo's `makeRecoveredPubsDeltaFossil`.
 */
export function recoveredWithDelta(pubs: readonly BrokerPublication[], codec: Codec): Publication[] {
  return pubs.map((pub, i) => {
    const out: Publication = { data: wholePayload(pub.data, codec) }
    if (i > 0) {
      const payload = deltaPayload(fossilDelta(pubs[i - 1]!.data, pub.data), codec)
      if (payload !== null) {
        out.data = payload
        out.delta = true
      }
    }
    if (pub.offset) out.offset = pub.offset
    if (pub.info) out.info = pub.info
    if (pub.tags && Object.keys(pub.tags).length) out.tags = pub.tags
    return out
  })
}

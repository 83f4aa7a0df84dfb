/** Which client-protocol codec a connection speaks, chosen as Centrifugo does at the handshake. */
import { jsonCodec, type Codec } from '../protocol/codec.js'
import { protobufCodec } from '../protocol/codec-protobuf.js'

/** The WebSocket subprotocol the protobuf SDK offers (`centrifuge/build/protobuf`). */
export const PROTOBUF_SUBPROTOCOL = 'centrifuge-protobuf'

/** True when the query asks for protobuf: `cf_protocol=protobuf` or the older `format=protobuf`. */
export function queryWantsProtobuf(url: string): boolean {
  const q = url.indexOf('?')
  if (q < 0) return false
  const params = new URLSearchParams(url.slice(q + 1))
  return params.get('cf_protocol') === 'protobuf' || params.get('format') === 'protobuf'
}

/**
 * An HTTP-streaming connection's codec: protobuf when the connect request's Content-Type is
 * `application/octet-stream`, as Centrifugo's handler_http_stream.go decides (it does not read `cf_protocol`).
 */
export function httpStreamCodec(contentType: string | undefined): Codec {
  return contentType?.split(';')[0].trim().toLowerCase() === 'application/octet-stream' ? protobufCodec : jsonCodec
}

/** A WebSocket's codec from the selected subprotocol or the query (Centrifugo's websocket handler). */
export function wsCodec(subprotocol: string, url: string): Codec {
  return subprotocol === PROTOBUF_SUBPROTOCOL || queryWantsProtobuf(url) ? protobufCodec : jsonCodec
}

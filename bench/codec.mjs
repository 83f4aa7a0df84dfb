/**
 * `node bench/codec.mjs [--ms=300] [--runs=7] [--payloads=100,1024]`: the client protocol's codecs side by side,
 * per publication push, JSON against protobuf (livedesk's codecs from dist/: `npm run build` first; the
 * client side is the `centrifuge` SDK's own codec of each build). Prints ns per operation (median of the runs)
 * and bytes on the wire. One process, one core; JSON and protobuf windows alternate, so load on the machine
 * skews both alike, but absolute figures want an idle machine.
 *
 *   server encode   a publication push to bytes, once per channel per publication (node.ts handlePublication)
 *   SDK decode      that push, once per subscriber, as the SDK decodes a frame (protobuf data stays bytes;
 *                   the next row adds the application's JSON.parse, which the JSON SDK has done already)
 *   server decode   the publish command carrying the same payload (client.ts handleFrame)
 */
import { Centrifuge as CentrifugeJson } from 'centrifuge'
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf'
import WebSocket from 'ws'
import { payloadFactory } from './lib/publisher.mjs'

const dist = new URL('../dist/protocol/', import.meta.url)
const json = await import(new URL('codec.js', dist).href).catch(() => null)
const protobuf = await import(new URL('codec-protobuf.js', dist).href).catch(() => null)
if (!json || !protobuf?.protobufCodec) {
  console.error('bench/codec.mjs: dist/protocol/codec-protobuf.js is missing; run `npm run build` first')
  process.exit(1)
}

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')))
const windowMs = Number(args.ms ?? 300)
const runs = Number(args.runs ?? 7)
const payloads = String(args.payloads ?? '100,1024').split(',').map(Number)

const sdkJson = new CentrifugeJson('ws://127.0.0.1:1/', { websocket: WebSocket })._codec
const sdkProtobuf = new CentrifugeProtobuf('ws://127.0.0.1:1/', { websocket: WebSocket })._codec
const textEncoder = new TextEncoder()

/** ns per call of `fn` over one window of `windowMs`. */
function window(fn) {
  let calls = 0
  let sink = 0
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(windowMs) * 1_000_000n
  let now = start
  while (now < deadline) {
    for (let i = 0; i < 64; i++) sink += fn() ? 1 : 0
    calls += 64
    now = process.hrtime.bigint()
  }
  if (sink < 0) console.log(sink) // keeps the results alive
  return Number(now - start) / calls
}

/** Median ns per call of `a` and of `b`, their windows interleaved so that load on the machine hits both alike. */
function compare(a, b) {
  window(a)
  window(b)
  const sa = []
  const sb = []
  for (let i = 0; i < runs; i++) {
    sa.push(window(a))
    sb.push(window(b))
  }
  const median = (xs) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]
  return [median(sa), median(sb)]
}

const rows = []
for (const bytes of payloads) {
  const data = payloadFactory(bytes)(123456, 1_767_000_000_000.5)
  const dataJson = JSON.stringify(data)
  const pub = { offset: 123456, info: { user: 'operator-17', client: '3f0c1a52-8d1e-4c3e-9b7a-2a1f5d6e7c80' } }
  const channel = 'session:8c1e2f'

  const jsonPush = json.encodePublicationPush(channel, dataJson, pub)
  const protobufPush = protobuf.encodePublicationPush(channel, dataJson, pub)
  const jsonFrame = Buffer.from(jsonPush) // as the transport hands it to the SDK
  const jsonPublish = JSON.stringify({ publish: { channel, data }, id: 42 })
  const protobufPublish = sdkProtobuf.encodeCommands([{ id: 42, publish: { channel, data: textEncoder.encode(dataJson) } }])

  // Both codecs must agree before their speed means anything.
  const viaSdk = sdkProtobuf.decodeReplies(protobufPush)[0].push.pub
  if (JSON.stringify(JSON.parse(Buffer.from(viaSdk.data).toString())) !== dataJson) throw new Error('protobuf push does not round-trip')
  if (JSON.stringify(sdkJson.decodeReplies(jsonFrame.toString())[0].push.pub.data) !== dataJson) throw new Error('JSON push does not round-trip')

  const row = (op, jsonFn, protobufFn, jsonBytes, protobufBytes) => {
    const [j, p] = compare(jsonFn, protobufFn)
    rows.push({ payload: bytes, op, json: j, protobuf: p, jsonBytes, protobufBytes })
  }
  // JSON's text becomes bytes once per channel too (node.ts: Buffer.from), so that is counted.
  row('server encode: publication push', () => Buffer.from(json.encodePublicationPush(channel, dataJson, pub)), () => protobuf.encodePublicationPush(channel, dataJson, pub),
    jsonPush.length, protobufPush.length)
  row('SDK decode: publication push', () => sdkJson.decodeReplies(jsonFrame.toString()), () => sdkProtobuf.decodeReplies(protobufPush),
    jsonFrame.length, protobufPush.length)
  const textDecoder = new TextDecoder()
  row('SDK decode, then data as a JS value', () => sdkJson.decodeReplies(jsonFrame.toString()),
    () => JSON.parse(textDecoder.decode(sdkProtobuf.decodeReplies(protobufPush)[0].push.pub.data)), jsonFrame.length, protobufPush.length)
  row('server decode: publish command', () => json.decodeCommands(jsonPublish), () => protobuf.decodeCommands(protobufPublish),
    jsonPublish.length, protobufPublish.length)
}

const pad = (s, n) => String(s).padEnd(n)
const num = (n) => n.toFixed(0).padStart(8)
console.log(`node ${process.version}, ${windowMs} ms × ${runs} runs per cell, median ns/op\n`)
console.log(`${pad('payload', 8)} ${pad('operation', 36)} ${'JSON ns'.padStart(8)} ${'pb ns'.padStart(8)}  pb/JSON  ${'JSON B'.padStart(7)} ${'pb B'.padStart(7)}`)
for (const r of rows) {
  console.log(`${pad(r.payload, 8)} ${pad(r.op, 36)} ${num(r.json)} ${num(r.protobuf)}  ${(r.protobuf / r.json).toFixed(2).padStart(7)}  ${String(r.jsonBytes).padStart(7)} ${String(r.protobufBytes).padStart(7)}`)
}

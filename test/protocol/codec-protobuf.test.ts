import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { CLIENT_PROTO } from '../../src/protocol/client-proto.js'
import { decodeCommands as decodeJson, jsonCodec, type DecodedCommand, type EncodedMessage } from '../../src/protocol/codec.js'
import {
  decodeCommands, decodeReplies, encodeCommands, encodeError, encodePublicationPush, encodePush, encodeReply, PING, protobufCodec,
} from '../../src/protocol/codec-protobuf.js'
import { nextEvent, until } from '../helpers/sdk.js'

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))
const dec = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b))
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')

/** The SDK's own protobuf codec (not exported by the package; every Centrifuge of its protobuf build holds one). */
const sdkCodec: {
  encodeCommands(commands: object[]): Uint8Array
  decodeReplies(data: Uint8Array): any[]
  encodeReplies(replies: object[]): Uint8Array
} = (new CentrifugeProtobuf('ws://127.0.0.1:1/', { websocket: WebSocket }) as any)._codec

/** An SDK-decoded message in the JSON shape of types.ts: bytes parsed as JSON, 64-bit integers as numbers, empty maps and lists left out. */
function fromSdk(v: any): unknown {
  if (v instanceof Uint8Array) return v.length ? dec(v) : undefined
  if (Array.isArray(v)) return v.length ? v.map(fromSdk) : undefined
  if (v && typeof v === 'object' && typeof v.toNumber === 'function' && 'low' in v) return v.toNumber()
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v)) {
      const x = fromSdk(v[k])
      if (x !== undefined) out[k] = x
    }
    // A map is a plain object; an empty message (e.g. an UnsubscribeResult) is an instance of its class and stays.
    return Object.keys(out).length === 0 && Object.getPrototypeOf(v) === Object.prototype ? undefined : out
  }
  return v
}

/** Every command the SDK sends, in the SDK's own shape (data as bytes) and in the JSON shape the JSON codec gives. */
const COMMANDS: Array<[object, Record<string, unknown>]> = [
  [
    { id: 1, connect: { token: 'jwt', data: enc({ app: 'desk' }), name: 'js', version: '5.8.0', headers: { 'x-a': 'b' }, subs: { 'personal:1': { recover: true, offset: 5, epoch: 'e1' } } } },
    { id: 1, connect: { token: 'jwt', data: { app: 'desk' }, name: 'js', version: '5.8.0', headers: { 'x-a': 'b' }, subs: { 'personal:1': { recover: true, offset: 5, epoch: 'e1' } } } },
  ],
  [
    { id: 2, subscribe: { channel: 'chat:1', token: 'st', data: enc([1]), positioned: true, recoverable: true, join_leave: true, flag: 1, recover: true, offset: 7, epoch: 'e2' } },
    { id: 2, subscribe: { channel: 'chat:1', token: 'st', data: [1], positioned: true, recoverable: true, join_leave: true, flag: 1, recover: true, offset: 7, epoch: 'e2' } },
  ],
  [{ id: 3, unsubscribe: { channel: 'chat:1' } }, { id: 3, unsubscribe: { channel: 'chat:1' } }],
  [{ id: 4, publish: { channel: 'chat:1', data: enc({ text: 'hi' }) } }, { id: 4, publish: { channel: 'chat:1', data: { text: 'hi' } } }],
  [{ id: 5, presence: { channel: 'chat:1' } }, { id: 5, presence: { channel: 'chat:1' } }],
  [{ id: 6, presence_stats: { channel: 'chat:1' } }, { id: 6, presence_stats: { channel: 'chat:1' } }],
  [
    { id: 7, history: { channel: 'chat:1', since: { offset: 3, epoch: 'e2' }, limit: 10, reverse: true } },
    { id: 7, history: { channel: 'chat:1', since: { offset: 3, epoch: 'e2' }, limit: 10, reverse: true } },
  ],
  [{ id: 8, ping: {} }, { id: 8, ping: {} }],
  [{ send: { data: enc('fire') } }, { send: { data: 'fire' } }],
  [{ id: 9, rpc: { method: 'm', data: enc(null) } }, { id: 9, rpc: { method: 'm', data: null } }],
  [{ id: 10, refresh: { token: 't2' } }, { id: 10, refresh: { token: 't2' } }],
  [{ id: 11, sub_refresh: { channel: 'chat:1', token: 'st2' } }, { id: 11, sub_refresh: { channel: 'chat:1', token: 'st2' } }],
]

const asDecoded = (json: Record<string, unknown>): DecodedCommand => {
  const method = Object.keys(json).find((k) => k !== 'id') as any
  return { kind: 'command', method, id: (json.id as number | undefined) ?? 0, command: json as any }
}

describe('vendored client.proto', () => {
  it('CLIENT_PROTO is the vendored client.proto of centrifugal/protocol, unchanged', () => {
    expect(CLIENT_PROTO).toBe(readFileSync(new URL('../../src/protocol/centrifugal/client.proto', import.meta.url), 'utf8'))
  })
})

describe('decodeCommands: frames the SDK encodes (its own protobuf build)', () => {
  it('decodes every command the SDK sends, all in one frame and in order, with data parsed from its JSON bytes', () => {
    const frame = sdkCodec.encodeCommands([...COMMANDS.map(([sdk]) => sdk), {}])
    const r = decodeCommands(Buffer.from(frame))
    expect(r).toEqual({ ok: true, commands: [...COMMANDS.map(([, json]) => asDecoded(json)), { kind: 'pong' }] })
  })

  it('decodes the SDK pong (an empty command, one zero byte) as a pong', () => {
    const frame = sdkCodec.encodeCommands([{}])
    expect([...frame]).toEqual([0])
    expect(decodeCommands(Buffer.from(frame))).toEqual({ ok: true, commands: [{ kind: 'pong' }] })
  })

  it('gives, for every command, what the JSON codec gives for the same command as JSON', () => {
    for (const [, json] of COMMANDS) {
      expect(decodeCommands(encodeCommands([json])), JSON.stringify(json)).toEqual(decodeJson(JSON.stringify(json)))
    }
  })

  it('keeps empty required strings (proto3 cannot send them) so the client core sees what a JSON client would send', () => {
    const r = decodeCommands(sdkCodec.encodeCommands([{ id: 1, subscribe: { channel: '' } }, { id: 2, refresh: {} }]) as Buffer)
    expect(r).toEqual({ ok: true, commands: [asDecoded({ id: 1, subscribe: { channel: '' } }), asDecoded({ id: 2, refresh: { token: '' } })] })
  })

  it('reads a text frame as its UTF-8 bytes', () => {
    expect(decodeCommands('\x00')).toEqual({ ok: true, commands: [{ kind: 'pong' }] })
  })
})

describe('encoders: replies and pushes the SDK decodes (its own protobuf build)', () => {
  const info = { user: 'u1', client: 'c1', conn_info: { name: 'Ann' }, chan_info: { role: 'op' } }
  const pubs = [{ data: { n: 3 }, offset: 3, info, tags: { k: 'v' } }, { data: 'text', offset: 4 }]
  const subscribed = { expires: true, ttl: 30, recoverable: true, epoch: 'e', offset: 9, positioned: true, publications: pubs, recovered: true, was_recovering: true, data: { sub: true } }
  const cases: Array<[string, Buffer, Record<string, unknown>]> = [
    ['connect', encodeReply(1, 'connect', { client: 'c1', version: '1.0', expires: true, ttl: 60, data: { hello: 1 }, subs: { 'personal:u1': subscribed }, ping: 25, pong: true, session: 's', node: 'n1' }),
      { id: 1, connect: { client: 'c1', version: '1.0', expires: true, ttl: 60, data: { hello: 1 }, subs: { 'personal:u1': subscribed }, ping: 25, pong: true, session: 's', node: 'n1' } }],
    ['subscribe', encodeReply(2, 'subscribe', subscribed), { id: 2, subscribe: subscribed }],
    ['unsubscribe', encodeReply(3, 'unsubscribe', {}), { id: 3, unsubscribe: {} }],
    ['publish', encodeReply(4, 'publish', undefined), { id: 4, publish: {} }],
    ['presence', encodeReply(5, 'presence', { presence: { c1: info } }), { id: 5, presence: { presence: { c1: info } } }],
    ['presence_stats', encodeReply(6, 'presence_stats', { num_clients: 2, num_users: 1 }), { id: 6, presence_stats: { num_clients: 2, num_users: 1 } }],
    ['history', encodeReply(7, 'history', { publications: pubs, epoch: 'e', offset: 4 }), { id: 7, history: { publications: pubs, epoch: 'e', offset: 4 } }],
    ['ping', encodeReply(8, 'ping', {}), { id: 8, ping: {} }],
    ['rpc', encodeReply(9, 'rpc', { data: { answer: [42, null, 'x'] } }), { id: 9, rpc: { data: { answer: [42, null, 'x'] } } }],
    ['refresh', encodeReply(10, 'refresh', { client: 'c1', version: '1.0', expires: true, ttl: 60 }), { id: 10, refresh: { client: 'c1', version: '1.0', expires: true, ttl: 60 } }],
    ['sub_refresh', encodeReply(11, 'sub_refresh', { expires: true, ttl: 30 }), { id: 11, sub_refresh: { expires: true, ttl: 30 } }],
    ['error', encodeError(12, { code: 103, message: 'permission denied', temporary: true }), { id: 12, error: { code: 103, message: 'permission denied', temporary: true } }],
    ['publication push', encodePublicationPush('chat:1', '{"text":"привет"}', { offset: 4, info, tags: { k: 'v' } }),
      { push: { channel: 'chat:1', pub: { data: { text: 'привет' }, offset: 4, info, tags: { k: 'v' } } } }],
    ['join push', encodePush({ channel: 'chat:1', join: { info } }), { push: { channel: 'chat:1', join: { info } } }],
    ['leave push', encodePush({ channel: 'chat:1', leave: { info } }), { push: { channel: 'chat:1', leave: { info } } }],
    ['unsubscribe push', encodePush({ channel: 'chat:1', unsubscribe: { code: 2000, reason: 'server unsubscribe' } }), { push: { channel: 'chat:1', unsubscribe: { code: 2000, reason: 'server unsubscribe' } } }],
    ['message push', encodePush({ message: { data: { note: 1 } } }), { push: { message: { data: { note: 1 } } } }],
    ['subscribe push', encodePush({ channel: 'news', subscribe: { recoverable: true, epoch: 'e', offset: 1, positioned: true, data: { x: 1 } } }),
      { push: { channel: 'news', subscribe: { recoverable: true, epoch: 'e', offset: 1, positioned: true, data: { x: 1 } } } }],
    ['disconnect push', encodePush({ disconnect: { code: 3501, reason: 'bad request' } }), { push: { disconnect: { code: 3501, reason: 'bad request' } } }],
    ['ping', PING, {}],
  ]

  it('encodes every reply, error and push so that the SDK decodes them, one frame, in order', () => {
    const frame = protobufCodec.joinMessages(cases.map(([, bytes]) => bytes)) as Buffer
    const decoded = sdkCodec.decodeReplies(frame)
    expect(decoded.map(fromSdk)).toEqual(cases.map(([, , expected]) => expected))
    expect(decodeReplies(frame)).toEqual(cases.map(([, , expected]) => expected))
  })

  it('encodes a publication push byte for byte as the SDK encodes the same Reply', () => {
    const info = { user: 'u1', client: 'c1', conn_info: { name: 'Ann' } }
    const ours = encodePublicationPush('chat:1', '{"text":"hi"}', { offset: 17, info, tags: { k: 'v' } })
    const sdk = sdkCodec.encodeReplies([{ push: { channel: 'chat:1', pub: { data: enc({ text: 'hi' }), offset: 17, info: { user: 'u1', client: 'c1', conn_info: enc({ name: 'Ann' }) }, tags: { k: 'v' } } } }])
    expect(ours.toString('hex')).toBe(Buffer.from(sdk).toString('hex'))
    // Empty fields stay off the wire as in the JSON codec: no offset, info or tags.
    expect(decodeReplies(encodePublicationPush('c', '"s"', { offset: 0, tags: {} }))).toEqual([{ push: { channel: 'c', pub: { data: 's' } } }])
  })

  it('encodes the ping as an empty Reply the SDK treats as a ping, and replies byte for byte as the SDK encodes them', () => {
    expect([...PING]).toEqual([0])
    const [ping] = sdkCodec.decodeReplies(PING)
    expect(ping.id).toBe(0)
    expect(ping.push).toBeNull()
    const result = { client: 'c1', version: '1.0', ping: 25, pong: true }
    expect(encodeReply(1, 'connect', result).toString('hex')).toBe(Buffer.from(sdkCodec.encodeReplies([{ id: 1, connect: result }])).toString('hex'))
    // Defaults stay off the wire, as Go's encoder leaves them.
    expect(encodeError(2, { code: 103, message: 'permission denied', temporary: false }).toString('hex'))
      .toBe(Buffer.from(sdkCodec.encodeReplies([{ id: 2, error: { code: 103, message: 'permission denied' } }])).toString('hex'))
  })

  it('joins JSON messages with newlines and protobuf messages back to back', () => {
    expect(jsonCodec.joinMessages(['{"a":1}', '{}'])).toBe('{"a":1}\n{}')
    expect(jsonCodec.joinMessages(['{}', Buffer.from('{"b":2}')])).toEqual(Buffer.from('{}\n{"b":2}'))
    const joined = protobufCodec.joinMessages([encodeReply(1, 'ping', {}), PING])
    expect(decodeReplies(joined as Buffer)).toEqual([{ id: 1, ping: {} }, {}])
    expect(jsonCodec.binary).toBe(false)
    expect(protobufCodec.binary).toBe(true)
  })
})

describe('decodeCommands: malformed frames are refused with an error naming the fault, never a throw', () => {
  const command = (bytes: string) => {
    const body = hex(bytes)
    return Buffer.concat([Buffer.from([body.length]), body])
  }
  const nested = (depth: number): Record<string, unknown> => (depth === 0 ? { key: 'k', cmp: 'eq', val: 'v' } : { op: 'not', nodes: [nested(depth - 1)] })
  const table: Array<[string, Buffer, RegExp]> = [
    ['an empty frame', Buffer.alloc(0), /empty frame/],
    ['a truncated length prefix', hex('80'), /command 1: truncated length prefix/],
    ['a length prefix longer than 10 bytes', hex('ffffffffffffffffffff01'), /truncated length prefix/],
    ['a length beyond the frame', hex('05 0801'), /command 1: length 5 exceeds the 2 bytes left/],
    ['an oversized length (2^32)', hex('8080808010 0801'), /length 4294967296 exceeds the 2 bytes left/],
    ['a good command then a truncated one', Buffer.concat([encodeCommands([{ id: 1, ping: {} }]), hex('0a 0801')]), /command 2: length 10 exceeds/],
    ['the id with wire type 2', command('0a00'), /^id: wire type 2, expected 0/],
    ['connect with wire type 0', command('2001'), /^connect: wire type 0, expected 2/],
    ['a nested wrong wire type', command('0801 2a02 0801'), /^subscribe\.channel: wire type 0, expected 2/],
    ['a map entry with a wrong wire type', command('0801 2204 1a02 0801'), /^connect\.subs\.key: wire type 0, expected 2/],
    ['wire type 7', command('0f'), /^id: invalid wire type 7/],
    ['a group (wire type 3)', command('0b'), /^id: invalid wire type 3/],
    ['wire type 6 in an unknown field', command('b601'), /^command field 22: invalid wire type 6/],
    ['field number 0', command('0001'), /invalid field number 0/],
    ['a nested length beyond its message', command('0801 2a0a 0a0163'), /^subscribe: length 10 exceeds the 3 bytes left/],
    ['a truncated varint', command('0880'), /^id: truncated varint/],
    ['a truncated fixed64 in an unknown field', command('a101 010203'), /field 20: truncated fixed-size value/],
    ['a truncated field tag', command('80'), /truncated field tag/],
    ['data that is not JSON', encodeCommands([{ id: 1, publish: { channel: 'c', data: new TextEncoder().encode('hi!') } }]), /^publish\.data must be JSON/],
    ['data that is not UTF-8', encodeCommands([{ id: 1, rpc: { data: hex('7b22ff227d') } }]), /^rpc\.data must be JSON/],
    ['connect data that is not JSON', encodeCommands([{ id: 1, connect: { data: hex('00') } }]), /^connect\.data must be JSON/],
    ['an offset over 2^53', command('0801 2a0e 0a0163 38ffffffffffffffffff01'), /^subscribe\.offset must be a safe integer/],
    ['a filter nested 40 deep', encodeCommands([{ id: 1, subscribe: { channel: 'c', tf: nested(40) } }]), /nested deeper than 32/],
    ['a command without id', encodeCommands([{ publish: { channel: 'c', data: 1 } }]), /^publish needs a non-zero id/],
    ['an id without a command', encodeCommands([{ id: 5 }]), /unknown command/],
  ]
  for (const [name, frame, error] of table) {
    it(`refuses ${name}`, () => {
      const r = decodeCommands(frame)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error).toMatch(error)
    })
  }

  it('never throws on 5,000 random frames and 5,000 mutations of a valid SDK frame', () => {
    let seed = 0x9b0f
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const valid = Buffer.from(sdkCodec.encodeCommands(COMMANDS.map(([sdk]) => sdk)))
    let refused = 0
    for (let i = 0; i < 10_000; i++) {
      let frame: Buffer
      if (i % 2) {
        frame = Buffer.from(Array.from({ length: random(64) }, () => random(256)))
      } else {
        frame = Buffer.from(valid.subarray(0, 1 + random(valid.length)))
        for (let flips = 1 + random(3); flips > 0; flips--) frame[random(frame.length)] ^= 1 << random(8)
      }
      const r = decodeCommands(frame)
      if (!r.ok) {
        refused++
        expect(typeof r.error).toBe('string')
      } else {
        for (const c of r.commands) if (c.kind === 'command') expect(c.id > 0 || c.method === 'send').toBe(true)
      }
    }
    expect(refused).toBeGreaterThan(5_000)
  })
})

// ---- the real SDK (protobuf build) against a minimal server speaking through this codec -------------

interface TestServer {
  url: string
  received: DecodedCommand[]
  sockets: WebSocket[]
  close(): Promise<void>
}

const servers: TestServer[] = []
const clients: CentrifugeProtobuf[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect()
  for (const s of servers.splice(0)) await s.close()
})

/** A WebSocket server on 127.0.0.1 that answers the SDK's commands with this codec; publications go to subscribers encoded once. */
async function startServer(): Promise<TestServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('centrifuge-protobuf') ? 'centrifuge-protobuf' : false) })
  await once(wss, 'listening')
  const received: DecodedCommand[] = []
  const sockets: WebSocket[] = []
  const subscribers = new Map<string, Set<WebSocket>>()
  let offset = 0
  wss.on('connection', (ws) => {
    sockets.push(ws)
    const clientId = `c-${sockets.length}`
    ws.on('message', (data: Buffer, isBinary) => {
      const r = protobufCodec.decodeCommands(data)
      if (!isBinary || !r.ok) return ws.close(3501, 'bad request')
      const out: EncodedMessage[] = []
      const after: Array<() => void> = []
      for (const c of r.commands) {
        received.push(c)
        if (c.kind === 'pong') continue
        const { id, command } = c
        switch (c.method) {
          case 'connect':
            out.push(encodeReply(id, 'connect', { client: clientId, version: 'test', ping: 25, pong: true, data: { welcome: clientId } }))
            break
          case 'subscribe': {
            const channel = command.subscribe!.channel
            if (!subscribers.has(channel)) subscribers.set(channel, new Set())
            subscribers.get(channel)!.add(ws)
            out.push(encodeReply(id, 'subscribe', {}))
            break
          }
          case 'publish': {
            const { channel, data } = command.publish!
            out.push(encodeReply(id, 'publish', {}))
            after.push(() => {
              const frame = encodePublicationPush(channel, JSON.stringify(data), { offset: ++offset, info: { user: 'u1', client: clientId } })
              for (const sub of subscribers.get(channel) ?? []) sub.send(frame)
            })
            break
          }
          case 'rpc':
            if (command.rpc!.method === 'fail') out.push(encodeError(id, { code: 103, message: 'permission denied' }))
            else out.push(encodeReply(id, 'rpc', { data: { method: command.rpc!.method, echo: command.rpc!.data } }))
            break
          case 'presence':
            out.push(encodeReply(id, 'presence', { presence: { 'c-1': { user: 'u1', client: 'c-1', conn_info: { name: 'Ann' } } } }))
            break
          case 'presence_stats':
            out.push(encodeReply(id, 'presence_stats', { num_clients: 2, num_users: 1 }))
            break
          case 'history':
            out.push(encodeReply(id, 'history', { publications: [{ data: { n: 1 }, offset: 1 }, { data: { n: 2 }, offset: 2, tags: { k: 'v' } }], epoch: 'ep', offset: 2 }))
            break
          case 'send':
            break
          default:
            out.push(encodeReply(id, c.method, {}))
        }
      }
      if (out.length) ws.send(protobufCodec.joinMessages(out))
      for (const fn of after) fn()
    })
  })
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/connection/websocket`
  const server: TestServer = {
    url, received, sockets,
    close: () => new Promise((resolve) => {
      for (const ws of wss.clients) ws.terminate()
      wss.close(() => resolve())
    }),
  }
  servers.push(server)
  return server
}

function newProtobufSdk(url: string): CentrifugeProtobuf {
  const client = new CentrifugeProtobuf(url, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300 })
  clients.push(client)
  return client
}

describe('the real SDK (protobuf build) against a server on this codec', () => {
  it('connects, subscribes, publishes to two subscribers, and gets rpc, presence, history and errors back', async () => {
    const server = await startServer()
    const a = newProtobufSdk(server.url)
    const b = newProtobufSdk(server.url)
    const connectedA = nextEvent(a, 'connected')
    const connectedB = nextEvent(b, 'connected')
    a.connect()
    b.connect()
    const ctxA = await connectedA
    await connectedB
    expect(ctxA.client).toBe('c-1')
    expect(dec(ctxA.data)).toEqual({ welcome: 'c-1' })
    expect(server.received[0]).toMatchObject({ kind: 'command', method: 'connect', id: 1, command: { connect: { name: 'js' } } })

    const subA = a.newSubscription('chat:1')
    const subB = b.newSubscription('chat:1')
    const pubA = nextEvent(subA, 'publication')
    const pubB = nextEvent(subB, 'publication')
    subA.subscribe()
    subB.subscribe()
    await Promise.all([nextEvent(subA, 'subscribed'), nextEvent(subB, 'subscribed')])

    await subA.publish(enc({ text: 'hi', n: [1, null] }))
    for (const ctx of await Promise.all([pubA, pubB])) {
      expect(dec(ctx.data)).toEqual({ text: 'hi', n: [1, null] })
      expect(Number(ctx.offset)).toBe(1)
      expect(ctx.info).toMatchObject({ user: 'u1', client: 'c-1' })
    }

    const rpc = await a.rpc('echo', enc({ x: 1 }))
    expect(dec(rpc.data)).toEqual({ method: 'echo', echo: { x: 1 } })
    await expect(a.rpc('fail', enc(null))).rejects.toMatchObject({ code: 103, message: 'permission denied' })

    const presence = await a.presence('chat:1')
    expect(presence.clients['c-1']).toMatchObject({ user: 'u1', client: 'c-1' })
    expect(dec(presence.clients['c-1'].connInfo)).toEqual({ name: 'Ann' })
    expect(await a.presenceStats('chat:1')).toEqual({ numClients: 2, numUsers: 1 })

    const history = await a.history('chat:1', { limit: 10 })
    expect(history.epoch).toBe('ep')
    expect(Number(history.offset)).toBe(2)
    expect(history.publications.map((p) => [dec(p.data), Number(p.offset), { ...p.tags }])).toEqual([[{ n: 1 }, 1, {}], [{ n: 2 }, 2, { k: 'v' }]])

    await a.send(enc({ fire: 'forget' }))
    await until(() => server.received.some((c) => c.kind === 'command' && c.method === 'send'), 5_000, 'the send command')
    const send = server.received.find((c) => c.kind === 'command' && c.method === 'send')
    expect(send).toEqual({ kind: 'command', method: 'send', id: 0, command: { send: { data: { fire: 'forget' } } } })
  })

  it('answers the server ping with a pong and handles join, message and unsubscribe pushes', async () => {
    const server = await startServer()
    const a = newProtobufSdk(server.url)
    a.connect()
    await nextEvent(a, 'connected')
    const sub = a.newSubscription('chat:1')
    sub.subscribe()
    await nextEvent(sub, 'subscribed')
    const ws = server.sockets[0]

    ws.send(protobufCodec.ping)
    await until(() => server.received.some((c) => c.kind === 'pong'), 5_000, 'the pong')

    const joined = nextEvent(sub, 'join')
    ws.send(encodePush({ channel: 'chat:1', join: { info: { user: 'u2', client: 'c-9', conn_info: { name: 'Bob' } } } }))
    const join = await joined
    expect(join.info).toMatchObject({ user: 'u2', client: 'c-9' })
    expect(dec(join.info.connInfo!)).toEqual({ name: 'Bob' })

    const message = nextEvent(a, 'message')
    ws.send(encodePush({ message: { data: { note: 'hello' } } }))
    expect(dec((await message).data)).toEqual({ note: 'hello' })

    const unsubscribed = nextEvent(sub, 'unsubscribed')
    ws.send(encodePush({ channel: 'chat:1', unsubscribe: { code: 2000, reason: 'server unsubscribe' } }))
    expect(await unsubscribed).toMatchObject({ code: 2000, reason: 'server unsubscribe' })
  })
})

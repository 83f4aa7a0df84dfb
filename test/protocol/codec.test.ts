import { describe, expect, it } from 'vitest'
import {
  decodeCommands, encodeError, encodePublication, encodePublicationPush, encodePush, encodeReply, validateCommand,
} from '../../src/protocol/codec.js'

describe('decodeCommands: frames the SDK sends', () => {
  it('decodes the captured first frame of the SDK (connect, then subscribe) in order', () => {
    const frame = '{"connect":{"data":{"application":"notifications","settings":{"token":"T"}},"name":"js"},"id":1}\n{"subscribe":{"channel":"chat:1","flag":1},"id":2}'
    const r = decodeCommands(frame)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.commands.map((c) => (c.kind === 'command' ? [c.method, c.id] : c.kind))).toEqual([['connect', 1], ['subscribe', 2]])
  })

  it('decodes a pong ({}), a send without id, a trailing newline and blank lines', () => {
    const r = decodeCommands('{}\n\n{"send":{"data":{"fire":"forget"}}}\n')
    expect(r).toEqual({
      ok: true,
      commands: [{ kind: 'pong' }, { kind: 'command', method: 'send', id: 0, command: { send: { data: { fire: 'forget' } } } }],
    })
  })

  it('accepts every command the SDK sends, with the id as the last key', () => {
    const lines = [
      '{"subscribe":{"channel":"c","recover":true,"offset":5,"epoch":"e"},"id":2}',
      '{"unsubscribe":{"channel":"c"},"id":3}',
      '{"publish":{"channel":"c","data":{"x":1}},"id":4}',
      '{"presence":{"channel":"c"},"id":5}',
      '{"presence_stats":{"channel":"c"},"id":6}',
      '{"history":{"channel":"c","since":{"offset":0,"epoch":"e"},"limit":10,"reverse":true},"id":7}',
      '{"rpc":{"method":"m","data":[1]},"id":8}',
      '{"rpc":{"data":null},"id":9}',
      '{"refresh":{"token":"t"},"id":10}',
      '{"sub_refresh":{"channel":"c","token":"t"},"id":11}',
      '{"ping":{},"id":12}',
      '{"connect":{"token":"jwt","subs":{"personal:1":{"recover":true,"offset":5,"epoch":"e1"}},"name":"js","version":"5.8.0","headers":{"a":"b"}},"id":4294967295}',
    ]
    for (const line of lines) expect(decodeCommands(line), line).toMatchObject({ ok: true })
  })
})

describe('decodeCommands: invalid frames', () => {
  const table: Array<[string, string, RegExp]> = [
    ['empty frame', '', /empty frame/],
    ['only blank lines', '\n\n', /empty frame/],
    ['truncated JSON', '{"connect":{', /malformed JSON/],
    ['not JSON at all', 'hello', /malformed JSON/],
    ['a JSON array', '[1,2]', /must be an object, got array/],
    ['a JSON string', '"connect"', /must be an object, got string/],
    ['JSON null', 'null', /must be an object, got null/],
    ['a number', '42', /must be an object, got number/],
    ['an unknown command', '{"explode":{},"id":1}', /unknown command: explode/],
    ['an id alone', '{"id":1}', /unknown command/],
    ['a negative id', '{"ping":{},"id":-1}', /id must be a uint32/],
    ['a fractional id', '{"ping":{},"id":1.5}', /id must be a uint32/],
    ['an id over uint32', '{"ping":{},"id":4294967296}', /id must be a uint32/],
    ['a string id', '{"ping":{},"id":"1"}', /id must be a uint32/],
    ['a command body that is not an object', '{"connect":"x","id":1}', /connect must be an object, got string/],
    ['a command body that is an array', '{"publish":[],"id":1}', /publish must be an object, got array/],
    ['a missing channel', '{"subscribe":{},"id":1}', /subscribe.channel must be a string/],
    ['a numeric channel', '{"publish":{"channel":1,"data":{}},"id":1}', /publish.channel must be a string/],
    ['a missing refresh token', '{"refresh":{},"id":1}', /refresh.token must be a string/],
    ['a sub_refresh without channel', '{"sub_refresh":{"token":"t"},"id":1}', /sub_refresh.channel must be a string/],
    ['a string limit', '{"history":{"channel":"c","limit":"10"},"id":1}', /history.limit must be a number/],
    ['a string offset', '{"subscribe":{"channel":"c","offset":"5"},"id":1}', /subscribe.offset must be a number/],
    ['a numeric token', '{"connect":{"token":5},"id":1}', /connect.token must be a string/],
    ['subs that are not an object', '{"connect":{"subs":[]},"id":1}', /connect.subs must be a object/],
    ['a command without id', '{"rpc":{"method":"m"}}', /rpc needs a non-zero id/],
    ['a command with id 0', '{"connect":{},"id":0}', /connect needs a non-zero id/],
    ['a good line then a bad one', '{"connect":{},"id":1}\n{oops', /malformed JSON/],
    ['a bad line then a good one', '[]\n{"connect":{},"id":1}', /must be an object/],
  ]
  for (const [name, frame, error] of table) {
    it(`refuses ${name}`, () => {
      const r = decodeCommands(frame)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error).toMatch(error)
    })
  }

  it('treats null command fields as absent (Go omitempty) and picks the first set method', () => {
    expect(validateCommand({ connect: null, ping: {}, id: 3 })).toMatchObject({ kind: 'command', method: 'ping', id: 3 })
  })

  it('never throws on 10,000 random strings and refuses every one that is not a valid command', () => {
    let seed = 0xc0dec
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed / 0x7fffffff
    }
    const alphabet = '{}[]":,.-0123456789 \n\tidconnectsubscribepublishchanneltruefalsenull\\u'
    let accepted = 0
    for (let i = 0; i < 10_000; i++) {
      const len = Math.floor(random() * 120)
      let s = ''
      for (let j = 0; j < len; j++) s += i % 2 ? alphabet[Math.floor(random() * alphabet.length)] : String.fromCharCode(Math.floor(random() * 0x3000))
      const r = decodeCommands(s)
      if (r.ok) {
        accepted++
        for (const c of r.commands) if (c.kind === 'command') expect(c.id > 0 || c.method === 'send').toBe(true)
      } else {
        expect(typeof r.error).toBe('string')
      }
    }
    // Random text is almost never a valid command (at most a stray `{}` pong).
    expect(accepted).toBeLessThan(50)
  })
})

describe('encoders', () => {
  it('encodes replies under the method key with the id, and {} for an empty result', () => {
    expect(JSON.parse(encodeReply(7, 'publish', undefined))).toEqual({ id: 7, publish: {} })
    expect(JSON.parse(encodeReply(3, 'rpc', { data: { a: [1, 'x'] } }))).toEqual({ id: 3, rpc: { data: { a: [1, 'x'] } } })
    expect(JSON.parse(encodeError(2, { code: 103, message: 'permission denied' }))).toEqual({ id: 2, error: { code: 103, message: 'permission denied' } })
  })

  it('encodes pushes without an id', () => {
    const push = JSON.parse(encodePush({ channel: 'c', unsubscribe: { code: 2000, reason: 'server unsubscribe' } }))
    expect(push).toEqual({ push: { channel: 'c', unsubscribe: { code: 2000, reason: 'server unsubscribe' } } })
    expect(push.id).toBeUndefined()
  })

  it('embeds publication data as raw JSON (not base64) and leaves out empty fields', () => {
    const data = { text: 'привет "quoted"\nline', n: [1, null, true] }
    const info = { user: 'u', client: 'c', conn_info: { name: 'n' } }
    const full = encodePublicationPush('chat:1', JSON.stringify(data), { offset: 17, info, tags: { k: 'v' } })
    expect(JSON.parse(full)).toEqual({ push: { channel: 'chat:1', pub: { data, offset: 17, info, tags: { k: 'v' } } } })
    expect(full).not.toContain('\n')
    const bare = encodePublicationPush('c', '"s"', { offset: 0, tags: {} })
    expect(JSON.parse(bare)).toEqual({ push: { channel: 'c', pub: { data: 's' } } })
    expect(JSON.parse(encodePublication('{"x":1}', { offset: 2 }))).toEqual({ data: { x: 1 }, offset: 2 })
    expect(JSON.parse(encodePublicationPush('weird "chan"\\', 'null', {}))).toEqual({ push: { channel: 'weird "chan"\\', pub: { data: null } } })
  })
})

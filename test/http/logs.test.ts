/**
 * Issue 14, item 5: logs a person can read. The choice of format (pretty on a terminal, JSON otherwise,
 * LOG_FORMAT forcing either) and the start banner, then `node dist/main.js` itself: on a pipe every line is JSON
 * and the banner is one of them; under a pseudo-terminal (`script`) the lines are pretty and the banner is text.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { chooseLogFormat, logFormatFromEnv, startBanner } from '../../src/log.js'
import { withGcAdvice } from '../../src/main.js'
import { ensureBuilt, ROOT } from '../helpers/built.js'

describe('log format', () => {
  it('is pretty on a terminal and JSON anywhere else, unless LOG_FORMAT says', () => {
    expect(chooseLogFormat(undefined, true)).toBe('pretty')
    expect(chooseLogFormat(undefined, false)).toBe('json')
    expect(chooseLogFormat(logFormatFromEnv('json'), true)).toBe('json')
    expect(chooseLogFormat(logFormatFromEnv('pretty'), false)).toBe('pretty')
    expect(logFormatFromEnv('auto')).toBeUndefined()
    expect(logFormatFromEnv('')).toBeUndefined()
    expect(() => logFormatFromEnv('yaml')).toThrow('LOG_FORMAT must be json, pretty or auto, got "yaml"')
  })

  it('banner: the URLs, where the API key is, and the first operator while there is none', () => {
    const first = startBanner({ url: 'http://127.0.0.1:8000', apiKeyFile: '/srv/data/api-key', noOperators: true })
    expect(first.urls).toEqual({ console: 'http://127.0.0.1:8000/', widget: 'http://127.0.0.1:8000/widget', admin: 'http://127.0.0.1:8000/admin', docs: 'http://127.0.0.1:8000/docs' })
    expect(first.lines).toContain('  API key           in /srv/data/api-key')
    expect(first.lines).toContain('  admin page        http://127.0.0.1:8000/admin')
    expect(first.next).toBe('No operators yet: open http://127.0.0.1:8000/admin, sign in with the API key and create the first one')
    const later = startBanner({ url: 'http://127.0.0.1:8000', noOperators: false })
    expect(later.apiKey).toBe('from the API_KEY environment variable')
    expect(later.next).toBeUndefined()
    expect(later.lines.some((l) => l.includes('No operators yet'))).toBe(false)
  })
})

describe('GC advice at start', () => {
  it('a process with one core is told to run V8\'s GC on its main thread; one with more, or with the flag, is not', () => {
    const options = { startupWarnings: ['livedesk.json: unknown key'] }
    expect(withGcAdvice(options, 2, [])).toBe(options)
    expect(withGcAdvice(options, 1, ['--single-threaded-gc'])).toBe(options)
    const told = withGcAdvice(options, 1, ['--max-old-space-size=512'])
    expect(told.startupWarnings).toHaveLength(2)
    expect(told.startupWarnings![0]).toBe('livedesk.json: unknown key')
    expect(told.startupWarnings![1]).toContain('node --single-threaded-gc dist/main.js')
    expect(withGcAdvice({}, 1, []).startupWarnings).toHaveLength(1)
  })
})

const children: ChildProcess[] = []
const dirs: string[] = []
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** Starts livedesk (directly, or under `script` for a pseudo-terminal) with a fresh data dir and no API_KEY. */
function start(command: string, args: string[]): { dataDir: string; child: ChildProcess; out: () => string; until: (re: RegExp, what: string) => Promise<RegExpMatchArray> } {
  const dataDir = mkdtempSync(join(tmpdir(), 'livedesk-logs-'))
  dirs.push(dataDir)
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', TERM: 'xterm' }
  for (const name of ['API_KEY', 'LOG_FORMAT', 'DATABASE_URL', 'REDIS_URL', 'DEMO']) delete env[name]
  // Its own process group, so the pseudo-terminal's child goes with it.
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  children.push(child)
  let out = ''
  const waiters: Array<() => void> = []
  const onData = (d: Buffer) => {
    out += d.toString()
    for (const w of waiters.splice(0)) w()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const until = (re: RegExp, what: string) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; output:\n${out}`)), 60_000)
      const check = () => {
        const m = out.match(re)
        if (m) {
          clearTimeout(timer)
          return resolve(m)
        }
        if (child.exitCode !== null) {
          clearTimeout(timer)
          return reject(new Error(`exited (${child.exitCode}) before ${what}; output:\n${out}`))
        }
        waiters.push(check)
      }
      child.once('exit', () => waiters.splice(0).forEach((w) => w()))
      check()
    })
  return { dataDir, child, out: () => out, until }
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    // 'close', not 'exit': the last lines are read from the pipe only then.
    child.once('close', () => resolve())
    process.kill(-child.pid!, 'SIGTERM')
  })

const ANSI = /\x1b\[[0-9;]*m/g

// Both start PGlite cold (several seconds each): side by side.
describe.concurrent('node dist/main.js', () => {
  const main = ensureBuilt()

  it('writes one JSON object per line when stdout is a pipe, the banner among them', async () => {
    const p = start(process.execPath, [main])
    await p.until(/"msg":"livedesk is up"[^\n]*\n/, 'the banner line')
    await stop(p.child)
    const lines = p.out().split('\n').filter(Boolean)
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, any>)
    const banner = parsed.find((l) => l.msg === 'livedesk is up')!
    const base = banner.urls.console.replace(/\/$/, '')
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(banner.urls).toEqual({ console: `${base}/`, widget: `${base}/widget`, admin: `${base}/admin`, docs: `${base}/docs` })
    expect(banner.apiKey).toBe(`in ${join(p.dataDir, 'api-key')}`)
    expect(banner.next).toBe(`No operators yet: open ${base}/admin, sign in with the API key and create the first one`)
    expect(existsSync(join(p.dataDir, 'api-key'))).toBe(true)
    // This machine's cores decide whether the one-core advice is given; under `taskset -c 0` below it always is.
    expect(parsed.some((l) => String(l.msg).includes('--single-threaded-gc'))).toBe(availableParallelism() === 1)
    expect(parsed.some((l) => l.msg === 'shutting down'), `exit ${p.child.exitCode} ${p.child.signalCode}; output:\n${p.out()}`).toBe(true)
  }, 90_000)

  it('pinned to one core, warns at start that V8\'s GC threads would compete with the event loop', async () => {
    const p = start('taskset', ['-c', '0', process.execPath, main])
    await p.until(/"msg":"livedesk is up"[^\n]*\n/, 'the banner line')
    await stop(p.child)
    const warning = p.out().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>).find((l) => String(l.msg).includes('one CPU core'))
    expect(warning?.level, p.out()).toBe(40)
    expect(warning!.msg).toContain('node --single-threaded-gc dist/main.js')
  }, 90_000)

  it('writes readable lines on a terminal, and the banner as text', async () => {
    const p = start('script', ['-qfec', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(main)}`, '/dev/null'])
    const [, base] = await p.until(/admin page\s+(http:\/\/127\.0\.0\.1:\d+)\/admin/, 'the banner')
    // A log line written after the banner, so the pretty stream is seen at work too.
    const res = await fetch(`${base}/admin`)
    expect(res.status).toBe(200)
    // SIGTERM to livedesk itself (script's only child, after `exec`), so it logs its shutdown before the terminal closes.
    const [nodePid] = readFileSync(`/proc/${p.child.pid}/task/${p.child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number)
    const exited = new Promise<void>((resolve) => p.child.once('close', () => resolve()))
    process.kill(nodePid!, 'SIGTERM')
    await exited
    const text = p.out().replace(ANSI, '').replace(/\r/g, '')
    const lines = text.split('\n').filter((l) => l.trim())
    expect(lines.some((l) => l.trim().startsWith('{'))).toBe(false)
    expect(text).toContain(`operator console  ${base}/`)
    expect(text).toContain(`client widget     ${base}/widget`)
    expect(text).toContain(`API docs          ${base}/docs`)
    expect(text).toContain(`API key           in ${join(p.dataDir, 'api-key')}`)
    expect(text).toContain(`No operators yet: open ${base}/admin`)
    // pino-pretty: time, level and message on one line, the fields after it on the same line.
    expect(lines.find((l) => l.includes('generated an API key'))).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: generated an API key .*\{.*"file":/)
    expect(lines.find((l) => l.includes('shutting down'))).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: shutting down \{"signal":"SIGTERM"\}$/)
  }, 90_000)
})

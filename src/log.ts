/**
 * The process's logger and its start banner: one readable line per event on a terminal (pino-pretty), one JSON
 * object per line otherwise (files, journald, log shippers); LOG_FORMAT forces either.
 */
import pino, { type Logger } from 'pino'
import pretty from 'pino-pretty'

export type LogFormat = 'json' | 'pretty'

/** LOG_FORMAT: `json`, `pretty`, or unset/`auto` (undefined: decided by the terminal); anything else stops the start. */
export function logFormatFromEnv(raw: string | undefined): LogFormat | undefined {
  if (raw === undefined || raw === '' || raw === 'auto') return undefined
  if (raw === 'json' || raw === 'pretty') return raw
  throw new Error(`LOG_FORMAT must be json, pretty or auto, got "${raw}"`)
}

/** The format in effect: the one asked for, else pretty on a terminal and JSON anywhere else. */
export function chooseLogFormat(asked: LogFormat | undefined, isTerminal: boolean): LogFormat {
  return asked ?? (isTerminal ? 'pretty' : 'json')
}

/**
 * A logger writing to stdout in the chosen format, synchronously: an asynchronous write still in flight when the
 * process exits takes the lines queued behind it along (the last 'shutting down' was lost so under load).
 */
export function createLogger(opts: { level?: string; format?: LogFormat } = {}): Logger {
  const level = opts.level ?? 'info'
  if (chooseLogFormat(opts.format, process.stdout.isTTY === true) === 'json') return pino({ level }, pino.destination({ dest: 1, sync: true }))
  const stream = pretty({
    colorize: process.stdout.isTTY === true,
    sync: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  })
  return pino({ level }, stream)
}

export interface StartFacts {
  /** Base URL of this node, `http://127.0.0.1:8000`. */
  url: string
  /** The file holding the API key; undefined when it came from API_KEY. */
  apiKeyFile?: string
  /** No operator exists yet: say how to create the first one. */
  noOperators: boolean
}

/** What a person needs after `npm start`: where the pages are, where the key is, and what to do first. */
export function startBanner(f: StartFacts): { urls: Record<string, string>; apiKey: string; next?: string; lines: string[] } {
  const urls = { console: `${f.url}/`, widget: `${f.url}/widget`, admin: `${f.url}/admin`, docs: `${f.url}/docs` }
  const apiKey = f.apiKeyFile ? `in ${f.apiKeyFile}` : 'from the API_KEY environment variable'
  const next = f.noOperators ? `No operators yet: open ${urls.admin}, sign in with the API key and create the first one` : undefined
  const lines = [
    'livedesk is up',
    `  operator console  ${urls.console}`,
    `  client widget     ${urls.widget}`,
    `  admin page        ${urls.admin}`,
    `  API docs          ${urls.docs}`,
    `  API key           ${apiKey}`,
    ...(next ? [`  ${next}`] : []),
  ]
  return { urls, apiKey, next, lines }
}

/** Prints the banner: as a block of lines for a person, as one JSON log line for a machine. */
export function printStartBanner(log: Logger, format: LogFormat, f: StartFacts): void {
  const b = startBanner(f)
  if (format === 'pretty') process.stdout.write('\n' + b.lines.join('\n') + '\n\n')
  else log.info({ urls: b.urls, apiKey: b.apiKey, ...(b.next ? { next: b.next } : {}) }, 'livedesk is up')
}

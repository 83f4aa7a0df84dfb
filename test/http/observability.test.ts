/**
 * Observability against a running server: after real traffic (the SDK's commands, REST calls, a client's
 * message delivered to an operator's console) /metrics has every histogram labelled by node, and every
 * metric the Grafana dashboard queries; a traced request spans HTTP → domain transaction → publish.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { afterAll, describe, expect, it } from 'vitest'
import { until } from '../helpers/sdk.js'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { connect, newClient, newOperator, ok, type Console } from './e2e.js'

const consoles: Console[] = []
afterAll(() => {
  for (const c of consoles.splice(0)) c.close()
})

/** Every sample name in a Prometheus text exposition, with its labels' text. */
function samples(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s/.exec(line)
    if (!m) continue
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2] ?? ''])
  }
  return out
}

/** The metric names in the dashboard's PromQL (every `expr` of every panel's targets and the variables). */
function dashboardMetrics(): Set<string> {
  const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, '../../deploy/grafana/livedesk.json'), 'utf8'))
  const exprs: string[] = []
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk)
    else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if ((k === 'expr' || k === 'definition') && typeof child === 'string') exprs.push(child)
        else walk(child)
      }
    }
  }
  walk(dashboard)
  expect(exprs.length).toBeGreaterThan(10)
  const names = new Set<string>()
  // Identifiers that are not PromQL functions, keywords, label names or Grafana variables.
  for (const expr of exprs) for (const m of expr.replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '').matchAll(/\blivedesk_[a-z0-9_]+\b/g)) names.add(m[0])
  return names
}

describe('observability', () => {
  it('serves the latency histograms, labelled by node, and every metric the dashboard queries', async () => {
    const l = await startTestLivedesk()
    const operator = await newOperator(l, 'Olga')
    const console_ = await connect(l, 'notifications', operator.token)
    consoles.push(console_)
    const client = await newClient(l, 'Ann')
    await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hello' })
    await console_.next('chatSessionAdded', (e) => e.data.chatId === client.chatId, 15_000)
    await ok(l, 'GET', '/operators')
    const res = await fetch(`${l.url}/api/v1/no-such-route`)
    expect(res.status).toBe(404)

    const node = l.node.config.nodeId
    let text = ''
    // The lag is observed once the turn that wrote the frames ends: poll the endpoint until it shows.
    await until(async () => {
      text = await (await fetch(`${l.url}/metrics`)).text()
      return /^livedesk_delivery_lag_seconds_count\{[^}]*\} [1-9]/m.test(text)
    }, 10_000, 'a delivery lag observation')
    const found = samples(text)
    const labelsOf = (name: string) => found.get(name) ?? []

    expect(labelsOf('livedesk_command_duration_seconds_count').some((l) => l.includes('transport="websocket"') && l.includes('command="connect"'))).toBe(true)
    expect(labelsOf('livedesk_http_request_duration_seconds_count').some((l) => l.includes('route="/clients/:id/messages"') || l.includes('route="/api/v1/clients/:id/messages"'))).toBe(true)
    expect(labelsOf('livedesk_http_request_duration_seconds_count').some((l) => l.includes('route="unmatched"') && l.includes('status_class="4xx"'))).toBe(true)
    expect(Number(/^livedesk_domain_transaction_duration_seconds_count\{[^}]*\} (\d+)/m.exec(text)?.[1])).toBeGreaterThan(0)
    expect(/^livedesk_outbox_backlog\{[^}]*\} \d+/m.test(text)).toBe(true)
    // PGlite as started (PGLITE_DURABILITY=fsync): the message's commit waited for a WAL flush, timed here.
    expect(Number(/^livedesk_pglite_wal_flush_seconds_count\{[^}]*\} (\d+)/m.exec(text)?.[1])).toBeGreaterThan(0)
    expect(/^livedesk_pglite_wal_flush_seconds_bucket\{[^}]*le="0.1"[^}]*\} \d+/m.test(text)).toBe(true)
    expect(/^livedesk_broker_errors_total\{[^}]*\} 0/m.test(text)).toBe(true)
    for (const name of ['livedesk_command_duration_seconds_count', 'livedesk_http_request_duration_seconds_count', 'livedesk_domain_transaction_duration_seconds_count', 'livedesk_delivery_lag_seconds_count', 'livedesk_outbox_backlog', 'livedesk_broker_errors_total', 'livedesk_node_info', 'livedesk_pglite_wal_flush_seconds_count', 'livedesk_pglite_maintenance_seconds_count']) {
      expect(labelsOf(name).length, name).toBeGreaterThan(0)
      for (const labels of labelsOf(name)) expect(labels, name).toContain(`node="${node}"`)
    }

    // The node's counters stay unlabelled (as before); livedesk_node_info names the node they belong to.
    expect(/^livedesk_connections \d+/m.test(text)).toBe(true)
    const wanted = dashboardMetrics()
    const missing = [...wanted].filter((name) => !found.has(name))
    expect(missing, 'dashboard metrics absent from /metrics').toEqual([])
  }, 60_000)

  it('on PGlite, times the vacuums and analyses the node runs on its own (PGlite has no autovacuum)', async () => {
    const l = await startTestLivedesk({ pgliteMaintenanceIntervalMs: 100 })
    // 60 new clients: past the threshold for analysing the clients table, never analysed (50 changes).
    for (let i = 0; i < 60; i++) await newClient(l, `Visitor ${i}`)
    const analyses = (text: string) => Number(new RegExp(`^livedesk_pglite_maintenance_seconds_count\\{[^}]*operation="analyze"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
    let text = ''
    await until(async () => analyses((text = await (await fetch(`${l.url}/metrics`)).text())) > 0, 10_000, 'an analyse timed in /metrics')
    expect(text).toMatch(new RegExp(`^livedesk_pglite_maintenance_seconds_count\\{[^}]*node="${l.node.config.nodeId}"`, 'm'))
  }, 60_000)

  it('traces a request: HTTP span → domain transaction → publish, in the in-memory exporter', async () => {
    const exporter = new InMemorySpanExporter()
    const l = await startTestLivedesk({ tracing: { exporter } })
    const client = await newClient(l, 'Bea')
    exporter.reset()
    await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'traced' })

    const spans = () => exporter.getFinishedSpans()
    const httpSpan = () => spans().find((s) => s.name === 'POST /api/v1/clients/:id/messages')
    let http: ReadableSpan | undefined
    await until(() => Boolean((http = httpSpan()) && spans().some((s) => s.name.startsWith('publish ') && s.spanContext().traceId === http.spanContext().traceId)), 10_000, 'HTTP and publish spans')
    const trace = spans().filter((s) => s.spanContext().traceId === http!.spanContext().traceId)
    const parentOf = (s: ReadableSpan) => trace.find((p) => p.spanContext().spanId === s.parentSpanContext?.spanId)
    const ancestors = (s: ReadableSpan) => {
      const names: string[] = []
      for (let p = parentOf(s), i = 0; p && i < 10; p = parentOf(p), i++) names.push(p.name)
      return names
    }

    expect(http!.parentSpanContext).toBeUndefined()
    expect(http!.attributes['http.response.status_code']).toBeLessThan(300)
    const transactions = trace.filter((s) => s.name === 'domain transaction')
    expect(transactions.length).toBeGreaterThan(0)
    for (const t of transactions) expect(ancestors(t)).toContain(http!.name)
    const publishes = trace.filter((s) => s.name.startsWith('publish '))
    expect(publishes.length).toBeGreaterThan(0)
    for (const p of publishes) expect(ancestors(p)).toContain(http!.name)
    expect(publishes.some((p) => String(p.attributes['messaging.destination.name']).includes(client.chatId) || String(p.attributes['messaging.destination.name']).startsWith('operators:') || String(p.attributes['messaging.destination.name']).startsWith('client:'))).toBe(true)
  }, 60_000)
})

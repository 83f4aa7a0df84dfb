/**
 * OpenTelemetry traces: an HTTP request's span, its domain transactions' spans inside it, and the publications
 * that follow. Imported only when tracing is on (main.ts), so the SDK costs nothing otherwise. The exporter,
 * sampler and batching follow the standard OTEL_* variables (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_SERVICE_NAME).
 */
import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  BasicTracerProvider, BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter, type SpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { LiveGateway } from '../domain/ports.js'
import type { Db } from '../store/db.js'

export interface TracingOptions {
  /** Spans go here, each as it ends (tests: the SDK's InMemorySpanExporter); absent: from OTEL_TRACES_EXPORTER. */
  exporter?: SpanExporter
}

async function processorFromEnv(env: NodeJS.ProcessEnv): Promise<SpanProcessor> {
  const name = env.OTEL_TRACES_EXPORTER?.split(',')[0]?.trim() || 'otlp'
  if (name === 'console') return new SimpleSpanProcessor(new ConsoleSpanExporter())
  if (name !== 'otlp') throw new Error(`OTEL_TRACES_EXPORTER must be otlp, console or none, got "${name}"`)
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL
  if (protocol && protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json here, got "${protocol}"`)
  }
  // OTLP over HTTP; the exporter reads its endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*.
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http')
  return new BatchSpanProcessor(new OTLPTraceExporter())
}

export interface Tracing {
  /** Starts a server span per request; the handler runs inside it. */
  instrumentHttp(app: FastifyInstance): void
  /** Each transaction a child span of the active one. */
  tracedDb(db: Db): Db
  /** Each publish a child span of the active one. */
  tracedLive(live: LiveGateway): LiveGateway
  /** Exports what is pending and stops. */
  close(): Promise<void>
}

let contextManagerSet = false

export async function startTracing(opts: TracingOptions & { nodeId: string; version: string; env?: NodeJS.ProcessEnv }): Promise<Tracing> {
  const env = opts.env ?? process.env
  // Spans follow the request through awaits (AsyncLocalStorage); one manager per process.
  if (!contextManagerSet) contextManagerSet = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  const processor = opts.exporter ? new SimpleSpanProcessor(opts.exporter) : await processorFromEnv(env)
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || 'livedesk', 'service.version': opts.version, 'service.instance.id': opts.nodeId }),
    spanProcessors: [processor],
  })
  const tracer: Tracer = provider.getTracer('livedesk', opts.version)
  const spans = new WeakMap<FastifyRequest, Span>()

  const inSpan = async <T>(name: string, attributes: Record<string, string>, fn: () => Promise<T>): Promise<T> =>
    tracer.startActiveSpan(name, { attributes }, async (span) => {
      try {
        return await fn()
      } catch (err) {
        span.recordException(err as Error)
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message })
        throw err
      } finally {
        span.end()
      }
    })

  return {
    instrumentHttp(app) {
      app.addHook('onRequest', (req, _reply, done) => {
        spans.set(req, tracer.startSpan(`${req.method} ${req.routeOptions.url ?? 'unmatched'}`, {
          kind: SpanKind.SERVER,
          attributes: { 'http.request.method': req.method, 'http.route': req.routeOptions.url ?? 'unmatched', 'url.path': req.url.split('?')[0]! },
        }))
        done()
      })
      // The body is parsed outside the request's async context; the handler runs inside the span from here.
      app.addHook('preHandler', (req, _reply, done) => {
        const span = spans.get(req)
        if (span) context.with(trace.setSpan(context.active(), span), done)
        else done()
      })
      app.addHook('onResponse', (req, reply, done) => {
        const span = spans.get(req)
        if (span) {
          span.setAttribute('http.response.status_code', reply.statusCode)
          if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
          span.end()
        }
        done()
      })
    },
    tracedDb(db) {
      return {
        query: (sql, params) => db.query(sql, params),
        transaction: (fn) => inSpan('domain transaction', {}, () => db.transaction(fn)),
        close: () => db.close(),
        connections: db.connections,
        get stats() {
          return db.stats
        },
      }
    },
    tracedLive(live) {
      return {
        ...live,
        publish: (channel, data, publishOpts) => inSpan(`publish ${channel.split(':')[0]}`, { 'messaging.destination.name': channel }, () => live.publish(channel, data, publishOpts)),
      }
    },
    close: () => provider.shutdown(),
  }
}

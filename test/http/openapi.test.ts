/** Every /api/v1 route is described in OpenAPI 3 with its schemas, tags and credentials. */
import swagger from '@fastify/swagger'
import Fastify from 'fastify'
import { beforeAll, expect, it } from 'vitest'
import type { Domain } from '../../src/domain/index.js'
import { apiV1 } from '../../src/http/api-v1.js'

let spec: any
beforeAll(async () => {
  // Describing routes calls nothing in the domain.
  const domain = {} as Domain
  const app = Fastify({ logger: false })
  await app.register(swagger, { openapi: {
    openapi: '3.0.3',
    info: { title: 't', version: '1' },
    // As src/http/app.ts declares them.
    components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' }, operatorToken: { type: 'http', scheme: 'bearer' }, clientToken: { type: 'http', scheme: 'bearer' } } },
  } })
  await app.register(apiV1({ domain, apiKey: 'k' }), { prefix: '/api/v1' })
  await app.ready()
  spec = app.swagger()
  await app.close()
})

it('describes the whole contract of http-api.md', () => {
  const ops = Object.entries(spec.paths).flatMap(([path, methods]: [string, any]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
  for (const route of [
    'POST /api/v1/operators', 'POST /api/v1/operators/{id}/tokens', 'POST /api/v1/operators/{id}/block', 'POST /api/v1/operators/{id}/unblock',
    'POST /api/v1/clients', 'POST /api/v1/clients/{id}/messages', 'POST /api/v1/clients/{id}/typing', 'POST /api/v1/clients/{id}/read',
    'POST /api/v1/clients/{id}/presence', 'POST /api/v1/clients/{id}/close', 'POST /api/v1/sessions/{id}/handoff', 'POST /api/v1/sessions/{id}/bot',
    'POST /api/v1/sessions/{id}/messages', 'GET /api/v1/me', 'GET /api/v1/sessions', 'GET /api/v1/sessions/{id}/messages',
    'POST /api/v1/sessions/{id}/accept', 'PATCH /api/v1/messages/{id}', 'POST /api/v1/logout',
    'POST /api/v1/widget/clients', 'GET /api/v1/widget/messages', 'POST /api/v1/widget/messages', 'POST /api/v1/widget/typing',
    'POST /api/v1/widget/read', 'POST /api/v1/widget/close',
  ]) {
    expect(ops).toContain(route)
  }
  for (const [path, methods] of Object.entries<any>(spec.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      expect(op.tags?.length, `${method} ${path} tags`).toBeGreaterThan(0)
      expect(Object.keys(op.responses), `${method} ${path} responses`).toEqual(expect.arrayContaining([expect.stringMatching(/^2/)]))
      if (path !== '/api/v1/widget/clients') expect(op.security, `${method} ${path} security`).toBeDefined()
    }
  }
  const created = spec.paths['/api/v1/clients/{id}/messages'].post
  expect(created.requestBody.content['application/json'].schema.required).toContain('text')
  expect(created.responses['201']).toBeDefined()
  expect(created.responses['400']).toBeDefined()
})

it('is served by livedesk at /api/v1/openapi.json, with the docs page at /docs', async () => {
  const { startTestLivedesk } = await import('../helpers/livedesk.js')
  const l = await startTestLivedesk()
  const served = await (await fetch(`${l.url}/api/v1/openapi.json`)).json()
  expect(served.openapi).toMatch(/^3\./)
  expect(Object.keys(served.paths)).toEqual(expect.arrayContaining(['/api/v1/clients/{id}/messages', '/api/v1/sessions', '/api/v1/widget/clients']))
  expect((await fetch(`${l.url}/docs`, { redirect: 'follow' })).status).toBe(200)
})

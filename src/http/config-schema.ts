/** `GET /config.schema.json`: the configuration file's JSON Schema, for editors (`"$schema"` in livedesk.json). */
import type { FastifyPluginAsync } from 'fastify'
import { ConfigSchema } from '../config/schema.js'

export const configSchemaRoute: FastifyPluginAsync = async (app) => {
  app.get('/config.schema.json', { schema: { hide: true } }, async (_req, reply) => reply.type('application/schema+json').send(ConfigSchema))
}

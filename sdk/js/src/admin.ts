/**
 * The administrative API (service role or staff): collections, buckets, users, service keys,
 * functions, outgoing webhooks, channel rules. A separate entry point (`@baas/client/admin`) so apps don't ship it.
 */
import type { Client } from './client.js'
import { page, type Page } from './db.js'
import type { Json, JsonObject } from './util.js'

export interface Resource<T> {
  list(o?: { limit?: number; cursor?: string | null; [q: string]: unknown }): Promise<Page<T>>
  get(id: string): Promise<T>
  create(body: JsonObject): Promise<T>
  update(id: string, body: JsonObject): Promise<T>
  delete(id: string): Promise<void>
}

function resource<T = any>(c: Client, base: string): Resource<T> {
  const at = (id: string) => `${base}/${encodeURIComponent(id)}`
  return {
    list: async (o = {}) => page(await c.request({ path: base, query: o as any })),
    get: (id) => c.request({ path: at(id) }),
    create: (json) => c.request({ method: 'POST', path: base, json }),
    update: (id, json) => c.request({ method: 'PATCH', path: at(id), json }),
    delete: (id) => c.request({ method: 'DELETE', path: at(id) }),
  }
}

/** Keys cannot be read one by one or changed; functions change by deploying (/v1/schema says so). */
type KeyResource = Pick<Resource<any>, 'list' | 'create' | 'delete'>
type FunctionResource = Pick<Resource<any>, 'list' | 'get' | 'create' | 'delete'>

export function admin(c: Client) {
  return {
    collections: resource(c, '/v1/db/collections'),
    buckets: resource(c, '/v1/storage/buckets'),
    users: resource(c, '/v1/admin/users'),
    keys: resource(c, '/v1/admin/keys') as KeyResource,
    functions: {
      ...(resource(c, '/v1/functions') as FunctionResource),
      /** Deploy a version from source files: `{name, files: {"main.py": "..."}, permissions, invoke, …}`. */
      deploy: (config: { name: string; files: Record<string, string> } & JsonObject) => c.request({ method: 'POST', path: '/v1/functions', json: config }),
      invocations: async (name: string, o: { status?: string; cursor?: string | null; limit?: number } = {}) =>
        page(await c.request({ path: `/v1/functions/${encodeURIComponent(name)}/invocations`, query: o })),
      rollback: (name: string, version: number) => c.request({ method: 'POST', path: `/v1/functions/${encodeURIComponent(name)}/rollback`, json: { version } }),
    },
    /** Outgoing webhooks: `create({name, url, source: {collection} | {bucket, prefix?}, events?, filter?})`
     * answers with the signing `secret`, shown that once. */
    webhooks: {
      ...resource(c, '/v1/webhooks'),
      rotateSecret: (name: string, secret?: string) =>
        c.request({ method: 'POST', path: `/v1/webhooks/${encodeURIComponent(name)}/rotate-secret`, json: secret ? { secret } : {} }),
      test: (name: string) => c.request({ method: 'POST', path: `/v1/webhooks/${encodeURIComponent(name)}/test` }),
      deliveries: async (name: string, o: { status?: string; cursor?: string | null; limit?: number } = {}) =>
        page(await c.request({ path: `/v1/webhooks/${encodeURIComponent(name)}/deliveries`, query: o })),
      delivery: (id: string) => c.request({ path: `/v1/webhook-deliveries/${encodeURIComponent(id)}` }),
      /** Send a dead (or delivered) delivery again. */
      retry: (id: string) => c.request({ method: 'POST', path: `/v1/webhook-deliveries/${encodeURIComponent(id)}/retry` }),
    },
    channelRules: {
      get: () => c.request({ path: '/v1/realtime/channels/rules' }),
      set: (rules: { join?: string | null; broadcast?: string | null }) => c.request({ method: 'PUT', path: '/v1/realtime/channels/rules', json: rules as Json }),
    },
  }
}

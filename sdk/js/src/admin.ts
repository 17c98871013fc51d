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

/**
 * What a function runs on: `python` (an entry such as `main.py`) or `deno` (TypeScript or
 * JavaScript: `main.ts`, `main.js`). The server infers it from the entry's extension. A server that
 * predates TypeScript functions sends no `runtime`: read its absence as `python`.
 */
export type FunctionRuntime = 'python' | 'deno'

/** One deployed version of a function (`GET /v1/functions/{name}/versions`, a deploy's answer). */
export interface FunctionVersion {
  function: string
  version: number
  active: boolean
  /** Absent from servers without TypeScript functions: `python`. */
  runtime?: FunctionRuntime
  entry: string
  timeout: number
  memory: number
  /** NAME → value, as the manifest gave them. */
  env: { [key: string]: unknown }
  /** Names only: values never leave the server. */
  secrets: string[]
  /** `none` or `egress`. */
  network: string
  permissions: unknown[]
  max_retries: number
  concurrency: number
  rate_per_minute: number
  /** Who may call its HTTP handler: `service`, `authenticated` or `public`. */
  invoke: string
  /** `{type, handler, …}`: `collection`/`filter`, `bucket`/`prefix`, `cron`/`every`/`timezone` by type. */
  triggers: { [key: string]: unknown }[]
  files: string[]
  size: number
  digest: string
  created_at: string
  created_by: string | null
}

/** A function and its active version (`GET /v1/functions`, `GET /v1/functions/{name}`). */
export interface FunctionInfo {
  name: string
  /** The active version's number. */
  version: number | null
  /** The active version's runtime (null without an active version; absent from servers without
   * TypeScript functions). */
  runtime?: FunctionRuntime | null
  active_version: FunctionVersion | null
  created_at: string
  updated_at: string
}

/** A deploy from source files: `{name, files: {"main.ts": "..."}}` and the manifest's settings. */
export type FunctionDeployInput = {
  name: string
  /** path → source text */
  files: Record<string, string>
  /** The module of the handlers: `main.py`/`main` (Python), `main.ts` or `main.js` (Deno). */
  entry?: string
  /** Inferred from `entry` when left out. */
  runtime?: FunctionRuntime
  invoke?: 'service' | 'authenticated' | 'public'
  network?: 'none' | 'egress'
  permissions?: string[]
  timeout?: number
  memory?: number
  env?: Record<string, string>
  secrets?: Record<string, string>
  max_retries?: number
  concurrency?: number
  rate_per_minute?: number
}

/** Keys cannot be read one by one or changed; functions change by deploying (/v1/schema says so). */
type KeyResource = Pick<Resource<any>, 'list' | 'create' | 'delete'>
type FunctionResource = Pick<Resource<FunctionInfo>, 'list' | 'get' | 'delete'> & { create(body: JsonObject): Promise<FunctionVersion> }

export function admin(c: Client) {
  return {
    collections: resource(c, '/v1/db/collections'),
    buckets: resource(c, '/v1/storage/buckets'),
    users: resource(c, '/v1/admin/users'),
    keys: resource(c, '/v1/admin/keys') as KeyResource,
    functions: {
      ...(resource(c, '/v1/functions') as FunctionResource),
      /** Deploy a version from source files: `{name, files: {"main.ts": "..."}, permissions, invoke, …}`; answers the new active version. */
      deploy: (config: FunctionDeployInput): Promise<FunctionVersion> => c.request({ method: 'POST', path: '/v1/functions', json: config as JsonObject }),
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

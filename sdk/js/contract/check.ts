// The SDK's types against the server's contract: `generated/openapi.d.ts` is what openapi-typescript
// makes of `/v1/schema` (scripts/check-openapi.mjs writes it). This file only type-checks; any
// `Agrees<…>` that is not `true`, or a route below the schema lacks, fails `npm run check:openapi`.
import type { components, paths } from '#openapi'
import type { User, Session, SignUpInput } from '../src/auth.js'
import type { Document, ListOptions, BatchOp, page } from '../src/db.js'
import type { ObjectInfo } from '../src/storage.js'
import type { Invocation } from '../src/functions.js'
import type { Json, JsonObject } from '../src/util.js'
import type { admin, FunctionDeployInput, FunctionInfo, FunctionVersion } from '../src/admin.js'

type Schemas = components['schemas']
type Assert<T extends true> = T

/** What the server sends (G) fits the SDK's field type (S). The server's "any JSON" (`unknown`, an
 * object of `unknown`) stands for the SDK's `Json` / `JsonObject`, which JSON Schema cannot name;
 * nested objects are compared field by field. */
type Fits<G, S> = [G] extends [S]
  ? true
  : unknown extends G
    ? true
    : [Json] extends [Exclude<S, undefined>]
      ? [G] extends [Record<string, unknown> | unknown[] | string | number | boolean | null] ? true : false
      : [G] extends [Record<string, unknown>]
        ? [JsonObject] extends [Exclude<S, undefined>] ? true : [Exclude<S, undefined>] extends [object] ? Agrees<G, Exclude<S, undefined>> : false
        : false
type AllTrue<T> = [T] extends [true] ? true : false
/** The keys a type names (an index signature `[key: string]: unknown` names none). */
type Known<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] }
type RequiredKeys<T> = { [K in Known<T>]-?: {} extends Pick<T, K> ? never : K }[Known<T>]

/** A server answer reads as the SDK's type: every field the SDK requires is sent, every field
 * both know has a type the SDK accepts, and (without an index signature) the SDK names every field. */
type Agrees<G, S, ClientOnly extends PropertyKey = never> = AllTrue<
  | ([Exclude<RequiredKeys<S>, ClientOnly | RequiredKeys<G>>] extends [never] ? true : false)
  | { [K in keyof G & keyof S]-?: Fits<G[K], S[K]> }[keyof G & keyof S]
  | (string extends keyof S ? true : [Exclude<keyof G, Known<S>>] extends [never] ? true : false)
>
/** A request body the SDK builds (S) is one the server accepts (G). */
type Accepted<S, G> = [S] extends [G] ? true : false

// --- answers -----------------------------------------------------------------------------------------
export type DocumentAnswer = Assert<Agrees<Schemas['Document'], Document>>
export type DocumentPageAnswer = Assert<Accepted<Schemas['DocumentPage'], Parameters<typeof page<Schemas['Document']>>[0]>>
export type ObjectAnswer = Assert<Agrees<Schemas['StoredObject'], ObjectInfo>>
export type ObjectPageAnswer = Assert<Accepted<Schemas['StoredObjectPage'], Parameters<typeof page<Schemas['StoredObject']>>[0]>>
export type UserAnswer = Assert<Agrees<Schemas['User'], User>>
export type PendingEmailAnswer = Assert<Agrees<Schemas['PendingEmailUser'], User>>
// `expiresAt` is the SDK's own (read from the access token), not a field of the answer.
export type SessionAnswer = Assert<Agrees<Schemas['Session'], Session, 'expiresAt'>>
export type RefreshAnswer = Assert<Agrees<Schemas['TokenPair'], Omit<Session, 'user'>, 'expiresAt'>>
export type InvocationAnswer = Assert<Agrees<Schemas['Invocation'], Invocation>>
export type InvokedAnswer = Assert<Agrees<Schemas['Invoked'], { result?: Json; invocation: Invocation }>>
export type FunctionVersionAnswer = Assert<Agrees<Schemas['FunctionVersion'], FunctionVersion>>
export type FunctionAnswer = Assert<Agrees<Schemas['Function'], FunctionInfo>>

// --- request bodies ------------------------------------------------------------------------------------
export type SignUpBody = Assert<Accepted<SignUpInput, Schemas['SignupRequest']>>
export type CreateBody = Assert<Accepted<{ data: JsonObject; id?: string }, Schemas['DocumentCreate']>>
export type DeployBody = Assert<Accepted<FunctionDeployInput, Schemas['FunctionDeploy']>>
/** `db.batch` renames `ifVersion` to `if_version` and sends the rest as is. */
type Wire<B> = B extends unknown ? Omit<B, 'ifVersion'> & ('ifVersion' extends keyof B ? { if_version?: number } : {}) : never
export type BatchBody = Assert<Accepted<Wire<BatchOp>, Schemas['BatchOp']>>
type ListQuery = NonNullable<paths['/v1/db/{collection}']['get']['parameters']['query']>
export type ListQueryNames = Assert<[Exclude<'filter' | 'order' | 'limit' | 'cursor', keyof ListQuery>] extends [never] ? true : false>

// --- routes ------------------------------------------------------------------------------------------
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'
type Route = {
  [P in keyof paths]: { [M in Method]: [NonNullable<paths[P][M]>] extends [never] ? never : `${Uppercase<M>} ${P}` }[Method]
}[keyof paths]

/** Every request the SDK's client makes (src/*.ts but admin.ts, below). */
export const SDK_ROUTES = [
  'POST /v1/auth/signup',
  'POST /v1/auth/token',
  'POST /v1/auth/anonymous',
  'POST /v1/auth/logout',
  'POST /v1/auth/token/refresh',
  'GET /v1/auth/user',
  'PATCH /v1/auth/user',
  'GET /v1/db/{collection}',
  'POST /v1/db/{collection}',
  'GET /v1/db/{collection}/count',
  'GET /v1/db/{collection}/{doc_id}',
  'PUT /v1/db/{collection}/{doc_id}',
  'PATCH /v1/db/{collection}/{doc_id}',
  'DELETE /v1/db/{collection}/{doc_id}',
  'POST /v1/db/batch',
  'GET /v1/storage/objects/{bucket}',
  'GET /v1/storage/objects/{bucket}/{path}',
  'PUT /v1/storage/objects/{bucket}/{path}',
  'DELETE /v1/storage/objects/{bucket}/{path}',
  'POST /v1/storage/sign/{bucket}/{path}',
  'POST /v1/functions/{name}/invoke',
  'POST /v1/functions/{name}/http/{subpath}',
  'GET /v1/invocations/{invocation_id}',
] as const satisfies readonly Route[]

/** The route behind each method of `@baas/client/admin`: every method its types offer must have one
 * (a method the server lacks cannot be listed, so it fails here). */
type Admin = ReturnType<typeof admin>
export const ADMIN_ROUTES = {
  collections: {
    list: 'GET /v1/db/collections',
    get: 'GET /v1/db/collections/{name}',
    create: 'POST /v1/db/collections',
    update: 'PATCH /v1/db/collections/{name}',
    delete: 'DELETE /v1/db/collections/{name}',
  },
  buckets: {
    list: 'GET /v1/storage/buckets',
    get: 'GET /v1/storage/buckets/{name}',
    create: 'POST /v1/storage/buckets',
    update: 'PATCH /v1/storage/buckets/{name}',
    delete: 'DELETE /v1/storage/buckets/{name}',
  },
  users: {
    list: 'GET /v1/admin/users',
    get: 'GET /v1/admin/users/{user_id}',
    create: 'POST /v1/admin/users',
    update: 'PATCH /v1/admin/users/{user_id}',
    delete: 'DELETE /v1/admin/users/{user_id}',
  },
  keys: { list: 'GET /v1/admin/keys', create: 'POST /v1/admin/keys', delete: 'DELETE /v1/admin/keys/{key_id}' },
  functions: {
    list: 'GET /v1/functions',
    get: 'GET /v1/functions/{name}',
    create: 'POST /v1/functions',
    deploy: 'POST /v1/functions',
    delete: 'DELETE /v1/functions/{name}',
    invocations: 'GET /v1/functions/{name}/invocations',
    rollback: 'POST /v1/functions/{name}/rollback',
  },
  webhooks: {
    list: 'GET /v1/webhooks',
    get: 'GET /v1/webhooks/{name}',
    create: 'POST /v1/webhooks',
    update: 'PATCH /v1/webhooks/{name}',
    delete: 'DELETE /v1/webhooks/{name}',
    rotateSecret: 'POST /v1/webhooks/{name}/rotate-secret',
    test: 'POST /v1/webhooks/{name}/test',
    deliveries: 'GET /v1/webhooks/{name}/deliveries',
    delivery: 'GET /v1/webhook-deliveries/{delivery_id}',
    retry: 'POST /v1/webhook-deliveries/{delivery_id}/retry',
  },
  channelRules: { get: 'GET /v1/realtime/channels/rules', set: 'PUT /v1/realtime/channels/rules' },
} as const satisfies { [R in keyof Admin]: { [M in keyof Admin[R]]: Route } }

// --- request headers the SDK sends -------------------------------------------------------------------
type Headers<P extends keyof paths, M extends Method> = keyof NonNullable<NonNullable<paths[P][M]> extends { parameters: { header?: infer H } } ? H : never>
type Sends<P extends keyof paths, M extends Method, H extends string> = [H] extends [Headers<P, M>] ? true : false
export type DocumentConditions = [
  Assert<Sends<'/v1/db/{collection}/{doc_id}', 'put', 'If-Match' | 'Idempotency-Key'>>,
  Assert<Sends<'/v1/db/{collection}/{doc_id}', 'patch', 'If-Match' | 'Idempotency-Key'>>,
  Assert<Sends<'/v1/db/{collection}/{doc_id}', 'delete', 'If-Match' | 'Idempotency-Key'>>,
  Assert<Sends<'/v1/db/{collection}', 'post', 'Idempotency-Key'>>,
  Assert<Sends<'/v1/db/batch', 'post', 'Idempotency-Key'>>,
]
export type ObjectHeaders = [
  Assert<Sends<'/v1/storage/objects/{bucket}/{path}', 'put', 'X-Baas-Metadata' | 'If-None-Match'>>,
  Assert<Sends<'/v1/storage/objects/{bucket}/{path}', 'get', 'Range'>>,
]

import type { Http } from './http.js'
import type { Realtime, Change, SubscribeOptions } from './realtime.js'
import type { Json, JsonObject } from './util.js'

export interface Document<T = JsonObject> {
  id: string
  collection: string
  data: T
  owner: string | null
  version: number
  created_at: string
  updated_at: string
}

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

export interface ListOptions {
  filter?: string
  /** `"-score"`, `["-score", "title"]`: data fields or own fields (`$created_at`), `-` for descending. */
  order?: string | string[]
  limit?: number
  cursor?: string | null
  signal?: AbortSignal
}

export type Op =
  | { increment: number }
  | { array_union: Json[] }
  | { array_remove: Json[] }
  | { delete: true }
  | { server_timestamp: true }

export interface WriteOptions {
  ifVersion?: number
  signal?: AbortSignal
  /** Reuse a key of your own to make a retry across app restarts idempotent too. */
  idempotencyKey?: string
}

export type BatchOp =
  | { op: 'create'; collection: string; id?: string; data: JsonObject }
  | { op: 'set'; collection: string; id: string; data: JsonObject; ifVersion?: number }
  | { op: 'update'; collection: string; id: string; data?: JsonObject; ops?: Record<string, Op>; ifVersion?: number }
  | { op: 'delete'; collection: string; id: string; ifVersion?: number }

const ifMatch = (o?: WriteOptions) => (o?.ifVersion !== undefined ? { 'if-match': `"${o.ifVersion}"` } : undefined)

export const page = <T>(p: { items: T[]; next_cursor: string | null }): Page<T> => ({ items: p.items, nextCursor: p.next_cursor })

export class Collection<T extends JsonObject = JsonObject> {
  private path: string
  constructor(
    private http: Http,
    private rt: () => Realtime,
    readonly name: string,
  ) {
    this.path = `/v1/db/${encodeURIComponent(name)}`
  }

  create(data: T, o: WriteOptions & { id?: string } = {}): Promise<Document<T>> {
    return this.http.request({ method: 'POST', path: this.path, json: o.id !== undefined ? { data, id: o.id } : { data }, signal: o.signal, idempotencyKey: o.idempotencyKey })
  }

  get(id: string, o: { signal?: AbortSignal } = {}): Promise<Document<T>> {
    return this.http.request({ path: `${this.path}/${encodeURIComponent(id)}`, signal: o.signal })
  }

  /** Replace the document's data (creating it when absent and the rules allow). */
  set(id: string, data: T, o: WriteOptions = {}): Promise<Document<T>> {
    return this.http.request({ method: 'PUT', path: `${this.path}/${encodeURIComponent(id)}`, json: { data }, headers: ifMatch(o), signal: o.signal, idempotencyKey: o.idempotencyKey })
  }

  /** Shallow-merge `data`, then apply `ops` atomically (`{likes: {increment: 1}}`). */
  update(id: string, change: { data?: Partial<T>; ops?: Record<string, Op> }, o: WriteOptions = {}): Promise<Document<T>> {
    return this.http.request({ method: 'PATCH', path: `${this.path}/${encodeURIComponent(id)}`, json: change, headers: ifMatch(o), signal: o.signal, idempotencyKey: o.idempotencyKey })
  }

  delete(id: string, o: WriteOptions = {}): Promise<void> {
    return this.http.request({ method: 'DELETE', path: `${this.path}/${encodeURIComponent(id)}`, headers: ifMatch(o), signal: o.signal, idempotencyKey: o.idempotencyKey })
  }

  async list(o: ListOptions = {}): Promise<Page<Document<T>>> {
    const order = Array.isArray(o.order) ? o.order.join(',') : o.order
    return page(await this.http.request({ path: this.path, query: { filter: o.filter, order, limit: o.limit, cursor: o.cursor }, signal: o.signal }))
  }

  async count(o: { filter?: string; signal?: AbortSignal } = {}): Promise<number> {
    return (await this.http.request({ path: `${this.path}/count`, query: { filter: o.filter }, signal: o.signal })).count
  }

  /** Every matching document, page by page: `for await (const doc of col.iterate({filter}))`. */
  async *iterate(o: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<Document<T>> {
    let cursor: string | null = null
    do {
      const p: Page<Document<T>> = await this.list({ ...o, cursor })
      yield* p.items
      cursor = p.nextCursor
    } while (cursor)
  }

  [Symbol.asyncIterator](): AsyncGenerator<Document<T>> {
    return this.iterate()
  }

  /**
   * Live changes: `onChange({type, doc, seq})` for `added`, `modified`, `removed`. With `snapshot`,
   * the current matching documents first arrive as `added` (with `snapshot: true`). Survives
   * reconnects without a gap or a duplicate; returns the unsubscribe.
   */
  subscribe(o: SubscribeOptions, onChange: (c: Change<Document<T>>) => void): () => void {
    return this.rt().subscribe({ collection: this.name }, o, onChange as any)
  }
}

export class Db {
  constructor(
    private http: Http,
    private rt: () => Realtime,
  ) {}

  collection<T extends JsonObject = JsonObject>(name: string): Collection<T> {
    return new Collection<T>(this.http, this.rt, name)
  }

  /** All or nothing; the results in order. */
  async batch(ops: BatchOp[], o: { signal?: AbortSignal; idempotencyKey?: string } = {}): Promise<unknown[]> {
    const body = ops.map(({ ifVersion, ...op }: any) => (ifVersion !== undefined ? { ...op, if_version: ifVersion } : op))
    const r = await this.http.request({ method: 'POST', path: '/v1/db/batch', json: { ops: body }, signal: o.signal, idempotencyKey: o.idempotencyKey })
    return r?.results ?? r
  }
}

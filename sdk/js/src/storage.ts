import { BaasError } from './errors.js'
import type { Http } from './http.js'
import { page, type Page } from './db.js'
import type { Change, Realtime, SubscribeOptions } from './realtime.js'
import { encodePath, type JsonObject } from './util.js'

export interface ObjectInfo {
  bucket: string
  path: string
  size: number
  content_type: string
  etag: string
  owner: string | null
  metadata: JsonObject
  created_at: string
  updated_at: string
}

export type UploadData = Blob | ArrayBuffer | ArrayBufferView | string

export interface Progress {
  loaded: number
  total: number
}

export interface UploadOptions {
  contentType?: string
  metadata?: JsonObject
  /** Called as bytes go out: `loaded` only grows and ends at `total`. */
  onProgress?: (p: Progress) => void
  signal?: AbortSignal
  /** false: refuse to replace an existing object (`If-None-Match: *`, 412). */
  upsert?: boolean
}

const CHUNK = 64 * 1024

function bytesOf(data: UploadData): Blob | Uint8Array {
  if (typeof data === 'string') return new TextEncoder().encode(data)
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return data
}

const sizeOf = (b: Blob | Uint8Array) => ((b as Blob).size ?? (b as Uint8Array).byteLength) as number

export interface StorageOptions {
  /** An XMLHttpRequest class: uploads then report progress from its `upload` events (browsers, React Native). */
  XMLHttpRequest?: any
}

export class Bucket {
  private base: string
  constructor(
    private http: Http,
    private rt: () => Realtime,
    readonly name: string,
    private opts: StorageOptions,
  ) {
    this.base = `/v1/storage/objects/${encodeURIComponent(name)}`
  }

  /**
   * Upload (replacing what is at `path`, unless `upsert: false`). Progress is real: in browsers and
   * React Native from XMLHttpRequest's upload events, elsewhere from the request body stream as the
   * transport pulls it.
   */
  async upload(path: string, data: UploadData, o: UploadOptions = {}): Promise<ObjectInfo> {
    const bytes = bytesOf(data)
    const total = sizeOf(bytes)
    const headers: Record<string, string> = {
      'content-type': o.contentType ?? ((bytes as Blob).type || 'application/octet-stream'),
    }
    if (o.metadata) headers['x-baas-metadata'] = JSON.stringify(o.metadata)
    if (o.upsert === false) headers['if-none-match'] = '*'
    let sent = 0
    const progress = (loaded: number) => {
      if (loaded > sent || (loaded === total && sent === 0)) o.onProgress?.({ loaded: (sent = Math.max(sent, loaded)), total })
    }
    const XHR = this.opts.XMLHttpRequest ?? (globalThis as any).XMLHttpRequest
    let body: () => unknown = () => bytes
    let send: ((url: string, init: any) => Promise<Response>) | undefined
    if (o.onProgress && XHR) send = (url, init) => xhrSend(XHR, url, init, progress)
    else if (o.onProgress && typeof ReadableStream === 'function') {
      headers['content-length'] = String(total)
      body = () => {
        let at = 0
        return new ReadableStream(
          {
            async pull(c) {
              if (at >= total) return c.close()
              const end = Math.min(total, at + CHUNK)
              const part = bytes instanceof Uint8Array ? bytes.subarray(at, end) : new Uint8Array(await (bytes as Blob).slice(at, end).arrayBuffer())
              c.enqueue(part)
              progress((at = end))
            },
          },
          { highWaterMark: 0 },
        )
      }
    }
    const info = await this.http.request<ObjectInfo>({ method: 'PUT', path: `${this.base}/${encodePath(path)}`, headers, body, send, signal: o.signal })
    progress(total)
    return info
  }

  /** The answer as a fetch Response (`.arrayBuffer()`, `.blob()`, `.text()`, `.body` stream). `range: [start, end?]` (inclusive) or `"bytes=…"`. */
  async download(path: string, o: { range?: [number, number?] | string; signal?: AbortSignal } = {}): Promise<Response> {
    const r = o.range
    const range = typeof r === 'string' ? r : r ? `bytes=${r[0]}-${r[1] ?? ''}` : undefined
    return this.http.request({ path: `${this.base}/${encodePath(path)}`, headers: range ? { range } : {}, signal: o.signal, raw: true })
  }

  async remove(path: string, o: { signal?: AbortSignal } = {}): Promise<void> {
    return this.http.request({ method: 'DELETE', path: `${this.base}/${encodePath(path)}`, signal: o.signal })
  }

  async list(o: { prefix?: string; cursor?: string | null; limit?: number; signal?: AbortSignal } = {}): Promise<Page<ObjectInfo>> {
    return page(await this.http.request({ path: this.base, query: { prefix: o.prefix, cursor: o.cursor, limit: o.limit }, signal: o.signal }))
  }

  async *iterate(o: { prefix?: string; limit?: number } = {}): AsyncGenerator<ObjectInfo> {
    let cursor: string | null = null
    do {
      const p: Page<ObjectInfo> = await this.list({ ...o, cursor })
      yield* p.items
      cursor = p.nextCursor
    } while (cursor)
  }

  /** A time-limited GET URL that needs no other credentials. */
  async signedUrl(path: string, expiresIn?: number): Promise<string> {
    const r = await this.http.request({ method: 'POST', path: `/v1/storage/sign/${encodeURIComponent(this.name)}/${encodePath(path)}`, json: expiresIn ? { expires_in: expiresIn } : {} })
    return r.url
  }

  /** Live object events (`doc` is the object's metadata), resumed across reconnects. */
  subscribe(o: SubscribeOptions, onChange: (c: Change<ObjectInfo>) => void): () => void {
    return this.rt().subscribe({ bucket: this.name }, o, onChange as any)
  }
}

function xhrSend(XHR: any, url: string, init: any, progress: (n: number) => void): Promise<Response> {
  return new Promise((resolve, reject) => {
    const x = new XHR()
    x.open(init.method, url)
    for (const [k, v] of Object.entries(init.headers)) if (k !== 'content-length') x.setRequestHeader(k, v)
    x.responseType = 'arraybuffer'
    x.upload.onprogress = (e: any) => progress(e.loaded)
    x.onload = () => {
      const headers = new Headers()
      for (const line of String(x.getAllResponseHeaders()).trim().split(/[\r\n]+/)) {
        const i = line.indexOf(':')
        if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim())
      }
      resolve(new Response(x.status === 204 ? null : x.response, { status: x.status, headers }))
    }
    x.onerror = x.ontimeout = () => reject(new TypeError('XMLHttpRequest failed'))
    x.onabort = () => reject(new BaasError('aborted', 'The request was aborted.'))
    init.signal?.addEventListener('abort', () => x.abort())
    x.send(init.body)
  })
}

export class Storage {
  constructor(
    private http: Http,
    private rt: () => Realtime,
    private opts: StorageOptions = {},
  ) {}
  bucket(name: string): Bucket {
    return new Bucket(this.http, this.rt, name, this.opts)
  }
}

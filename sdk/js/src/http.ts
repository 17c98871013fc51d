import { BaasError } from './errors.js'
import { backoff, sleep, uuid } from './util.js'

export type FetchLike = (input: string, init?: any) => Promise<Response>

export interface Credentials {
  /** The bearer token to send now (refreshing first when it is about to expire), or null. */
  token(): Promise<string | null>
  /** The server refused `token` (401): refresh if it is still ours; true when a retry may succeed. */
  rejected(token: string, code: string): Promise<boolean>
}

export interface RequestInit2 {
  method?: string
  path: string
  query?: Record<string, string | number | boolean | null | undefined>
  /** A JSON value, sent as the body. */
  json?: unknown
  /** A raw body, rebuilt for every attempt (so retries can resend it). */
  body?: () => unknown
  headers?: Record<string, string>
  signal?: AbortSignal
  /** Send no credentials (sign-in calls). */
  anonymous?: boolean
  /** Send this Idempotency-Key instead of a fresh one; `false`: none. */
  idempotencyKey?: string | false
  /** Replace fetch for this call (uploads with progress). */
  send?: (url: string, init: any) => Promise<Response>
  /** Return the Response as it is (downloads) instead of parsing JSON. */
  raw?: boolean
  /** With `raw`: return the Response whatever its status (a function's own answer), after an
   * expired token's refresh; no retries but of network failures. */
  anyStatus?: boolean
}

export interface HttpOptions {
  /** Automatic retries of network failures, 503, 502/504, 429 and idempotency_key_in_use (default 3). */
  retries?: number
  /** First backoff step in ms (default 300). */
  retryDelay?: number
  /** Longest wait between retries, also for Retry-After (default 10 000 ms). */
  maxRetryDelay?: number
  /** Headers sent with every call. */
  headers?: Record<string, string>
}

const RETRY_STATUS = new Set([502, 503, 504, 429])

export async function toError(res: Response): Promise<BaasError> {
  let body: any = null
  try {
    body = await res.json()
  } catch {}
  const e = body?.error
  return new BaasError(
    typeof e?.code === 'string' ? e.code : res.status >= 500 ? 'internal_error' : 'invalid_request',
    typeof e?.message === 'string' ? e.message : `HTTP ${res.status}`,
    res.status,
    e?.details && typeof e.details === 'object' ? e.details : {},
    res.headers.get('x-request-id') ?? undefined,
  )
}

export class Http {
  readonly base: string
  constructor(
    base: string,
    readonly fetch: FetchLike,
    public credentials: Credentials,
    private opts: HttpOptions = {},
  ) {
    this.base = base.replace(/\/+$/, '')
  }

  url(path: string, query?: RequestInit2['query']): string {
    let q = ''
    if (query)
      for (const [k, v] of Object.entries(query))
        if (v !== undefined && v !== null) q += `${q ? '&' : '?'}${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`
    return this.base + path + q
  }

  async request<T = any>(r: RequestInit2): Promise<T> {
    const method = r.method ?? 'GET'
    const mutating = method !== 'GET' && method !== 'HEAD'
    const key = r.idempotencyKey === false || !mutating ? undefined : (r.idempotencyKey ?? uuid())
    const retries = this.opts.retries ?? 3
    const url = this.url(r.path, r.query)
    let refreshed = false
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { accept: 'application/json', ...this.opts.headers, ...r.headers }
      const token = r.anonymous ? null : await this.credentials.token()
      if (token) headers.authorization = `Bearer ${token}`
      if (key) headers['idempotency-key'] = key
      let body: unknown
      if (r.json !== undefined) {
        headers['content-type'] = 'application/json'
        body = JSON.stringify(r.json)
      } else if (r.body) body = r.body()
      let res: Response
      try {
        const init: any = { method, headers, body, signal: r.signal }
        if (body && typeof (body as any).getReader === 'function') init.duplex = 'half'
        res = await (r.send ?? this.fetch)(url, init)
      } catch (e: any) {
        if (r.signal?.aborted) throw new BaasError('aborted', 'The request was aborted.')
        if (e instanceof BaasError) throw e
        // Safe to resend: reads, writes carrying an Idempotency-Key, uploads by PUT (they replace) — not
        // `If-None-Match: *` uploads, whose retry after a lost answer would meet its own object.
        if (attempt < retries && (!mutating || key || (method === 'PUT' && !r.headers?.['if-none-match']))) {
          await sleep(this.delay(attempt), r.signal)
          continue
        }
        throw new BaasError('network_error', `Network failure: ${e?.message ?? e}`)
      }
      if (res.ok || (r.raw && (res.status === 304 || res.status === 206))) {
        if (r.raw) return res as any
        if (res.status === 204) return undefined as any
        const text = await res.text()
        return (text ? JSON.parse(text) : undefined) as T
      }
      const passOn = r.raw && r.anyStatus
      const err = await toError(passOn ? res.clone() : res)
      if (res.status === 401 && token && !refreshed && (err.code === 'token_expired' || err.code === 'token_invalid')) {
        refreshed = true
        if (await this.credentials.rejected(token, err.code)) {
          attempt--
          continue
        }
      }
      if (passOn) return res as any
      const retryable = RETRY_STATUS.has(res.status) || err.code === 'idempotency_key_in_use'
      if (retryable && attempt < retries && (!mutating || key || (method === 'PUT' && !r.headers?.['if-none-match']))) {
        const after = Number(res.headers.get('retry-after'))
        await sleep(Math.min(this.opts.maxRetryDelay ?? 10_000, Math.max(after > 0 ? after * 1000 : 0, this.delay(attempt))), r.signal)
        continue
      }
      throw err
    }
  }

  private delay(attempt: number): number {
    return backoff(attempt, this.opts.retryDelay ?? 300, this.opts.maxRetryDelay ?? 10_000)
  }
}

import { BaasError } from './errors.js'
import type { Http } from './http.js'
import type { Json } from './util.js'

export interface Invocation {
  id: string
  function: string
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'retrying' | 'dead'
  result: Json
  error: { code: string; message: string; type?: string } | null
  [key: string]: unknown
}

/** A function's answer at `/v1/functions/{name}/http/{path}`, whatever status it chose (a platform
 * error, such as 401 or 413, arrives here too, in the API's error shape). */
export interface HttpAnswer {
  status: number
  headers: Headers
  body: Uint8Array
  text(): string
  json<T = Json>(): T
}

export interface HttpCall {
  /** Default POST. */
  method?: string
  /** A raw body (sent as is), or `json` (sent as application/json). */
  body?: string | Uint8Array | ArrayBuffer | Blob
  json?: Json
  headers?: Record<string, string>
  query?: Record<string, string | number | boolean | null | undefined>
  signal?: AbortSignal
  idempotencyKey?: string
}

export class Functions {
  constructor(private transport: Http) {}

  /**
   * Call the function's `@on_http` handler. Waits for the result (`{result, invocation}`); a failed
   * run throws a BaasError with the function's error code. With `async: true` answers at once
   * with the queued `{invocation}`.
   */
  async invoke<R = Json>(name: string, payload?: Json, o: { async?: boolean; signal?: AbortSignal; idempotencyKey?: string } = {}): Promise<{ result?: R; invocation: Invocation }> {
    const r = await this.transport.request({
      method: 'POST',
      path: `/v1/functions/${encodeURIComponent(name)}/invoke`,
      query: o.async ? { async: 'true' } : undefined,
      json: { payload: payload ?? null },
      signal: o.signal,
      idempotencyKey: o.idempotencyKey,
    })
    const inv: Invocation = r.invocation
    if (inv && (inv.status === 'failed' || inv.status === 'dead') && !o.async)
      throw new BaasError(inv.error?.code ?? 'function_error', inv.error?.message ?? 'The function failed.', 200, { invocation: inv })
    return r
  }

  /**
   * Send a request to the function's `@on_http` handler at `/v1/functions/{name}/http/{path}` (the
   * webhook route): any method, headers and body; the answer comes back as the handler chose it.
   */
  async http(name: string, path = '', o: HttpCall = {}): Promise<HttpAnswer> {
    const segments = path.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/')
    const res: Response = await this.transport.request({
      method: (o.method ?? 'POST').toUpperCase(),
      path: `/v1/functions/${encodeURIComponent(name)}/http/${segments}`,
      query: o.query,
      json: o.json,
      body: o.json === undefined && o.body !== undefined ? () => o.body : undefined,
      headers: { accept: '*/*', ...o.headers },
      signal: o.signal,
      idempotencyKey: o.idempotencyKey ?? false,
      raw: true,
      anyStatus: true,
    })
    const body = new Uint8Array(await res.arrayBuffer())
    const text = () => new TextDecoder().decode(body)
    return { status: res.status, headers: res.headers, body, text, json: () => JSON.parse(text()) }
  }

  /** An invocation's record (for `async` calls). */
  get(id: string): Promise<Invocation> {
    return this.transport.request({ path: `/v1/invocations/${encodeURIComponent(id)}` })
  }
}

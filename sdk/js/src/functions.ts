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

export class Functions {
  constructor(private http: Http) {}

  /**
   * Call the function's `@on_http` handler. Waits for the result (`{result, invocation}`); a failed
   * run throws a BaasError with the function's error code. With `async: true` answers at once
   * with the queued `{invocation}`.
   */
  async invoke<R = Json>(name: string, payload?: Json, o: { async?: boolean; signal?: AbortSignal; idempotencyKey?: string } = {}): Promise<{ result?: R; invocation: Invocation }> {
    const r = await this.http.request({
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

  /** An invocation's record (for `async` calls). */
  get(id: string): Promise<Invocation> {
    return this.http.request({ path: `/v1/invocations/${encodeURIComponent(id)}` })
  }
}

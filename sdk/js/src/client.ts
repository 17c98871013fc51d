import { Auth, type AuthOptions } from './auth.js'
import { Db } from './db.js'
import { Functions } from './functions.js'
import { Http, type FetchLike, type HttpOptions, type RequestInit2 } from './http.js'
import { Realtime, type RealtimeOptions } from './realtime.js'
import { Storage, type StorageOptions } from './storage.js'

export interface ClientOptions extends AuthOptions, HttpOptions, RealtimeOptions, StorageOptions {
  /** A fetch implementation (default: the global one). */
  fetch?: FetchLike
  /** Act as the service role with this key (servers and scripts only: never ship it to apps). */
  serviceKey?: string
}

export interface Client {
  readonly url: string
  readonly auth: Auth
  readonly db: Db
  readonly storage: Storage
  readonly functions: Functions
  /** The one multiplexed websocket of this client (opened on first use). */
  readonly realtime: Realtime
  /** Any API call, with this client's credentials, retries and error mapping. */
  request<T = any>(r: RequestInit2): Promise<T>
  /** Stop timers and close the websocket. */
  close(): void
}

export function createClient(url: string, options: ClientOptions = {}): Client {
  const f = options.fetch ?? (globalThis as any).fetch
  const fetch: FetchLike = (i, init) => f(i, init) // unbound: window.fetch must be called on window
  const http = new Http(url, fetch, null as any, options)
  const auth = new Auth(http, options)
  if (options.serviceKey) auth.serviceKey = options.serviceKey
  http.credentials = auth
  let rt: Realtime | undefined
  const realtime = () => (rt ??= new Realtime(http, auth, options))
  return {
    url: http.base,
    auth,
    db: new Db(http, realtime),
    storage: new Storage(http, realtime, options),
    functions: new Functions(http),
    get realtime() {
      return realtime()
    },
    request: (r) => http.request(r),
    close() {
      auth.close()
      rt?.disconnect()
    },
  }
}

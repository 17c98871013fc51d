import { BaasError } from './errors.js'
import type { Credentials, Http } from './http.js'
import { Emitter, unref, type JsonObject } from './util.js'

export interface User {
  id: string
  email: string | null
  is_anonymous: boolean
  email_verified: boolean
  data: JsonObject
  claims: JsonObject
  created_at: string
  /** Set by `updateUser` when a new email awaits confirmation from its mailbox. */
  pending_email?: string
  [key: string]: unknown
}

export interface Session {
  access: string
  refresh: string
  user: User
  /** When the access token expires, ms since the epoch (0: unknown). */
  expiresAt: number
}

export type AuthEvent = 'INITIAL_SESSION' | 'SIGNED_IN' | 'SIGNED_OUT' | 'TOKEN_REFRESHED' | 'USER_UPDATED'

/** localStorage, AsyncStorage, a memory map… sync or async. SecureStore-style `*Async` methods work too. */
export interface SessionStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>
  setItem(key: string, value: string): void | Promise<void>
  removeItem(key: string): void | Promise<void>
}

/** Runs `fn` while holding a lock named `name`, shared with other tabs or instances where possible. */
export type Lock = <T>(name: string, fn: () => Promise<T>) => Promise<T>

export interface AuthOptions {
  storage?: SessionStorage | { getItemAsync: Function; setItemAsync: Function; deleteItemAsync: Function }
  storageKey?: string
  lock?: Lock
  /** Refresh the access token in the background before it expires (default true). */
  autoRefresh?: boolean
  /** Refresh this many seconds before expiry (default: a quarter of the token's life, at most 60 s). */
  refreshMargin?: number
}

export const memoryStorage = (): SessionStorage => {
  const m = new Map<string, string>()
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) }
}

function adaptStorage(s: AuthOptions['storage']): SessionStorage {
  if (!s) {
    try {
      const ls = (globalThis as any).localStorage
      if (ls) return ls
    } catch {}
    return memoryStorage()
  }
  if ('getItemAsync' in s)
    return { getItem: (k) => s.getItemAsync(k), setItem: (k, v) => s.setItemAsync(k, v), removeItem: (k) => s.deleteItemAsync(k) }
  return s
}

function decodeExp(jwt: string): [number, number] {
  try {
    const p = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    const claims = JSON.parse(atob(p + '='.repeat((4 - (p.length % 4)) % 4)))
    return [claims.exp * 1000 || 0, claims.iat * 1000 || 0]
  } catch {
    return [0, 0]
  }
}

const navLock: Lock | undefined = (globalThis as any).navigator?.locks?.request
  ? (name, fn) => (globalThis as any).navigator.locks.request(name, fn)
  : undefined

interface TokenAnswer {
  user?: User
  access: string
  refresh: string
}

export interface SignUpInput {
  email: string
  password: string
  data?: JsonObject
}

export class Auth implements Credentials {
  session: Session | null = null
  readonly ready: Promise<void>
  private events = new Emitter<{ change: [AuthEvent, Session | null] }>()
  private storage: SessionStorage
  private key: string
  private lock: Lock
  private refreshing: Promise<Session> | null = null
  private timer: any
  private closed = false
  /** Set when this client uses a service key: no session, no refresh. */
  serviceKey?: string

  constructor(
    private http: Http,
    private opts: AuthOptions = {},
  ) {
    this.storage = adaptStorage(opts.storage)
    this.key = opts.storageKey ?? `baas.session.${http.base.replace(/^\w+:\/\//, '')}`
    this.lock = opts.lock ?? navLock ?? ((_n, fn) => fn())
    this.ready = this.load().then(
      (s) => this.set(s, null),
      () => {},
    )
    const w = (globalThis as any).window
    if (w?.addEventListener && this.storage === (globalThis as any).localStorage)
      w.addEventListener('storage', (e: any) => {
        if (e.key === this.key) this.load().then((s) => this.adopt(s))
      })
  }

  private async load(): Promise<Session | null> {
    const raw = await this.storage.getItem(this.key)
    if (!raw) return null
    const s = JSON.parse(raw)
    return s?.access && s?.refresh ? { ...s, expiresAt: decodeExp(s.access)[0] } : null
  }

  private async save(s: Session | null): Promise<void> {
    try {
      if (s) await this.storage.setItem(this.key, JSON.stringify({ access: s.access, refresh: s.refresh, user: s.user }))
      else await this.storage.removeItem(this.key)
    } catch {}
  }

  /** Take a session another tab or instance wrote. */
  private adopt(s: Session | null): void {
    const cur = this.session
    if (s?.refresh === cur?.refresh) return
    this.set(s, !s ? 'SIGNED_OUT' : cur?.user.id === s.user.id ? 'TOKEN_REFRESHED' : 'SIGNED_IN')
  }

  private set(s: Session | null, event: AuthEvent | null): void {
    this.session = s
    clearTimeout(this.timer)
    if (s && s.expiresAt && this.opts.autoRefresh !== false && !this.closed) {
      const wait = s.expiresAt - this.margin(s) - Date.now()
      const run = () =>
        this.refresh().catch(() => {
          // Offline: try again soon, while this session is still the one (a 401 has signed out).
          if (this.session === s) this.timer = unref(setTimeout(run, 5000))
        })
      this.timer = unref(setTimeout(run, Math.max(wait, 0) + Math.random() * 1000))
    }
    if (event) this.events.emit('change', event, s)
  }

  private margin(s: Session): number {
    if (this.opts.refreshMargin !== undefined) return this.opts.refreshMargin * 1000
    const [exp, iat] = decodeExp(s.access)
    return Math.min(60_000, iat ? (exp - iat) / 4 : 60_000)
  }

  private async start(answer: TokenAnswer, event: AuthEvent): Promise<Session> {
    const s: Session = { access: answer.access, refresh: answer.refresh, user: answer.user!, expiresAt: decodeExp(answer.access)[0] }
    await this.save(s)
    this.set(s, event)
    return s
  }

  // --- Credentials, for the HTTP core and realtime --------------------------------------------
  async token(): Promise<string | null> {
    if (this.serviceKey) return this.serviceKey
    await this.ready
    const s = this.session
    if (!s) return null
    if (s.expiresAt && s.expiresAt - Date.now() < this.margin(s)) {
      try {
        return (await this.refresh()).access
      } catch (e) {
        // Offline: keep using the token while it is still valid; signed out: no token.
        if (this.session === s && s.expiresAt > Date.now()) return s.access
        return this.session?.access ?? null
      }
    }
    return s.access
  }

  async rejected(token: string, _code: string): Promise<boolean> {
    if (this.serviceKey || !this.session) return false
    if (this.session.access !== token) return true // refreshed meanwhile
    try {
      await this.refresh()
      return true
    } catch {
      return false
    }
  }

  // --- public API -----------------------------------------------------------------------------
  async signUp({ email, password, data }: SignUpInput): Promise<Session> {
    const a = await this.http.request<TokenAnswer>({ method: 'POST', path: '/v1/auth/signup', json: { email, password, ...(data ? { data } : {}) }, anonymous: true })
    return this.start(a, 'SIGNED_IN')
  }

  async signIn({ email, password }: { email: string; password: string }): Promise<Session> {
    const a = await this.http.request<TokenAnswer>({ method: 'POST', path: '/v1/auth/token', json: { email, password }, anonymous: true })
    return this.start(a, 'SIGNED_IN')
  }

  async signInAnonymously(data?: JsonObject): Promise<Session> {
    const a = await this.http.request<TokenAnswer>({ method: 'POST', path: '/v1/auth/anonymous', json: data ? { data } : {}, anonymous: true })
    return this.start(a, 'SIGNED_IN')
  }

  /** Ends this session on the server (every session with `all`), then locally — locally even offline. */
  async signOut({ all = false }: { all?: boolean } = {}): Promise<void> {
    await this.ready
    const s = this.session
    try {
      if (s) {
        const token = await this.token()
        await this.http.request({
          method: 'POST',
          path: '/v1/auth/logout',
          json: { refresh: this.session?.refresh ?? s.refresh, ...(all ? { all } : {}) },
          anonymous: true,
          headers: token ? { authorization: `Bearer ${token}` } : {},
        })
      }
    } catch (e) {
      if (!(e instanceof BaasError) || (e.status !== 401 && e.status !== 0)) throw e
    } finally {
      if (s) {
        await this.save(null)
        this.set(null, 'SIGNED_OUT')
      }
    }
  }

  async getUser(): Promise<User> {
    const user = await this.http.request<User>({ path: '/v1/auth/user' })
    if (this.session && this.session.user.id === user.id) {
      this.session = { ...this.session, user }
      await this.save(this.session)
    }
    return user
  }

  /** `{email?, password?, data?}`: `data` replaces the profile data; a new email waits for confirmation (`pending_email`). */
  async updateUser(patch: { email?: string; password?: string; data?: JsonObject }): Promise<User> {
    const user = await this.http.request<User>({ method: 'PATCH', path: '/v1/auth/user', json: patch })
    if (this.session) {
      const s = { ...this.session, user }
      await this.save(s)
      this.set(s, 'USER_UPDATED')
    }
    return user
  }

  getSession(): Session | null {
    return this.session
  }

  /**
   * Rotate the refresh token. One refresh at a time: concurrent callers share it, and with a lock
   * (Web Locks in browsers, or `options.lock`) other tabs and instances sharing the storage too.
   */
  refresh(): Promise<Session> {
    this.refreshing ??= this.lock(`${this.key}.refresh`, () => this.doRefresh()).finally(() => (this.refreshing = null))
    return this.refreshing
  }

  private async doRefresh(): Promise<Session> {
    await this.ready
    let cur = this.session
    const stored = await this.load().catch(() => null)
    if (stored && stored.refresh !== cur?.refresh) {
      // Another tab or instance refreshed (or signed in) meanwhile: use its tokens.
      this.adopt(stored)
      cur = stored
      if (!stored.expiresAt || stored.expiresAt - Date.now() > this.margin(stored)) return stored
    }
    if (!cur) throw new BaasError('not_authenticated', 'There is no session to refresh.')
    try {
      const a = await this.http.request<TokenAnswer>({ method: 'POST', path: '/v1/auth/token/refresh', json: { refresh: cur.refresh }, anonymous: true })
      return await this.start({ ...a, user: a.user ?? cur.user }, 'TOKEN_REFRESHED')
    } catch (e) {
      if (e instanceof BaasError && e.status === 401 && this.session?.refresh === cur.refresh) {
        await this.save(null)
        this.set(null, 'SIGNED_OUT')
      }
      throw e
    }
  }

  /** `cb(event, session)`, first with `INITIAL_SESSION` once the stored session is loaded. Returns the unsubscribe. */
  onAuthStateChange(cb: (event: AuthEvent, session: Session | null) => void): () => void {
    let live = true
    this.ready.then(() => live && cb('INITIAL_SESSION', this.session))
    const off = this.events.on('change', cb)
    return () => {
      live = false
      off()
    }
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
  }
}

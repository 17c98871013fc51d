import type { Auth } from './auth.js'
import { BaasError } from './errors.js'
import type { Http } from './http.js'
import { backoff, Emitter, unref, type JsonObject } from './util.js'

export interface SubscribeOptions {
  /** An expression of the rules language; build it with `filter` to quote values safely. */
  filter?: string
  /** Deliver the current matching documents first, as `added` with `snapshot: true`. */
  snapshot?: boolean
  /** Called when the server refuses or ends the subscription (`permission_denied`, `invalid_filter`…). */
  onError?: (e: BaasError) => void
}

export interface Change<D = any> {
  type: 'added' | 'modified' | 'removed'
  doc: D
  /** Position in the server's event log; grows strictly across a subscription's changes. */
  seq: number
  /** Part of the initial snapshot. */
  snapshot?: boolean
  /** Part of the difference reported after `resync_required`. */
  resync?: boolean
}

export interface RealtimeOptions {
  /** A WebSocket class (default: the global one). */
  WebSocket?: any
  /** Send a ping this often, ms (default 20 000). */
  pingInterval?: number
  /** Declare the connection dead when nothing arrived for pingInterval + pingTimeout, ms (default 10 000). */
  pingTimeout?: number
  /** Reconnect backoff: first step and cap, ms (defaults 300 and 10 000); full jitter. */
  reconnectDelay?: number
  maxReconnectDelay?: number
}

export interface RealtimeEvents extends Record<string, unknown[]> {
  connected: []
  disconnected: [{ code?: number; reason?: string }]
  /** Every subscription and channel is back after a reconnect; `ms` since the connection was lost. */
  resumed: [{ ms: number }]
  /** A subscription missed changes beyond the log's retention and was reloaded; the difference was delivered. */
  resynced: [{ subscription: string; added: number; modified: number; removed: number }]
  error: [BaasError]
}

type Target = { collection: string } | { bucket: string }

interface Sub {
  id: string
  target: Target
  o: SubscribeOptions
  cb: (c: Change) => void
  /** The last seq delivered (null before the first `subscribed`). */
  seq: number | null
  /** What the subscriber currently sees: key → doc (documents by id, objects by path). */
  known: Map<string, any>
  /** Waiting for the server's snapshot / a full reload. */
  mode: 'fresh' | 'snapshot' | 'resync' | 'since'
  pending: boolean
}

/** The id of our `auth` messages: the server echoes it in `authenticated`, or in the `error` refusing it. */
const AUTH_ID = 'auth'
const keyOf = (d: any): string => d.id ?? d.path
const stamp = (d: any): string => (d.version !== undefined ? String(d.version) : `${d.etag}|${d.updated_at}`)

export class Realtime {
  private ws: any = null
  private gen = 0
  private subs = new Map<string, Sub>()
  private chans = new Map<string, Channel>()
  private n = 0
  private attempt = 0
  private timer: any
  private pinger: any
  private lastRx = 0
  private lostAt = 0
  private up = false
  private wanted = false
  private explicit = false
  private token: string | null = null
  private user: string | null | undefined
  /** Subscriptions and joins wait for `authenticated` when the token was refreshed while connecting. */
  private authWait = false
  readonly events = new Emitter<RealtimeEvents>()

  constructor(
    private http: Http,
    private auth: Auth,
    private opts: RealtimeOptions = {},
  ) {
    auth.onAuthStateChange((event, s) => {
      const user = s?.user.id ?? null
      if (event === 'INITIAL_SESSION') this.user = user
      else if (event === 'TOKEN_REFRESHED' && user === this.user) {
        if (this.token) this.send({ op: 'auth', id: AUTH_ID, token: (this.token = s!.access) })
      }
      else if (user !== this.user) {
        // Another principal: reconnect, and reload every subscription (what it may see changed).
        this.user = user
        for (const sub of this.subs.values()) if (sub.seq !== null) sub.mode = 'resync'
        if (this.ws) this.drop(undefined, 'credentials changed', true)
      }
    })
  }

  on<K extends keyof RealtimeEvents>(event: K, cb: (...a: RealtimeEvents[K]) => void): () => void {
    return this.events.on(event, cb)
  }

  get connected(): boolean {
    return this.ws?.readyState === 1
  }

  /** Open the connection now (it also opens on the first subscription or channel join). */
  connect(): void {
    this.explicit = this.wanted = true
    this.open()
  }

  /** Close the connection and stop reconnecting; subscriptions stay registered for a later connect(). */
  disconnect(): void {
    this.explicit = this.wanted = false
    clearTimeout(this.timer)
    if (this.ws) this.drop(1000, 'client disconnect', false)
  }

  channel(name: string): Channel {
    let c = this.chans.get(name)
    if (!c) this.chans.set(name, (c = new Channel(this, name)))
    return c
  }

  subscribe(target: Target, o: SubscribeOptions, cb: (c: Change) => void): () => void {
    this.wsClass()
    const sub: Sub = { id: `s${++this.n}`, target, o, cb, seq: null, known: new Map(), mode: o.snapshot ? 'snapshot' : 'fresh', pending: false }
    this.subs.set(sub.id, sub)
    this.wanted = true
    if (this.connected) this.sendSub(sub)
    else this.open()
    return () => {
      if (this.subs.delete(sub.id)) this.send({ op: 'unsubscribe', id: sub.id })
      this.idle()
    }
  }

  /** @internal Nothing left to keep the connection for: close it (unless connect() was called). */
  idle(): void {
    if (!this.explicit && !this.subs.size && ![...this.chans.values()].some((c) => c.isJoined)) this.disconnect()
  }

  private wsClass(): any {
    const WS = this.opts.WebSocket ?? (globalThis as any).WebSocket
    if (!WS) throw new BaasError('unavailable', 'No WebSocket implementation: pass options.WebSocket (for example the `ws` package on Node 20).')
    return WS
  }

  /** @internal */
  send(m: object): boolean {
    if (!this.connected) return false
    this.ws.send(JSON.stringify(m))
    return true
  }

  /** @internal */
  ensure(): void {
    this.wsClass()
    this.wanted = true
    this.open()
  }

  private async open(): Promise<void> {
    if (this.ws || !this.wanted) return
    clearTimeout(this.timer)
    const gen = ++this.gen
    const WS = this.wsClass()
    this.ws = {} // placeholder: connecting
    let token: string | null = null
    try {
      token = await this.auth.token()
    } catch {}
    if (gen !== this.gen) return
    this.token = token
    const url = this.http.base.replace(/^http/, 'ws') + '/v1/realtime' + (token ? `?token=${encodeURIComponent(token)}` : '')
    const ws = (this.ws = new WS(url))
    ws.onopen = () => {
      if (gen !== this.gen) return
      clearTimeout(this.pinger)
      this.up = true
      this.lastRx = Date.now()
      const every = this.opts.pingInterval ?? 20_000
      this.pinger = unref(
        setInterval(() => {
          if (Date.now() - this.lastRx > this.deadAfter()) this.drop(undefined, 'ping timeout', true)
          else this.send({ op: 'ping' })
        }, every),
      )
      const now = this.auth.session?.access
      this.events.emit('connected')
      // Refreshed while connecting: subscribe under the new token once the server has it in force.
      this.authWait = !!(token && now && now !== token && !this.auth.serviceKey)
      if (this.authWait) this.send({ op: 'auth', id: AUTH_ID, token: (this.token = now!) })
      else this.resubscribe()
    }
    ws.onmessage = (e: any) => {
      if (gen !== this.gen) return
      this.lastRx = Date.now()
      let m: any
      try {
        m = JSON.parse(String(e.data))
      } catch {
        return
      }
      this.handle(m)
    }
    ws.onclose = (e: any) => gen === this.gen && this.drop(e?.code, e?.reason, true)
    // Some implementations report a failed handshake with `error` alone.
    ws.onerror = () => gen === this.gen && this.drop(undefined, 'error', true)
    // A handshake that hangs counts as a failure too.
    this.pinger = unref(setTimeout(() => gen === this.gen && !this.connected && this.drop(undefined, 'connect timeout', true), this.deadAfter()))
  }

  private resubscribe(): void {
    this.authWait = false
    for (const sub of this.subs.values()) this.sendSub(sub)
    for (const c of this.chans.values()) c._rejoin()
    this.checkResumed()
  }

  private deadAfter(): number {
    return (this.opts.pingInterval ?? 20_000) + (this.opts.pingTimeout ?? 10_000)
  }

  /** The connection is gone (or must go): forget it, and come back with backoff. */
  private drop(code: number | undefined, reason: string | undefined, again: boolean): void {
    const ws = this.ws
    this.gen++
    this.ws = null
    clearInterval(this.pinger)
    clearTimeout(this.pinger)
    if (ws?.close) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null
      try {
        ws.close()
      } catch {}
    }
    if (!this.lostAt) this.lostAt = Date.now()
    for (const sub of this.subs.values()) sub.pending = false
    for (const c of this.chans.values()) c._lost()
    if (this.up) this.events.emit('disconnected', { code, reason }) // once per outage, not per failed attempt
    this.up = false
    if (!again || !this.wanted) return
    const delay = backoff(this.attempt++, this.opts.reconnectDelay ?? 300, this.opts.maxReconnectDelay ?? 10_000)
    this.timer = setTimeout(async () => {
      // Closed for its credentials (4001): refresh first; a refused refresh signs out (then anonymous).
      if (code === 4001 && !this.auth.serviceKey) await this.auth.refresh().catch(() => {})
      this.open()
    }, delay)
  }

  private sendSub(sub: Sub): void {
    const m: any = { op: 'subscribe', id: sub.id, ...sub.target }
    if (sub.o.filter !== undefined) m.filter = sub.o.filter
    if (sub.mode === 'since' && sub.seq !== null) m.since = sub.seq
    else if (sub.mode === 'snapshot' || sub.mode === 'resync') m.snapshot = true // collections and buckets alike
    sub.pending = true
    if (!this.authWait) this.send(m)
  }

  private checkResumed(): void {
    if (!this.lostAt || !this.connected) return
    for (const s of this.subs.values()) if (s.pending) return
    for (const c of this.chans.values()) if (c._pending) return
    this.events.emit('resumed', { ms: Date.now() - this.lostAt })
    this.lostAt = 0
    this.attempt = 0
  }

  private deliver(sub: Sub, c: Change): void {
    const k = keyOf(c.doc)
    if (c.type === 'removed') sub.known.delete(k)
    else sub.known.set(k, c.doc)
    sub.cb(c)
  }

  private handle(m: any): void {
    const sub = m.id ? this.subs.get(m.id) : undefined
    switch (m.op) {
      case 'subscribed':
        if (!sub) return
        if (sub.mode === 'fresh' || sub.mode === 'since') {
          sub.seq = m.seq
          sub.mode = 'since'
          sub.pending = false
        }
        return this.checkResumed()
      case 'snapshot':
        if (sub) this.applySnapshot(sub, m.docs, m.seq)
        return this.checkResumed()
      case 'change':
        if (!sub || sub.seq === null || m.seq <= sub.seq) return // a duplicate: already delivered
        sub.seq = m.seq
        return this.deliver(sub, { type: m.type, doc: m.doc, seq: m.seq })
      case 'authenticated':
        if (this.authWait) this.resubscribe()
        return
      case 'presence':
      case 'broadcast':
        return this.chans.get(m.channel)?._handle(m)
      case 'error': {
        const err = new BaasError(m.code, m.message ?? m.code, 0, m.details ?? {})
        // A refused token (another user, already expired): reconnect, which takes a fresh one.
        if (m.id === AUTH_ID) return this.drop(undefined, `auth refused: ${m.code}`, true)
        if (sub) {
          if (m.code === 'resync_required') {
            sub.mode = 'resync'
            return this.sendSub(sub)
          }
          this.subs.delete(sub.id)
          sub.o.onError?.(err)
          return this.checkResumed()
        }
        const chan = this.chans.get(m.channel ?? String(m.id ?? '').slice(2))
        if (chan && (m.channel || String(m.id).startsWith('j:'))) return chan._error(err)
        this.events.emit('error', err)
      }
    }
  }

  /** Report what changed between what the subscriber saw and the fresh state. */
  private applySnapshot(sub: Sub, docs: any[], seq: number): void {
    const resync = sub.mode === 'resync'
    const before = sub.known
    const counts = { added: 0, modified: 0, removed: 0 }
    sub.known = new Map()
    sub.mode = 'since'
    sub.seq = seq
    sub.pending = false
    for (const d of docs) {
      const old = before.get(keyOf(d))
      const type = !old ? 'added' : stamp(old) !== stamp(d) ? 'modified' : null
      sub.known.set(keyOf(d), d)
      if (type) {
        counts[type]++
        sub.cb({ type, doc: d, seq, ...(resync ? { resync } : { snapshot: true }) })
      }
    }
    for (const [k, d] of before)
      if (!sub.known.has(k)) {
        counts.removed++
        sub.cb({ type: 'removed', doc: d, seq, resync: true })
      }
    if (resync) this.events.emit('resynced', { subscription: sub.id, ...counts })
  }
}

export interface Member {
  id: string
  user: string | null
  state: JsonObject
}

export interface PresenceEvent {
  joins: Member[]
  leaves: Member[]
  /** Everyone else in the channel now. */
  members: Member[]
}

/** A broadcast and presence channel. Joins again by itself after a reconnect. */
export class Channel {
  private joined = false
  private state: JsonObject | undefined
  private members = new Map<string, Member>()
  private waiting: Array<[() => void, (e: BaasError) => void]> = []
  private queue: object[] = []
  private ev = new Emitter<{ broadcast: [{ event: string; payload: unknown; from: { id: string; user: string | null } }]; presence: [PresenceEvent]; error: [BaasError] }>()
  /** @internal */
  _pending = false

  constructor(
    private rt: Realtime,
    readonly name: string,
  ) {}

  /** Join, publishing `presence` to the others. Resolves once the server has admitted us. */
  join(presence?: JsonObject): Promise<void> {
    this.joined = true
    this.state = presence
    const p = new Promise<void>((res, rej) => this.waiting.push([res, rej]))
    if (!this._rejoin()) this.rt.ensure()
    return p
  }

  leave(): void {
    this.joined = false
    this._pending = false
    this.rt.send({ op: 'leave', channel: this.name })
    this.members.clear()
    this.rt.idle()
  }

  get isJoined(): boolean {
    return this.joined
  }

  /** Send to the others in the channel (queued while reconnecting). */
  broadcast(event: string, payload?: unknown): void {
    const m = { op: 'broadcast', channel: this.name, event, payload }
    if (this._pending || !this.rt.send(m)) this.queue.push(m)
  }

  on(kind: 'broadcast', cb: (m: { event: string; payload: any; from: { id: string; user: string | null } }) => void): () => void
  on(kind: 'presence', cb: (p: PresenceEvent) => void): () => void
  on(kind: 'error', cb: (e: BaasError) => void): () => void
  on(kind: any, cb: any): () => void {
    return this.ev.on(kind, cb)
  }

  presence(): Member[] {
    return [...this.members.values()]
  }

  /** @internal */
  _rejoin(): boolean {
    if (!this.joined) return false
    this._pending = this.rt.send({ op: 'join', id: `j:${this.name}`, channel: this.name, presence: this.state ?? {} })
    return this._pending
  }

  /** @internal */
  _lost(): void {
    this._pending = false
  }

  /** @internal */
  _handle(m: any): void {
    if (m.op === 'broadcast') return this.ev.emit('broadcast', { event: m.event, payload: m.payload, from: m.from })
    let joins: Member[] = m.joins
    let leaves: Member[] = m.leaves
    if (this._pending) {
      // The full state after a (re)join: report the difference from what we knew.
      this._pending = false
      const now = new Map(joins.map((x) => [x.id, x]))
      joins = joins.filter((x) => !this.members.has(x.id))
      leaves = [...this.members.values()].filter((x) => !now.has(x.id))
      this.members = now
      for (const [res] of this.waiting.splice(0)) res()
      for (const q of this.queue.splice(0)) this.rt.send(q)
      ;(this.rt as any).checkResumed()
    } else {
      for (const x of joins) this.members.set(x.id, x)
      for (const x of leaves) this.members.delete(x.id)
    }
    if (joins.length || leaves.length) this.ev.emit('presence', { joins, leaves, members: this.presence() })
  }

  /** @internal */
  _error(e: BaasError): void {
    if (this._pending) {
      this._pending = false
      this.joined = false
      for (const [, rej] of this.waiting.splice(0)) rej(e)
      ;(this.rt as any).checkResumed()
    }
    this.ev.emit('error', e)
  }
}

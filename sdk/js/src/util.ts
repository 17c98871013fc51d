import { fail } from './errors.js'

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type JsonObject = { [key: string]: Json }

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done)
  })

/** Full-jitter exponential backoff: a random delay in [0, min(max, base * 2^attempt)]. */
export const backoff = (attempt: number, base: number, max: number): number =>
  Math.random() * Math.min(max, base * 2 ** attempt)

export const uuid = (): string => {
  const c = (globalThis as any).crypto
  if (c?.randomUUID) return c.randomUUID()
  let s = ''
  for (let i = 0; i < 32; i++) s += ((Math.random() * 16) | 0).toString(16)
  return s
}

/** Don't keep a Node process alive for a background timer. */
export const unref = <T>(t: T): T => {
  ;(t as any)?.unref?.()
  return t
}

/** Each segment percent-encoded. `.` and `..` are refused here: URL parsing would resolve them into another path. */
export const encodePath = (path: string): string =>
  path
    .split('/')
    .map((s) => (s === '.' || s === '..' ? fail('invalid_path', 'Object paths cannot have "." or ".." segments.', { reason: 'dot_segment' }) : encodeURIComponent(s)))
    .join('/')

export type Listener<A extends unknown[]> = (...args: A) => void

/** A tiny event emitter: `on` returns the unsubscribe function. */
export class Emitter<E extends Record<string, unknown[]>> {
  private map = new Map<keyof E, Set<Listener<any>>>()
  on<K extends keyof E>(event: K, cb: Listener<E[K]>): () => void {
    let set = this.map.get(event)
    if (!set) this.map.set(event, (set = new Set()))
    set.add(cb)
    return () => void set!.delete(cb)
  }
  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    for (const cb of [...(this.map.get(event) ?? [])]) {
      try {
        cb(...args)
      } catch (e) {
        setTimeout(() => {
          throw e
        })
      }
    }
  }
}

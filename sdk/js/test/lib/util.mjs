import { createClient } from '../../dist/index.js'
import { admin } from '../../dist/admin.js'
import { sharedServer } from './server.mjs'

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
export const uniq = (p = 'x') => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`
export const email = () => `${uniq('u')}@example.com`
export const PASSWORD = 'correct horse battery staple'

export async function waitFor(check, { timeout = 30_000, every = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(every)
  }
}

/** The shared server, a service client and its admin API. */
export async function setup() {
  const s = await sharedServer()
  const service = createClient(s.url, { serviceKey: s.key })
  return { ...s, service, admin: admin(service) }
}

export const OPEN_RULES = { read: 'auth != null', create: 'auth != null', update: 'auth != null', delete: 'auth != null' }

/** A counting fetch: how many requests went to each path. */
export function countingFetch() {
  const counts = {}
  const f = (url, init) => {
    const path = new URL(url).pathname
    counts[path] = (counts[path] ?? 0) + 1
    return fetch(url, init)
  }
  f.counts = counts
  return f
}

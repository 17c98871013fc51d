import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, BaasError } from '../dist/index.js'
import { setup, email, PASSWORD, sleep, countingFetch } from './lib/util.mjs'

const env = await setup()

/** An AsyncStorage-like store on disk: what survives an app restart. */
function fileStorage(file) {
  return {
    async getItem(k) {
      await sleep(1)
      return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8'))[k] ?? null) : null
    },
    async setItem(k, v) {
      const all = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}
      all[k] = v
      writeFileSync(file, JSON.stringify(all))
    },
    async removeItem(k) {
      const all = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}
      delete all[k]
      writeFileSync(file, JSON.stringify(all))
    },
  }
}

/** A lock shared by several client instances in this process (what Web Locks gives tabs). */
function sharedLock() {
  const tails = new Map()
  return (name, fn) => {
    const prev = tails.get(name) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    tails.set(name, run.catch(() => {}))
    return run
  }
}

test('sign up, get and update the user, events, sign out', async () => {
  const app = createClient(env.url)
  const events = []
  const off = app.auth.onAuthStateChange((e, s) => events.push([e, s?.user.email ?? null]))
  const address = email()
  const s = await app.auth.signUp({ email: address, password: PASSWORD, data: { name: 'Ada' } })
  assert.equal(s.user.email, address)
  assert.deepEqual((await app.auth.getUser()).data, { name: 'Ada' })
  const u = await app.auth.updateUser({ data: { name: 'Ada L.' } })
  assert.deepEqual(u.data, { name: 'Ada L.' })
  await app.auth.signOut()
  assert.equal(app.auth.getSession(), null)
  await assert.rejects(app.auth.getUser(), (e) => e instanceof BaasError && e.status === 401)
  // The old refresh token is dead on the server too.
  const again = await app.auth.signIn({ email: address, password: PASSWORD })
  assert.equal(again.user.id, s.user.id)
  off()
  await app.auth.signOut({ all: true })
  assert.deepEqual(
    events.map((e) => e[0]),
    ['INITIAL_SESSION', 'SIGNED_IN', 'USER_UPDATED', 'SIGNED_OUT', 'SIGNED_IN'],
  )
  const anon = createClient(env.url)
  const a = await anon.auth.signInAnonymously()
  assert.equal(a.user.is_anonymous, true)
  anon.close()
  app.close()
})

test('the session survives a restart of the app (async storage), refreshed tokens included', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdk-storage-'))
  const file = join(dir, 'store.json')
  const first = createClient(env.url, { storage: fileStorage(file) })
  const s = await first.auth.signUp({ email: email(), password: PASSWORD })
  const rotated = await first.auth.refresh() // the stored refresh token must be the rotated one
  assert.notEqual(rotated.refresh, s.refresh)
  first.close()
  // "restart": a new client over the same storage, no sign-in
  const second = createClient(env.url, { storage: fileStorage(file) })
  const initial = await new Promise((r) => second.auth.onAuthStateChange((e, sess) => e === 'INITIAL_SESSION' && r(sess)))
  assert.equal(initial.user.id, s.user.id)
  assert.equal((await second.auth.getUser()).id, s.user.id)
  // Its refresh token is current: a refresh works (a stale one would revoke the session).
  await second.auth.refresh()
  assert.equal((await second.auth.getUser()).id, s.user.id)
  second.close()
  // And SecureStore-shaped storage works too.
  const m = new Map()
  const secure = { getItemAsync: async (k) => m.get(k) ?? null, setItemAsync: async (k, v) => void m.set(k, v), deleteItemAsync: async (k) => void m.delete(k) }
  const third = createClient(env.url, { storage: secure })
  await third.auth.signInAnonymously()
  const fourth = createClient(env.url, { storage: secure })
  assert.equal((await fourth.auth.getUser()).id, third.auth.getSession().user.id)
  third.close()
  fourth.close()
  rmSync(dir, { recursive: true, force: true })
})

test('concurrent calls at token expiry produce exactly one refresh', async (t) => {
  // Test servers issue 30 s access tokens. Three clients sign in now and all fire 20 calls at once
  // after expiry: one refreshes before sending (the token's exp), one only learns it from the
  // server's 401 token_expired, and two instances sharing storage and a lock (two tabs).
  const mk = (o = {}) => {
    const f = countingFetch()
    return { f, c: createClient(env.url, { fetch: f, autoRefresh: false, ...o }) }
  }
  const proactive = mk()
  const reactive = mk({ refreshMargin: -10 }) // sends the expired token: the server says token_expired
  const store = new Map()
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v), removeItem: (k) => void store.delete(k) }
  const lock = sharedLock()
  const tabA = mk({ storage, lock })
  await proactive.c.auth.signUp({ email: email(), password: PASSWORD })
  await reactive.c.auth.signUp({ email: email(), password: PASSWORD })
  await tabA.c.auth.signUp({ email: email(), password: PASSWORD })
  const tabB = mk({ storage, lock })
  await tabB.c.auth.ready
  const exp = Math.max(...[proactive, reactive, tabA].map((x) => x.c.auth.getSession().expiresAt))
  t.diagnostic(`waiting ${((exp - Date.now()) / 1000).toFixed(1)} s for the access tokens to expire`)
  await sleep(exp - Date.now() + 1000)
  const REFRESH = '/v1/auth/token/refresh'
  for (const x of [proactive, reactive]) {
    const users = await Promise.all(Array.from({ length: 20 }, () => x.c.auth.getUser()))
    assert.equal(new Set(users.map((u) => u.id)).size, 1)
    assert.equal(x.f.counts[REFRESH], 1, 'exactly one refresh')
  }
  assert.equal(reactive.f.counts['/v1/auth/user'], 40, 'the 20 calls refused as token_expired were each retried once')
  const both = await Promise.all([...Array.from({ length: 10 }, () => tabA.c.auth.getUser()), ...Array.from({ length: 10 }, () => tabB.c.auth.getUser())])
  assert.equal(both.length, 20)
  assert.equal((tabA.f.counts[REFRESH] ?? 0) + (tabB.f.counts[REFRESH] ?? 0), 1, 'one refresh across both instances')
  assert.equal(tabA.c.auth.getSession().refresh, tabB.c.auth.getSession().refresh)
  // Nobody was logged out: every session still refreshes (a reused token would have revoked it).
  for (const x of [proactive, reactive, tabA, tabB]) await x.c.auth.refresh()
  for (const x of [proactive, reactive, tabA, tabB]) x.c.close()
})

test('a revoked session signs the client out (SIGNED_OUT), other failures keep it', async () => {
  const app = createClient(env.url)
  const address = email()
  await app.auth.signUp({ email: address, password: PASSWORD })
  const other = createClient(env.url)
  await other.auth.signIn({ email: address, password: PASSWORD })
  const events = []
  app.auth.onAuthStateChange((e) => events.push(e))
  await other.auth.signOut({ all: true }) // ends every session of the user, app's too
  await assert.rejects(app.auth.getUser(), (e) => e.status === 401)
  assert.equal(app.auth.getSession(), null)
  assert.ok(events.includes('SIGNED_OUT'))
  app.close()
})

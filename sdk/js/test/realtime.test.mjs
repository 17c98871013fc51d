import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { createClient, filter } from '../dist/index.js'
import { startProxy } from './lib/proxy.mjs'
import { prepareDataDir, pruneEventLog, startServer } from './lib/server.mjs'
import { setup, uniq, email, PASSWORD, sleep, waitFor } from './lib/util.mjs'

const env = await setup()

test('channels: join with presence, broadcast, rejoin after a reconnect, refusal', async () => {
  const proxy = await startProxy(new URL(env.url).port)
  after(() => proxy.close())
  const a = createClient(proxy.url, { reconnectDelay: 50, maxReconnectDelay: 500 })
  const b = createClient(env.url)
  after(() => (a.close(), b.close()))
  const ua = await a.auth.signUp({ email: email(), password: PASSWORD })
  await b.auth.signUp({ email: email(), password: PASSWORD })
  const room = uniq('room')
  const ca = a.realtime.channel(room)
  const cb = b.realtime.channel(room)
  const presenceA = []
  const heardB = []
  ca.on('presence', (p) => presenceA.push(p))
  cb.on('broadcast', (m) => heardB.push(m))
  const connected = []
  a.realtime.on('connected', () => connected.push(Date.now()))
  await ca.join({ name: 'ada' })
  await cb.join({ name: 'bob' })
  assert.deepEqual(cb.presence().map((m) => m.state), [{ name: 'ada' }])
  await waitFor(() => presenceA.some((p) => p.joins.some((m) => m.state.name === 'bob')), { what: 'bob in ada\'s presence' })
  ca.broadcast('hello', { n: 1 })
  await waitFor(() => heardB.length === 1, { what: 'the broadcast' })
  assert.deepEqual(heardB[0].payload, { n: 1 })
  assert.equal(heardB[0].from.user, ua.user.id)

  // A dropped connection: the channel is joined again by itself, and broadcasts flow again.
  const resumed = new Promise((r) => a.realtime.on('resumed', r))
  proxy.cut()
  await resumed
  assert.equal(connected.length, 2)
  await waitFor(() => cb.presence().length === 1 && cb.presence()[0].state.name === 'ada', { what: 'ada back in bob\'s view' })
  ca.broadcast('again', { n: 2 })
  await waitFor(() => heardB.some((m) => m.event === 'again'), { what: 'the broadcast after the reconnect' })

  // The default channel rule admits full accounts only: an anonymous account is refused.
  const anon = createClient(env.url)
  after(() => anon.close())
  await anon.auth.signInAnonymously()
  await assert.rejects(anon.realtime.channel(room).join(), { code: 'permission_denied' })
  ca.leave()
  await waitFor(() => cb.presence().length === 0, { what: 'ada\'s leave' })
})

test('subscribe with snapshot and filter; unsubscribe stops changes', async () => {
  const col = uniq('live_')
  await env.admin.collections.create({ name: col, rules: { read: 'auth != null' } })
  const docs = env.service.db.collection(col)
  await docs.create({ team: 'red', n: 1 }, { id: 'r1' })
  await docs.create({ team: 'blue', n: 2 }, { id: 'b1' })
  const app = createClient(env.url)
  after(() => app.close())
  await app.auth.signUp({ email: email(), password: PASSWORD })
  const seen = []
  const off = app.db.collection(col).subscribe({ snapshot: true, filter: filter`team == ${'red'}` }, (c) => seen.push(c))
  await waitFor(() => seen.length === 1, { what: 'the snapshot' })
  assert.equal(seen[0].snapshot, true)
  assert.equal(seen[0].doc.id, 'r1')
  await docs.update('r1', { data: { team: 'blue' } }) // stops matching: removed
  await docs.create({ team: 'red' }, { id: 'r2' })
  await waitFor(() => seen.length === 3, { what: 'two changes' })
  assert.deepEqual(seen.slice(1).map((c) => [c.type, c.doc.id]), [['removed', 'r1'], ['added', 'r2']])
  off()
  await docs.create({ team: 'red' }, { id: 'r3' })
  await sleep(800)
  assert.equal(seen.length, 3)
  const errors = []
  app.db.collection('no_such_collection').subscribe({ onError: (e) => errors.push(e) }, () => {})
  await waitFor(() => errors.length === 1, { what: 'the refusal' })
  assert.equal(errors[0].code, 'not_found')
})

test('resync_required: a fresh snapshot, and exactly the difference is reported (collection and bucket)', { timeout: 180_000 }, async () => {
  // A server of our own: pruning the event log would disturb the other tests.
  const { dir } = await prepareDataDir(env.template)
  const server = await startServer(dir)
  after(async () => {
    await server.kill()
    if (!process.env.BAAS_TEST_KEEP) rmSync(dir, { recursive: true, force: true })
  })
  const proxy = await startProxy(server.port)
  after(() => proxy.close())
  const svc = createClient(server.url, { serviceKey: env.key })
  after(() => svc.close())
  const col = uniq('rs_')
  const bucketName = uniq('rs-')
  await svc.request({ method: 'POST', path: '/v1/db/collections', json: { name: col, rules: { read: 'auth != null' } } })
  await svc.request({ method: 'POST', path: '/v1/storage/buckets', json: { name: bucketName, rules: { read: 'auth != null' } } })
  const docs = svc.db.collection(col)
  const files = svc.storage.bucket(bucketName)
  for (const id of ['a', 'b', 'c']) await docs.create({ v: 1 }, { id })
  for (const p of ['a', 'b', 'c']) await files.upload(p, `v1 ${p}`)

  const app = createClient(proxy.url, { reconnectDelay: 50, maxReconnectDelay: 300 })
  after(() => app.close())
  await app.auth.signUp({ email: email(), password: PASSWORD })
  const view = { docs: new Map(), files: new Map() }
  const changes = { docs: [], files: [] }
  const apply = (kind) => (c) => {
    changes[kind].push(c)
    const key = c.doc.id ?? c.doc.path
    if (c.type === 'removed') {
      assert.ok(view[kind].has(key), `removed ${key} was seen`)
      view[kind].delete(key)
    } else {
      assert.equal(view[kind].has(key), c.type === 'modified', `${c.type} ${key}`)
      view[kind].set(key, c.doc)
    }
  }
  app.db.collection(col).subscribe({ snapshot: true }, apply('docs'))
  app.storage.bucket(bucketName).subscribe({ snapshot: true }, apply('files'))
  await waitFor(() => view.docs.size === 3 && view.files.size === 3, { what: 'both snapshots' })
  const resynced = []
  app.realtime.on('resynced', (r) => resynced.push(r))

  // Away long enough for retention to pass: changes, then the log pruned behind them.
  proxy.block()
  proxy.cut()
  await docs.update('b', { data: { v: 2 } })
  await docs.delete('c')
  await docs.create({ v: 1 }, { id: 'd' })
  await files.upload('b', 'v2 b')
  await files.remove('c')
  await files.upload('d', 'v1 d')
  assert.ok((await pruneEventLog(dir, 1)) > 0)
  proxy.block(false)
  await waitFor(() => resynced.length === 2, { what: 'both subscriptions to resync', timeout: 60_000 })
  for (const r of resynced) assert.deepEqual([r.added, r.modified, r.removed], [1, 1, 1])
  assert.deepEqual([...view.docs.keys()].sort(), ['a', 'b', 'd'])
  assert.equal(view.docs.get('b').data.v, 2)
  assert.deepEqual([...view.files.keys()].sort(), ['a', 'b', 'd'])
  // Live again, and nothing arrives twice.
  await docs.create({ v: 1 }, { id: 'e' })
  await files.upload('e', 'v1 e')
  await waitFor(() => view.docs.has('e') && view.files.has('e'), { what: 'live changes after the resync' })
  await sleep(500)
  assert.equal(changes.docs.length, 3 + 3 + 1)
  assert.equal(changes.files.length, 3 + 3 + 1)
})

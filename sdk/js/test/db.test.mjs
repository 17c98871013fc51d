import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createClient, filter, BaasError } from '../dist/index.js'
import { startProxy } from './lib/proxy.mjs'
import { setup, uniq, email, PASSWORD, OPEN_RULES } from './lib/util.mjs'

const env = await setup()

test('documents: create, get, set, update with ops, delete, ifVersion', async () => {
  const name = uniq('notes_')
  await env.admin.collections.create({ name, rules: OPEN_RULES })
  const app = createClient(env.url)
  await app.auth.signUp({ email: email(), password: PASSWORD })
  const notes = app.db.collection(name)
  const doc = await notes.create({ title: 'a', likes: 0 }, { id: 'first' })
  assert.equal(doc.id, 'first')
  assert.equal(doc.version, 1)
  assert.equal(doc.owner, app.auth.getSession().user.id)
  assert.deepEqual((await notes.get('first')).data, { title: 'a', likes: 0 })
  await assert.rejects(notes.create({ title: 'again' }, { id: 'first' }), (e) => e instanceof BaasError && e.code === 'conflict' && e.status === 409)
  const up = await notes.update('first', { data: { title: 'b' }, ops: { likes: { increment: 2 }, tags: { array_union: ['x'] } } }, { ifVersion: 1 })
  assert.equal(up.version, 2)
  assert.deepEqual(up.data, { title: 'b', likes: 2, tags: ['x'] })
  await assert.rejects(notes.update('first', { data: { title: 'c' } }, { ifVersion: 1 }), (e) => e.code === 'precondition_failed' && e.status === 412)
  const set = await notes.set('first', { title: 'replaced' }, { ifVersion: 2 })
  assert.deepEqual(set.data, { title: 'replaced' })
  await assert.rejects(notes.delete('first', { ifVersion: 1 }), { code: 'precondition_failed' })
  await notes.delete('first', { ifVersion: 3 })
  await assert.rejects(notes.get('first'), (e) => e instanceof BaasError && e.code === 'not_found' && e.status === 404 && typeof e.message === 'string')
  app.close()
})

test('documents: list with filter/order/cursor, count, async iteration over every page, batch', async () => {
  const name = uniq('items_')
  await env.admin.collections.create({ name, rules: OPEN_RULES })
  const items = env.service.db.collection(name)
  const ops = Array.from({ length: 25 }, (_, i) => ({ op: 'create', collection: name, id: `i${String(i).padStart(2, '0')}`, data: { n: i, even: i % 2 === 0 } }))
  const results = await env.service.db.batch(ops)
  assert.equal(results.length, 25)
  assert.equal(await items.count(), 25)
  assert.equal(await items.count({ filter: filter`even == ${true}` }), 13)
  const first = await items.list({ order: '-n', limit: 10 })
  assert.equal(first.items.length, 10)
  assert.equal(first.items[0].data.n, 24)
  assert.ok(first.nextCursor)
  const second = await items.list({ order: ['-n'], limit: 10, cursor: first.nextCursor })
  assert.equal(second.items[0].data.n, 14)
  const all = []
  for await (const d of items.iterate({ order: 'n', limit: 7 })) all.push(d.data.n)
  assert.deepEqual(all, Array.from({ length: 25 }, (_, i) => i))
  const viaSymbol = []
  for await (const d of items) viaSymbol.push(d.id)
  assert.equal(viaSymbol.length, 25)
  // all or nothing: a stale if_version fails the whole batch
  await assert.rejects(
    env.service.db.batch([
      { op: 'update', collection: name, id: 'i00', data: { n: 100 } },
      { op: 'delete', collection: name, id: 'i01', ifVersion: 7 },
    ]),
    { code: 'precondition_failed' },
  )
  assert.equal((await items.get('i00')).data.n, 0)
})

test('filter helper: values are always literals, so input cannot change the expression', async () => {
  const name = uniq('f_')
  await env.admin.collections.create({ name, rules: OPEN_RULES })
  const c = env.service.db.collection(name)
  await c.create({ owner: 'alice', tag: 'a"b\\c' })
  await c.create({ owner: 'bob', tag: 'z' })
  const hostile = 'nobody" || owner != "x'
  assert.equal(filter`owner == ${hostile}`, 'owner == "nobody\\" || owner != \\"x"')
  assert.equal(await c.count({ filter: filter`owner == ${hostile}` }), 0)
  assert.equal(await c.count({ filter: filter`tag == ${'a"b\\c'}` }), 1)
  assert.equal(await c.count({ filter: filter`owner in ${['alice', 'bob', "o'neil"]} && tag != ${null}` }), 2)
  assert.equal(filter`n > ${-1.5e-7} && d < ${new Date(0)}`, 'n > -1.5e-7 && d < "1970-01-01T00:00:00.000Z"')
  assert.throws(() => filter`x == ${{ a: 1 }}`, (e) => e instanceof BaasError && e.code === 'invalid_argument')
  assert.throws(() => filter`x == ${NaN}`, { code: 'invalid_argument' })
  await assert.rejects(c.list({ filter: 'owner ==' }), (e) => e.code === 'invalid_filter' && e.status === 400)
})

test('a create whose answer is lost is retried with its Idempotency-Key and written once', async () => {
  const name = uniq('idem_')
  await env.admin.collections.create({ name, rules: OPEN_RULES })
  const proxy = await startProxy(new URL(env.url).port)
  const seen = []
  const app = createClient(proxy.url, {
    serviceKey: env.key,
    retryDelay: 50,
    fetch: (url, init) => {
      seen.push([init?.method ?? 'GET', init?.headers?.['idempotency-key']])
      return fetch(url, init)
    },
  })
  proxy.loseNextAnswer()
  const doc = await app.db.collection(name).create({ once: true })
  assert.equal(seen.length, 2, 'one retry')
  assert.equal(seen[0][1], seen[1][1], 'the retry carries the same key')
  assert.ok(seen[0][1])
  assert.equal(await env.service.db.collection(name).count(), 1)
  assert.equal((await env.service.db.collection(name).get(doc.id)).data.once, true)
  // a PATCH with ops (not idempotent by nature) is not doubled either
  proxy.loseNextAnswer()
  await app.db.collection(name).update(doc.id, { ops: { n: { increment: 1 } } })
  assert.equal((await env.service.db.collection(name).get(doc.id)).data.n, 1)
  await proxy.close()
})

test('errors carry code, status, message and details', async () => {
  const app = createClient(env.url)
  await assert.rejects(app.auth.signIn({ email: email(), password: 'wrong password!' }), (e) => {
    assert.ok(e instanceof BaasError)
    assert.equal(e.code, 'not_authenticated')
    assert.equal(e.status, 401)
    assert.equal(typeof e.details, 'object')
    return true
  })
  const name = uniq('v_')
  await env.admin.collections.create({ name, rules: OPEN_RULES, schema: { type: 'object', properties: { n: { type: 'integer' } } } })
  await assert.rejects(env.service.db.collection(name).create({ n: 'x' }), (e) => e.code === 'validation_error' && Array.isArray(e.details.data))
  const offline = createClient('http://127.0.0.1:9', { retries: 1, retryDelay: 10 })
  await assert.rejects(offline.db.collection('x').get('y'), (e) => e instanceof BaasError && e.code === 'network_error' && e.status === 0)
})

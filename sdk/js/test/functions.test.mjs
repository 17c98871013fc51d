import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createClient, BaasError } from '../dist/index.js'
import { spawnBaas, stop } from './lib/server.mjs'
import { setup, uniq, email, PASSWORD, waitFor } from './lib/util.mjs'

const env = await setup()
const health = await (await fetch(`${env.url}/v1/health`)).json()

const SOURCE = `
from baas_runtime import on_http, BaasError

@on_http
def handle(event, ctx):
    payload = event["payload"] or {}
    if payload.get("fail"):
        raise BaasError("Nothing left", code="out_of_stock")
    return {"echo": payload, "user": (event["auth"] or {}).get("id")}
`

test('functions.invoke: result, async, the function\'s own error code', { skip: health.sandbox === 'unavailable' && 'no bubblewrap sandbox here', timeout: 180_000 }, async () => {
  const worker = spawnBaas(['worker', '--pool', 'threads', '--concurrency', '2'], env.dataDir, 'worker')
  after(() => stop(worker))
  const name = uniq('fn')
  await env.admin.functions.deploy({ name, files: { 'main.py': SOURCE }, invoke: 'authenticated' })
  const app = createClient(env.url)
  const s = await app.auth.signUp({ email: email(), password: PASSWORD })
  // A cold worker may not finish the first runs within the server's wait: it then answers 202
  // with the queued invocation and no result. Warm up until a run answers in time.
  const r = await waitFor(
    async () => {
      const r = await app.functions.invoke(name, { hello: 'world' }).catch((e) => (e.code === 'timeout' ? null : Promise.reject(e)))
      return r && r.invocation.status === 'succeeded' ? r : null
    },
    { timeout: 150_000, every: 500, what: 'an invoke answered with its result' },
  )
  assert.deepEqual(r.result, { echo: { hello: 'world' }, user: s.user.id })
  assert.equal(r.invocation.status, 'succeeded')
  await assert.rejects(app.functions.invoke(name, { fail: true }), (e) => e instanceof BaasError && e.code === 'out_of_stock' && e.message === 'Nothing left')
  const queued = await app.functions.invoke(name, { later: true }, { async: true })
  assert.ok(queued.invocation.id)
  const anonymous = createClient(env.url)
  await assert.rejects(anonymous.functions.invoke(name, {}), (e) => e instanceof BaasError && e.status === 401)
  app.close()
})

const WEBHOOK = `
from baas_runtime import HttpResponse, on_http

@on_http
def handle(event, ctx):
    if event["path"] == "/refuse":
        return HttpResponse("no", status=400, headers={"x-why": "test"})
    return HttpResponse(event["method"].encode() + b" " + event["path"].encode() + b" " + event["body"], status=201)
`

test('functions.http: any method and body to the webhook route, the handler\'s own answer back', { skip: health.sandbox === 'unavailable' && 'no bubblewrap sandbox here', timeout: 180_000 }, async () => {
  const worker = spawnBaas(['worker', '--pool', 'threads', '--concurrency', '2'], env.dataDir, 'worker')
  after(() => stop(worker))
  const name = uniq('fn')
  await env.admin.functions.deploy({ name, files: { 'main.py': WEBHOOK }, invoke: 'public' })
  const app = createClient(env.url)
  const answer = await waitFor(
    async () => {
      const a = await app.functions.http(name, 'hooks/a b', { method: 'PUT', body: new Uint8Array([0, 114, 97, 119]) })
      return a.status === 202 ? null : a
    },
    { timeout: 150_000, every: 500, what: 'a webhook answered in time' },
  )
  assert.equal(answer.status, 201)
  assert.deepEqual([...answer.body], [...new TextEncoder().encode('PUT /hooks/a b '), 0, 114, 97, 119])
  assert.ok(answer.headers.get('x-baas-invocation-id'))
  const refused = await app.functions.http(name, '/refuse', { json: { a: 1 } })
  assert.equal(refused.status, 400)
  assert.equal(refused.text(), 'no')
  assert.equal(refused.headers.get('x-why'), 'test')
  app.close()
})

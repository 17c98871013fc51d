import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createClient, BaasError } from '../dist/index.js'
import { setup, uniq, email, PASSWORD } from './lib/util.mjs'

const env = await setup()

test('upload reports monotonic progress ending at the size; download, range, list, signed URL, remove', async () => {
  const name = uniq('up-')
  await env.admin.buckets.create({ name, rules: { read: '$owner == auth.id', create: 'auth != null', update: '$owner == auth.id', delete: '$owner == auth.id' } })
  const app = createClient(env.url)
  await app.auth.signUp({ email: email(), password: PASSWORD })
  const bucket = app.storage.bucket(name)
  const size = 5 * 1024 * 1024 + 123
  const data = new Uint8Array(size)
  for (let i = 0; i < size; i++) data[i] = (i * 31) & 255
  const seen = []
  const info = await bucket.upload('dir/big file.bin', data, { onProgress: (p) => seen.push(p), metadata: { kind: 'test' } })
  assert.equal(info.size, size)
  assert.equal(info.path, 'dir/big file.bin')
  assert.deepEqual(info.metadata, { kind: 'test' })
  assert.ok(seen.length > 10, `progress events: ${seen.length}`)
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].loaded > seen[i - 1].loaded, 'strictly growing')
  assert.ok(seen.every((p) => p.total === size && p.loaded <= size))
  assert.equal(seen.at(-1).loaded, size)

  const whole = new Uint8Array(await (await bucket.download('dir/big file.bin')).arrayBuffer())
  assert.equal(whole.length, size)
  assert.equal(whole[size - 1], data[size - 1])
  const part = await bucket.download('dir/big file.bin', { range: [10, 19] })
  assert.equal(part.status, 206)
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), data.subarray(10, 20))

  await bucket.upload('dir/a.txt', 'hello', { contentType: 'text/plain' })
  await bucket.upload('other/b.txt', new TextEncoder().encode('b').buffer)
  await assert.rejects(bucket.upload('dir/a.txt', 'again', { upsert: false }), { code: 'precondition_failed', status: 412 })
  const first = await bucket.list({ prefix: 'dir/', limit: 1 })
  assert.equal(first.items.length, 1)
  const second = await bucket.list({ prefix: 'dir/', limit: 1, cursor: first.nextCursor })
  assert.deepEqual([first.items[0].path, second.items[0].path].sort(), ['dir/a.txt', 'dir/big file.bin'])
  const all = []
  for await (const o of bucket.iterate()) all.push(o.path)
  assert.equal(all.length, 3)

  const url = await bucket.signedUrl('dir/a.txt', 60)
  const plain = await fetch(url) // no credentials at all
  assert.equal(await plain.text(), 'hello')

  await bucket.remove('dir/a.txt')
  // (the owner's read rule no longer admits a missing object, so only the service role sees the 404)
  await assert.rejects(env.service.storage.bucket(name).download('dir/a.txt'), (e) => e instanceof BaasError && e.code === 'not_found' && e.status === 404)
  const stranger = createClient(env.url)
  await stranger.auth.signUp({ email: email(), password: PASSWORD })
  await assert.rejects(stranger.storage.bucket(name).download('other/b.txt'), { code: 'permission_denied', status: 403 })
  await assert.rejects(bucket.upload('../x', 'x'), { code: 'invalid_path' })
  app.close()
  stranger.close()
})

test('uploads through an XMLHttpRequest (browsers, React Native) report its upload events', async () => {
  // A minimal XMLHttpRequest over fetch, with the upload events a browser fires.
  class FakeXHR {
    upload = {}
    headers = {}
    open(method, url) {
      Object.assign(this, { method, url })
    }
    setRequestHeader(k, v) {
      this.headers[k] = v
    }
    getAllResponseHeaders() {
      return [...this.res.headers].map(([k, v]) => `${k}: ${v}`).join('\r\n')
    }
    async send(body) {
      const total = body.byteLength
      for (let loaded = 0; loaded < total; loaded = Math.min(total, loaded + 100_000)) this.upload.onprogress?.({ loaded, total })
      this.upload.onprogress?.({ loaded: total, total })
      this.res = await fetch(this.url, { method: this.method, headers: this.headers, body })
      this.status = this.res.status
      this.response = await this.res.arrayBuffer()
      this.onload()
    }
  }
  const name = uniq('xhr-')
  await env.admin.buckets.create({ name })
  const svc = createClient(env.url, { serviceKey: env.key, XMLHttpRequest: FakeXHR })
  const seen = []
  const info = await svc.storage.bucket(name).upload('x.bin', new Uint8Array(1_000_000), { onProgress: (p) => seen.push(p.loaded) })
  assert.equal(info.size, 1_000_000)
  assert.equal(seen.at(-1), 1_000_000)
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] > seen[i - 1])
})

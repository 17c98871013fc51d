// The headline: with writes flowing, 20 forced disconnects of the websocket — the server process
// killed (SIGKILL; the proxy sends reconnects to the other server, as a load balancer would), the
// proxy cutting every connection, and the proxy silently stopping (only the ping watchdog notices) —
// deliver every change exactly once and in order to a subscriber, for a collection and a bucket.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { createClient } from '../dist/index.js'
import { startProxy } from './lib/proxy.mjs'
import { startServer } from './lib/server.mjs'
import { setup, uniq, email, PASSWORD, sleep, waitFor } from './lib/util.mjs'

const env = await setup()
const DISCONNECTS = Number(process.env.BAAS_TEST_DISCONNECTS ?? 20)
/** One websocket round trip, so a standby server has loaded its realtime stack before it takes over. */
async function warm(server) {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/realtime?token=${env.key}`)
  await new Promise((res, rej) => {
    ws.onopen = () => ws.send(JSON.stringify({ op: 'subscribe', id: 'w', collection: 'warm_up_missing' }))
    ws.onmessage = () => res(ws.close())
    ws.onerror = rej
  })
  return server
}
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

test(`${DISCONNECTS} forced disconnects with writes flowing: every change exactly once, in order`, { timeout: 240_000 }, async (t) => {
  // Two realtime servers on the same database; the proxy sends new connections to one of them.
  const servers = await Promise.all([startServer(env.dataDir).then(warm), startServer(env.dataDir).then(warm)])
  after(() => Promise.all(servers.map((s) => s.kill())))
  let live = 0
  const proxy = await startProxy(servers[live].port)
  after(() => proxy.close())

  const col = uniq('feed_')
  const bucket = uniq('files-')
  await env.admin.collections.create({ name: col, rules: { read: 'auth != null' } })
  await env.admin.buckets.create({ name: bucket, rules: { read: 'auth != null' } })

  const app = createClient(proxy.url, { pingInterval: 1000, pingTimeout: 2500, reconnectDelay: 100, maxReconnectDelay: 1000 })
  after(() => app.close())
  await app.auth.signUp({ email: email(), password: PASSWORD })
  const got = { docs: [], objects: [], docSeqs: [], objSeqs: [] }
  const log = []
  let lost = 0
  let resumedCount = 0
  const resumes = []
  app.realtime.on('disconnected', () => {
    lost = lost || Date.now()
  })
  app.realtime.on('resumed', ({ ms }) => {
    resumes.push(ms)
    resumedCount++
    log.push([lost, Date.now()])
    lost = 0
  })
  app.db.collection(col).subscribe({}, (c) => {
    assert.equal(c.type, 'added')
    got.docs.push(c.doc.id)
    got.docSeqs.push(c.seq)
  })
  app.storage.bucket(bucket).subscribe({}, (c) => {
    got.objects.push(c.doc.path)
    got.objSeqs.push(c.seq)
  })
  // Both subscriptions are live once a marker of each arrives.
  const writer = createClient(env.url, { serviceKey: env.key })
  after(() => writer.close())
  await waitFor(
    async () => {
      await writer.db.collection(col).create({ marker: true }, { id: `m${Date.now()}` }).catch(() => {})
      await writer.storage.bucket(bucket).upload(`marker/${Date.now()}`, 'm')
      await sleep(400)
      return got.docs.length && got.objects.length
    },
    { what: 'the subscriptions to go live', timeout: 60_000 },
  )
  const docStart = got.docs.length
  const objStart = got.objects.length

  // Writes flow through the other server, sequentially, for the whole test.
  const written = { docs: [], objects: [], at: [] }
  let writing = true
  const writerDone = (async () => {
    for (let n = 0; writing; n++) {
      const d = await writer.db.collection(col).create({ n })
      written.docs.push(d.id)
      const o = await writer.storage.bucket(bucket).upload(`o/${String(n).padStart(6, '0')}`, `object ${n}`, { contentType: 'text/plain' })
      written.objects.push(o.path)
      written.at.push(Date.now())
    }
  })()

  const kinds = ['server-kill', 'proxy-cut', 'proxy-stall']
  const byKind = Object.fromEntries(kinds.map((k) => [k, []]))
  const fromFault = Object.fromEntries(kinds.map((k) => [k, []]))
  let restarting = Promise.resolve()
  for (let i = 0; i < DISCONNECTS; i++) {
    await sleep(700 + Math.random() * 600) // let changes flow on a healthy connection
    const kind = kinds[i % 3]
    const before = resumedCount
    if (kind === 'server-kill') await restarting // the standby must be up before the live one dies
    const faultAt = Date.now()
    let release = () => {}
    if (kind === 'server-kill') {
      const dying = servers[live]
      live = 1 - live
      proxy.setUpstream(servers[live].port)
      await dying.kill()
      restarting = startServer(env.dataDir, dying.port).then(warm).then((s) => {
        servers[servers.indexOf(dying)] = s
      })
    } else if (kind === 'proxy-cut') proxy.cut()
    else release = proxy.freeze()
    await waitFor(() => resumedCount > before, { timeout: 60_000, every: 20, what: `resume after ${kind} #${i + 1}` })
    release()
    byKind[kind].push(resumes[resumes.length - 1])
    fromFault[kind].push(Date.now() - faultAt)
  }
  await sleep(1000)
  writing = false
  await writerDone
  await restarting
  await waitFor(() => got.docs.length - docStart >= written.docs.length && got.objects.length - objStart >= written.objects.length, {
    timeout: 60_000,
    what: 'every written change to arrive',
  })
  await sleep(1500) // anything extra (a duplicate) would arrive now

  const docs = got.docs.slice(docStart)
  const objects = got.objects.slice(objStart)
  assert.deepEqual(docs, written.docs, 'documents: each exactly once, in write order')
  assert.deepEqual(objects, written.objects, 'objects: each exactly once, in write order')
  for (const seqs of [got.docSeqs, got.objSeqs]) for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], 'seq grows strictly')
  assert.equal(resumes.length, DISCONNECTS)

  // While the subscriber was away, how many writes committed (they arrived through `since`).
  const whileAway = written.at.filter((at) => log.some(([from, to]) => at >= from && at <= to)).length
  const figures = {
    disconnects: DISCONNECTS,
    delivered: docs.length + objects.length,
    expected: written.docs.length + written.objects.length,
    writesWhileDisconnected: whileAway * 2,
    reconnectToResumedMs: Object.fromEntries(
      [...kinds, 'all'].map((k) => {
        const xs = k === 'all' ? resumes : byKind[k]
        return [k, { n: xs.length, p50: pct(xs, 50), max: Math.max(...xs) }]
      }),
    ),
    // From the fault to resumed: includes noticing it (a stalled path: the ping watchdog, 1 s + 2.5 s here).
    faultToResumedMs: Object.fromEntries(kinds.map((k) => [k, { p50: pct(fromFault[k], 50), max: Math.max(...fromFault[k]) }])),
  }
  t.diagnostic(`figures ${JSON.stringify(figures)}`)
  if (process.env.BAAS_TEST_FIGURES) writeFileSync(process.env.BAAS_TEST_FIGURES, JSON.stringify(figures, null, 2))
})

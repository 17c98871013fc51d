// A TCP proxy the tests can break: cut every connection, or silently stop forwarding (a dead
// network path that only a ping watchdog notices), or lose the next answer after its request went through.
import { createServer, connect } from 'node:net'

export async function startProxy(upstreamPort) {
  const pairs = new Set()
  let upstream = upstreamPort
  let loseNextAnswer = false
  let blocked = false
  const server = createServer((client) => {
    if (blocked) return client.destroy()
    const up = connect(upstream, '127.0.0.1')
    const pair = { client, up, frozen: false }
    pairs.add(pair)
    client.on('data', (d) => !pair.frozen && up.write(d))
    up.on('data', (d) => {
      if (pair.frozen) return
      if (loseNextAnswer) {
        // The request reached the server; its answer never reaches the client.
        loseNextAnswer = false
        client.destroy()
        up.destroy()
        return
      }
      client.write(d)
    })
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      up.destroy()
    }
    client.on('close', end)
    up.on('close', end)
    client.on('error', () => {})
    up.on('error', () => {})
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const port = server.address().port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return pairs.size
    },
    /** Where new connections go. */
    setUpstream(p) {
      upstream = p
    },
    /** Drop every connection now (both sides see it close). */
    cut() {
      for (const p of [...pairs]) {
        p.client.destroy()
        p.up.destroy()
      }
    },
    /** Stop forwarding on every open connection, without closing anything. */
    freeze() {
      const frozen = [...pairs]
      for (const p of frozen) p.frozen = true
      return () => frozen.forEach((p) => (p.client.destroy(), p.up.destroy()))
    },
    /** Refuse new connections (a network that stays down) until unblocked. */
    block(on = true) {
      blocked = on
    },
    loseNextAnswer() {
      loseNextAnswer = true
    },
    close() {
      this.cut()
      return new Promise((r) => server.close(r))
    },
  }
}

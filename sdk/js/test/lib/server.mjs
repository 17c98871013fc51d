// Real baas processes for the tests: `baas migrate`, `baas keys create`, `baas serve`, `baas worker`.
// BAAS_VENV_BIN: the virtualenv's bin folder holding `baas` (default ../../.venv/bin from sdk/js).
import { spawn, execFile } from 'node:child_process'
import { cpSync, mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const sdk = fileURLToPath(new URL('../..', import.meta.url))
export const BIN = resolve(sdk, process.env.BAAS_VENV_BIN ?? '../../.venv/bin')
export const BAAS = join(BIN, 'baas')

/** Settings for test servers: short-lived access tokens (refresh happens during the tests), generous auth rate limits. */
export const SERVER_ENV = {
  AUTH_ACCESS_TOKEN_SECONDS: '30',
  AUTH_RATE_SIGNUP_IP: '100000/h',
  AUTH_RATE_SIGNUP_ACCOUNT: '100000/h',
  AUTH_RATE_ANONYMOUS_IP: '100000/h',
  AUTH_RATE_TOKEN_IP: '100000/m',
  AUTH_RATE_TOKEN_ACCOUNT: '100000/m',
  AUTH_RATE_REFRESH_IP: '100000/m',
  AUTH_RATE_REFRESH_ACCOUNT: '100000/m',
  LOG_LEVEL: 'WARNING',
  ...(process.env.BAAS_TEST_SERVER_ENV ? JSON.parse(process.env.BAAS_TEST_SERVER_ENV) : {}),
}

const run = promisify(execFile)

export async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
    s.on('error', rej)
  })
}

/** A migrated data folder with a service key; `from` copies an existing one (faster than migrating). */
export async function prepareDataDir(from) {
  const dir = mkdtempSync(join(tmpdir(), 'baas-sdkjs-'))
  if (from) {
    cpSync(from, dir, { recursive: true })
    return { dir, key: readFileSync(join(dir, 'test-key'), 'utf8').trim() }
  }
  const env = { ...process.env, ...SERVER_ENV }
  await run(BAAS, ['migrate', '--data-dir', dir], { env })
  const { stdout } = await run(BAAS, ['keys', 'create', `sdk-tests-${Date.now().toString(36)}`, '--data-dir', dir], { env })
  const key = stdout.trim().split('\n').pop().trim()
  writeFileSync(join(dir, 'test-key'), key)
  return { dir, key }
}

async function waitHealthy(url, proc, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`)
    try {
      const r = await fetch(`${url}/v1/health`)
      if (r.ok) return await r.json()
    } catch {}
    await new Promise((r) => setTimeout(r, 150))
  }
  throw new Error(`server at ${url} not healthy after ${timeoutMs} ms`)
}

export function spawnBaas(args, dataDir, logName) {
  const proc = spawn(BAAS, [...args, '--data-dir', dataDir], {
    env: { ...process.env, ...SERVER_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  const keep = (d) => {
    log = (log + d).slice(-20_000)
  }
  proc.stdout.on('data', keep)
  proc.stderr.on('data', keep)
  proc.on('exit', () => logName && writeFileSync(join(dataDir, `${logName}.log`), log))
  return proc
}

/** `baas serve` (web: HTTP + websockets) on a free port. */
export async function startServer(dataDir, port) {
  port ??= await freePort()
  const proc = spawnBaas(['serve', '--host', '127.0.0.1', '--port', String(port), '--workers', '1'], dataDir, `serve-${port}`)
  const url = `http://127.0.0.1:${port}`
  const health = await waitHealthy(url, proc)
  return {
    url,
    port,
    proc,
    health,
    /** SIGKILL: the process dies with its connections, no goodbye. */
    kill: () => stop(proc, 'SIGKILL'),
    stop: () => stop(proc, 'SIGTERM'),
  }
}

export function stop(proc, signal = 'SIGTERM') {
  if (proc.exitCode !== null || proc.signalCode) return Promise.resolve()
  return new Promise((res) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000)
    proc.once('exit', () => {
      clearTimeout(t)
      res()
    })
    proc.kill(signal)
  })
}

/** Drop events older than the newest `keep` from the log (so `since` older than that needs a resync). */
export async function pruneEventLog(dataDir, keep = 1) {
  const code = `import django; django.setup()\nfrom baas import events\nprint(events.prune(max_count=${keep}))`
  const { stdout } = await run(join(BIN, 'python'), ['-c', code], {
    env: { ...process.env, ...SERVER_ENV, BAAS_DATA_DIR: dataDir, DJANGO_SETTINGS_MODULE: 'baas.settings' },
  })
  return Number(stdout.trim())
}

/** The shared server the runner (scripts/test.mjs) started, or one of our own when a file runs alone. */
let own
export async function sharedServer() {
  if (process.env.BAAS_TEST_URL)
    return { url: process.env.BAAS_TEST_URL, key: process.env.BAAS_TEST_KEY, dataDir: process.env.BAAS_TEST_DATA_DIR, template: process.env.BAAS_TEST_TEMPLATE }
  if (!own) {
    own = (async () => {
      const { dir, key } = await prepareDataDir()
      const template = mkdtempSync(join(tmpdir(), 'baas-sdkjs-template-'))
      cpSync(dir, template, { recursive: true })
      const server = await startServer(dir)
      process.on('exit', () => server.proc.kill('SIGKILL'))
      return { url: server.url, key, dataDir: dir, template, server }
    })()
  }
  return own
}

export const exists = existsSync

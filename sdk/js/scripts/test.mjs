// npm test: start a real baas server (migrated data folder in a temp dir, a service key), then run
// node's test runner over test/*.test.mjs against dist/. Files that need their own server or
// worker (resume, resync, functions) start them from the template data folder.
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BAAS, prepareDataDir, startServer } from '../test/lib/server.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
if (!existsSync(BAAS)) {
  console.error(`no baas command at ${BAAS}: set BAAS_VENV_BIN to the virtualenv's bin folder`)
  process.exit(2)
}
if (!existsSync(join(root, 'dist/index.js'))) {
  console.error('dist/ is missing: run `npm run build` first')
  process.exit(2)
}
const started = Date.now()
const { dir, key } = await prepareDataDir()
const template = mkdtempSync(join(tmpdir(), 'baas-sdkjs-template-'))
cpSync(dir, template, { recursive: true })
const server = await startServer(dir)
console.log(`baas server ${server.url} (data ${dir}, sandbox ${server.health.sandbox}) ready in ${((Date.now() - started) / 1000).toFixed(1)} s`)

const only = process.argv.slice(2)
const files = only.length ? only : readdirSync(join(root, 'test')).filter((f) => f.endsWith('.test.mjs')).map((f) => join('test', f))
const child = spawn(process.execPath, ['--experimental-websocket', '--no-warnings=ExperimentalWarning', '--test', '--test-concurrency=8', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-websocket --no-warnings=ExperimentalWarning`.trim(),
    BAAS_TEST_URL: server.url,
    BAAS_TEST_KEY: key,
    BAAS_TEST_DATA_DIR: dir,
    BAAS_TEST_TEMPLATE: template,
  },
})
const code = await new Promise((r) => child.on('exit', (c, s) => r(c ?? (s ? 1 : 0))))
await server.stop()
if (!process.env.BAAS_TEST_KEEP) for (const d of [dir, template]) rmSync(d, { recursive: true, force: true })
console.log(`npm test: ${((Date.now() - started) / 1000).toFixed(1)} s in all`)
process.exit(code)

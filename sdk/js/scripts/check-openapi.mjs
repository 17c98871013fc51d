// npm run check:openapi [-- schema.json]: the SDK against the server's OpenAPI document.
//   1. the document: the file given, else what `baas spectacular` prints (the one /v1/schema serves);
//   2. openapi-typescript turns it into contract/generated/openapi.d.ts;
//   3. every `/v1/…` literal in src/ must begin some path of the document (a renamed or removed
//      route fails here);
//   4. tsc type-checks contract/check.ts: the SDK's types against the generated ones, and the SDK's
//      routes against the document's.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BAAS } from '../test/lib/server.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const contract = join(root, 'contract')
const started = Date.now()
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 << 20 })

const given = process.argv[2]
// `baas spectacular` reads the settings, which need a data folder: a scratch one, removed after.
const printSchema = () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'baas-openapi-'))
  try {
    return execFileSync(BAAS, ['spectacular', '--format', 'openapi-json'], {
      cwd: root, env: { ...process.env, BAAS_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 << 20,
    })
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}
const text = given ? readFileSync(given, 'utf8') : printSchema()
const schema = JSON.parse(text)
mkdirSync(join(contract, 'generated'), { recursive: true })
const schemaFile = join(contract, 'generated', 'openapi.json')
writeFileSync(schemaFile, text)
run(join(contract, 'node_modules/.bin/openapi-typescript'), [schemaFile, '-o', join(contract, 'generated/openapi.d.ts'), '--silent'])

const shape = (p) => p.replace(/\$\{[^}]*\}|\{[^}]*\}/g, '{}')
const known = Object.keys(schema.paths).map(shape)
const unknown = []
for (const file of readdirSync(join(root, 'src')).filter((f) => f.endsWith('.ts'))) {
  const source = readFileSync(join(root, 'src', file), 'utf8')
  for (const [, literal] of source.matchAll(/['`](\/v1\/[^'`]*)['`]/g)) {
    if (!known.some((p) => p.startsWith(shape(literal)))) unknown.push(`${file}: ${literal}`)
  }
}
if (unknown.length) {
  console.error(`check:openapi: no path of the schema begins with:\n  ${unknown.join('\n  ')}`)
  process.exit(1)
}

try {
  run(join(root, 'node_modules/.bin/tsc'), ['-p', join(contract, 'tsconfig.json')])
} catch (e) {
  console.error(`check:openapi: the SDK disagrees with the schema:\n${e.stdout}`)
  process.exit(1)
}
const operations = Object.values(schema.paths).reduce((n, item) => n + Object.keys(item).length, 0)
console.log(`check:openapi: SDK types and routes agree with the schema (${operations} operations) in ${((Date.now() - started) / 1000).toFixed(1)} s`)

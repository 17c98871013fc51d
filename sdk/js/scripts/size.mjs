// npm run size: minified + gzipped size of the core (the `.` entry) and of everything (core + admin).
import { build } from 'esbuild'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const BUDGET = 15 * 1024

async function measure(contents) {
  const out = await build({
    absWorkingDir: root,
    stdin: { contents, resolveDir: `${root}/src`, loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2020',
    write: false,
  })
  const code = out.outputFiles[0].contents
  return { min: code.length, gz: gzipSync(code, { level: 9 }).length }
}

const kib = (n) => `${(n / 1024).toFixed(2)} KiB`
const core = await measure(`export * from './index.ts'`)
const full = await measure(`export * from './index.ts'; export * from './admin.ts'`)
console.log(`core (@baas/client):        min ${kib(core.min)}  min+gz ${kib(core.gz)}  (budget ${kib(BUDGET)})`)
console.log(`full (core + /admin):       min ${kib(full.min)}  min+gz ${kib(full.gz)}`)
if (core.gz > BUDGET) {
  console.error('core is over budget')
  process.exit(1)
}

import { fail } from './errors.js'

/** One value as a literal of the expression language: it can never become an operator or a name. */
export function literal(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'boolean') return String(v)
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || (Number.isInteger(v) && !Number.isSafeInteger(v))) fail('invalid_argument', `${v} is not a number the API accepts.`)
    return String(v)
  }
  if (typeof v === 'bigint') return literal(Number(v) === Number(v.toString()) && Number.isSafeInteger(Number(v)) ? Number(v) : NaN)
  if (typeof v === 'string') return JSON.stringify(v)
  if (v instanceof Date) return JSON.stringify(v.toISOString())
  if (Array.isArray(v)) return `[${v.map(literal).join(', ')}]`
  return fail('invalid_argument', 'Filter values are strings, numbers, booleans, null, dates or lists of them.')
}

/**
 * A filter whose interpolated values are always quoted as literals:
 * filter`owner == ${uid} && tag in ${tags}` — user input can never change the expression's meaning.
 */
export function filter(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0]
  values.forEach((v, i) => (out += literal(v) + strings[i + 1]))
  return out
}

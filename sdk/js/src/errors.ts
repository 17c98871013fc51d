/** Every failure of the SDK: the server's error envelope, or a client-side condition. */
export class BaasError extends Error {
  /** Stable snake_case code (docs/errors.md); client-side: `network_error`, `aborted`, `invalid_argument`, `unavailable`. */
  readonly code: string
  /** HTTP status; 0 when no answer arrived (network, abort, client-side checks). */
  readonly status: number
  readonly details: Record<string, unknown>
  /** The answer's `X-Request-Id`, when there was an answer. */
  readonly requestId?: string
  constructor(code: string, message: string, status = 0, details: Record<string, unknown> = {}, requestId?: string) {
    super(message)
    this.name = 'BaasError'
    this.code = code
    this.status = status
    this.details = details
    if (requestId) this.requestId = requestId
  }
}

export const fail = (code: string, message: string, details?: Record<string, unknown>): never => {
  throw new BaasError(code, message, 0, details)
}

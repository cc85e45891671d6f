/**
 * A delivery failure. Retryable ones keep the batch in the outbox (the broker or the
 * database is away); permanent ones mean the receiver refused the data itself, which
 * is logged and counted and never blocks the queue.
 */
export class SinkError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options);
    this.name = 'SinkError';
    this.retryAfterMs = options?.retryAfterMs;
  }

  /** The receiver asked us to wait this long before the next attempt (HTTP Retry-After). */
  readonly retryAfterMs: number | undefined;
}

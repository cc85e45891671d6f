/**
 * A delivery failure. Retryable ones keep the batch in the outbox (the broker or the
 * database is away); permanent ones mean the receiver refused the data itself, which
 * is logged and counted and never blocks the queue.
 */
export class SinkError extends Error {
  constructor(message: string, readonly retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SinkError';
  }
}

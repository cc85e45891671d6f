import type { Logger } from 'pino';
import type { Outbox, QueuedRecord } from '../outbox/outbox.js';
import { SinkError } from './errors.js';

export interface Sink {
  readonly name: string;
  /** Resolves once every record of the batch is durably accepted (or permanently refused and logged). */
  deliver(batch: Array<QueuedRecord>): Promise<void>;
  /** Whether it is worth trying now (e.g. the MQTT client is connected). */
  ready(): boolean;
}

export interface SinkRunnerStats {
  delivered: number;
  failures: number;
  lastError: string | null;
  lastDeliveryMs: number | null;
}

/**
 * Moves records from the outbox to one sink: oldest first, one batch in flight,
 * acknowledged in the outbox only after the sink confirmed it.
 */
export class SinkRunner {
  readonly stats: SinkRunnerStats = { delivered: 0, failures: 0, lastError: null, lastDeliveryMs: null };
  private stopped = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private backoffMs = 0;

  constructor(
    private readonly outbox: Outbox,
    private readonly sink: Sink,
    private readonly log: Logger,
    private readonly batchSize = 500,
    private readonly maxBackoffMs = 30_000,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  /** Something new is in the outbox. */
  notify(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  /** Delivers everything pending now (shutdown, tests). */
  async drain(deadlineMs: number): Promise<boolean> {
    while (Date.now() < deadlineMs) {
      if (this.outbox.peek(this.sink.name, 1).length === 0) return true;
      await sleep(50);
    }
    return this.outbox.peek(this.sink.name, 1).length === 0;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const batch = this.sink.ready() ? this.outbox.peek(this.sink.name, this.batchSize) : [];
      if (batch.length === 0) {
        await this.idle(this.sink.ready() ? 1000 : 250);
        continue;
      }
      try {
        await this.sink.deliver(batch);
        this.outbox.ack(this.sink.name, batch[batch.length - 1]!.seq);
        this.stats.delivered += batch.length;
        this.stats.lastDeliveryMs = Date.now();
        if (this.backoffMs > 0) this.log.info({ sink: this.sink.name }, 'sink delivering again');
        this.backoffMs = 0;
      } catch (err) {
        this.stats.failures += 1;
        this.stats.lastError = err instanceof Error ? err.message : String(err);
        if (err instanceof SinkError && !err.retryable) {
          // The sink itself decides which records it skips; a non-retryable error here
          // means the whole batch was refused as a unit, so it is acknowledged as refused.
          this.log.error({ err, sink: this.sink.name, records: batch.length }, 'sink refused batch');
          this.outbox.ack(this.sink.name, batch[batch.length - 1]!.seq);
          continue;
        }
        if (this.backoffMs === 0) this.log.warn({ err, sink: this.sink.name }, 'sink delivery failed, retrying');
        this.backoffMs = Math.min(this.maxBackoffMs, Math.max(250, this.backoffMs * 2));
        await this.idle(this.backoffMs * (0.75 + Math.random() * 0.5));
      }
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(t);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

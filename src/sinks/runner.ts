import type { Logger } from 'pino';
import { Histogram } from './histogram.js';
import type { Outbox, PendingBatch, QueuedRecord, StoredEncoder } from '../outbox/outbox.js';
import { SinkError } from './errors.js';

export interface DeliveryContext {
  /** The records were queued while the sink was away and are sent late (marked in MQTT payloads). */
  replayed: boolean;
}

export interface Sink {
  readonly name: string;
  /**
   * Resolves once every record of the batch is durably accepted (or permanently refused
   * and logged). Throws a retryable SinkError to keep the batch queued.
   */
  deliver(batch: Array<QueuedRecord>, ctx: DeliveryContext): Promise<void>;
  /** Whether it is worth trying now (e.g. the MQTT client is connected). */
  ready(): boolean;
  /**
   * Optional: turns a stored record (its JSON text) into what deliver() sends, while the
   * batch is read; deliver() then gets records with `encoded` set instead of `record`.
   */
  readonly encode?: StoredEncoder;
}

export interface SinkRunnerOptions {
  /** Records per delivery. */
  batchSize?: number;
  /** A live batch smaller than batchSize waits this long for more records (InfluxDB flush_interval); 0 sends at once. */
  maxBatchDelayMs?: number;
  /** Replayed records per second at most, so that a backlog does not swamp the receiver; 0 = no limit. */
  replayRatePerS?: number;
  /**
   * Replay batches in flight at once. With 2, the next batch is read and encoded while
   * the receiver ingests the previous one (InfluxDB); acknowledgements are ranges, so
   * the order in which they complete does not matter.
   */
  replayConcurrency?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  now?: () => number;
}

/** down: the sink is away or failing; replaying: live records flow and a backlog is sent behind them. */
export type SinkState = 'starting' | 'live' | 'replaying' | 'down';

export interface SinkRunnerStats {
  state: SinkState;
  delivered: number;
  replayed: number;
  /** Records the receiver refused as a whole batch (permanent errors). */
  refused: number;
  failures: number;
  lastError: string | null;
  lastErrorMs: number | null;
  lastDeliveryMs: number | null;
  /** Seconds from being stored to being accepted by the sink, live records only. */
  latency: Histogram;
}

export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Moves records from the outbox to one sink. Live records go first, in order; what
 * queued up while the sink was away (or before a restart) is the backlog, sent oldest
 * first behind them at a limited rate and marked as replayed. A record is acknowledged
 * in the outbox only after the sink confirmed it.
 */
export class SinkRunner {
  readonly stats: SinkRunnerStats;
  private stopped = false;
  private draining = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private backoffMs = 0;
  /** Records with a higher seq are live; null until the sink is (again) reachable. */
  private liveFrom: number | null = null;
  private tokens: number;
  private tokensAtMs: number;
  private readonly o: Required<SinkRunnerOptions>;

  constructor(
    private readonly outbox: Outbox,
    private readonly sink: Sink,
    private readonly log: Logger,
    options: SinkRunnerOptions | number = {},
  ) {
    const opts = typeof options === 'number' ? { batchSize: options } : options;
    this.o = {
      batchSize: opts.batchSize ?? 500,
      maxBatchDelayMs: opts.maxBatchDelayMs ?? 0,
      replayRatePerS: opts.replayRatePerS ?? 0,
      replayConcurrency: Math.max(1, opts.replayConcurrency ?? 1),
      minBackoffMs: opts.minBackoffMs ?? 250,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      now: opts.now ?? Date.now,
    };
    this.tokens = this.burst();
    this.tokensAtMs = this.o.now();
    this.stats = {
      state: 'starting', delivered: 0, replayed: 0, refused: 0, failures: 0,
      lastError: null, lastErrorMs: null, lastDeliveryMs: null, latency: new Histogram(LATENCY_BUCKETS_S),
    };
  }

  get name(): string {
    return this.sink.name;
  }

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

  /** Records this sink has not acknowledged yet. */
  pending(): number {
    return this.outbox.pendingCount(this.sink.name);
  }

  /** Whether queued records from before the sink became reachable are still being sent. */
  replaying(): boolean {
    return this.liveFrom !== null && this.outbox.pendingCount(this.sink.name, { upTo: this.liveFrom }, 1) > 0;
  }

  /** Delivers everything pending now, without waiting to fill batches or for the replay rate (shutdown, tests). */
  async drain(deadlineMs: number): Promise<boolean> {
    this.draining = true;
    this.wake?.();
    try {
      while (Date.now() < deadlineMs) {
        if (this.outbox.pendingCount(this.sink.name, {}, 1) === 0) return true;
        await sleep(50);
      }
      return this.outbox.pendingCount(this.sink.name, {}, 1) === 0;
    } finally {
      this.draining = false;
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (!this.sink.ready()) {
        this.goDown();
        await this.idle(250);
        continue;
      }
      if (this.liveFrom === null) {
        // Everything stored until now is backlog; what comes from here on is live.
        this.liveFrom = this.outbox.maxSeq();
        if (this.stats.state === 'down') this.log.info({ sink: this.sink.name }, 'sink reachable again');
      }
      let waitMs = 1000;
      try {
        const live = this.liveBatch();
        const sentLive = live.sendNow;
        if (sentLive) await this.send(live.batch, false);
        else waitMs = Math.min(waitMs, live.dueInMs);

        if (this.outbox.pendingCount(this.sink.name, { upTo: this.liveFrom }, 1) > 0) {
          this.setState('replaying');
          if (await this.replay()) continue;
          waitMs = Math.min(waitMs, this.msUntilToken());
        } else {
          this.setState('live');
        }
        if (sentLive) continue;
      } catch (err) {
        await this.failed(err);
        continue;
      }
      await this.idle(Math.max(1, waitMs));
    }
  }

  /**
   * Sends backlog batches, up to replayConcurrency in flight, oldest first, until the
   * backlog is done, the replay rate is used up, or live records are due. False when
   * nothing could be sent (out of tokens).
   */
  private async replay(): Promise<boolean> {
    const upTo = this.liveFrom ?? 0;
    const inflight = new Set<Promise<void>>();
    let failure: { err: unknown } | null = null;
    let after = 0;
    let sent = false;
    let exhausted = false;
    for (;;) {
      while (!exhausted && failure === null && !this.stopped && inflight.size < this.o.replayConcurrency) {
        const allowance = this.takeTokens();
        if (allowance < 1) break;
        const batch = this.outbox.next(this.sink.name, allowance, { after, upTo }, this.sink.encode);
        if (batch.toSeq < batch.fromSeq) {
          exhausted = true;
          break;
        }
        after = batch.toSeq;
        exhausted = batch.records.length < allowance;
        sent = true;
        const p: Promise<void> = this.send(batch, true)
          .catch((err: unknown) => { failure ??= { err }; })
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
      if (inflight.size === 0) break;
      await Promise.race(inflight);
      // Live records go first: stop filling the window once a live batch is due.
      if (this.liveDue()) exhausted = true;
    }
    if (failure) throw (failure as { err: unknown }).err;
    return sent;
  }

  /** Whether live records are waiting to be sent now. */
  private liveDue(): boolean {
    const region = { after: this.liveFrom ?? 0 };
    const head = this.outbox.next(this.sink.name, 1, region).records[0];
    if (!head) return false;
    return this.o.maxBatchDelayMs <= 0 || head.createdMs + this.o.maxBatchDelayMs <= this.o.now()
      || this.outbox.pendingCount(this.sink.name, region, this.o.batchSize) >= this.o.batchSize;
  }

  /** The live records, and whether to send them now or wait to fill the batch. */
  private liveBatch(): { batch: PendingBatch; sendNow: boolean; dueInMs: number } {
    const region = { after: this.liveFrom ?? 0 };
    const none = { batch: { records: [], fromSeq: 0, toSeq: -1 }, sendNow: false, dueInMs: Number.POSITIVE_INFINITY };
    if (this.o.maxBatchDelayMs > 0 && !this.draining && !this.stopped) {
      // Cheap look first: the full batch is read only when it is due.
      const head = this.outbox.next(this.sink.name, 1, region);
      const first = head.records[0];
      if (!first) {
        this.ackHoles(head);
        return none;
      }
      const dueInMs = first.createdMs + this.o.maxBatchDelayMs - this.o.now();
      if (dueInMs > 0 && this.outbox.pendingCount(this.sink.name, region, this.o.batchSize) < this.o.batchSize) {
        return { ...none, dueInMs };
      }
    }
    const batch = this.outbox.next(this.sink.name, this.o.batchSize, region, this.sink.encode);
    if (batch.records.length === 0) {
      this.ackHoles(batch);
      return none;
    }
    return { batch, sendNow: true, dueInMs: 0 };
  }

  /** Only holes left by dropped records: acknowledging them closes the range. */
  private ackHoles(batch: PendingBatch): void {
    if (batch.records.length === 0 && batch.toSeq >= batch.fromSeq) this.outbox.ackRange(this.sink.name, batch.fromSeq, batch.toSeq);
  }

  private async send(batch: PendingBatch, replayed: boolean): Promise<void> {
    // Only what is needed after the delivery is kept across it: a batch of records held
    // while the receiver works survives young-generation collections, each of which
    // copies it (during a replay that cost more than reading and formatting it).
    const { fromSeq, toSeq } = batch;
    const n = batch.records.length;
    const createdMs = replayed ? [] : batch.records.map((r) => r.createdMs);
    if (n > 0) {
      const release = this.outbox.hold(fromSeq, toSeq);
      try {
        await this.sink.deliver(batch.records, { replayed });
      } catch (err) {
        if (!(err instanceof SinkError) || err.retryable) throw err;
        // The sink decides which records it skips; a non-retryable error here means
        // the whole batch was refused as a unit: acknowledged as refused, never retried.
        this.stats.refused += n;
        this.stats.failures += 1;
        this.stats.lastError = err.message;
        this.stats.lastErrorMs = this.o.now();
        this.log.error({ err, sink: this.sink.name, records: n }, 'sink refused batch');
      } finally {
        // Acknowledged just below, in the same turn: nothing can drop the range between.
        release();
      }
    }
    if (toSeq >= fromSeq) this.outbox.ackRange(this.sink.name, fromSeq, toSeq);
    const now = this.o.now();
    if (replayed) this.stats.replayed += n;
    else for (const ms of createdMs) this.stats.latency.observe((now - ms) / 1000);
    this.stats.delivered += n;
    if (n > 0) this.stats.lastDeliveryMs = now;
    this.backoffMs = 0;
  }

  private async failed(err: unknown): Promise<void> {
    this.stats.failures += 1;
    this.stats.lastError = err instanceof Error ? err.message : String(err);
    this.stats.lastErrorMs = this.o.now();
    if (this.stats.state !== 'down') this.log.warn({ err, sink: this.sink.name }, 'sink delivery failed, retrying');
    this.goDown();
    this.backoffMs = Math.min(this.o.maxBackoffMs, Math.max(this.o.minBackoffMs, this.backoffMs * 2));
    const retryAfterMs = err instanceof SinkError ? err.retryAfterMs ?? 0 : 0;
    // Jitter: many gateways coming back after the same outage do not retry in lockstep.
    await this.idle(Math.max(retryAfterMs, this.backoffMs * (0.75 + Math.random() * 0.5)), false);
  }

  private goDown(): void {
    if (this.stats.state !== 'down' && this.stats.state !== 'starting') this.log.warn({ sink: this.sink.name }, 'sink unavailable, records stay queued');
    this.setState('down');
    this.liveFrom = null;
  }

  private setState(state: SinkState): void {
    if (state === this.stats.state) return;
    if (state === 'replaying') this.log.info({ sink: this.sink.name, pending: this.outbox.pendingCount(this.sink.name) }, 'sink replaying backlog');
    if (state === 'live' && this.stats.state === 'replaying') this.log.info({ sink: this.sink.name }, 'sink backlog replayed');
    this.stats.state = state;
  }

  /** Token bucket for replayed records: at most one batch of burst. */
  private takeTokens(): number {
    if (this.o.replayRatePerS <= 0 || this.draining) return this.o.batchSize;
    const now = this.o.now();
    this.tokens = Math.min(this.burst(), this.tokens + ((now - this.tokensAtMs) * this.o.replayRatePerS) / 1000);
    this.tokensAtMs = now;
    const n = Math.min(this.o.batchSize, Math.floor(this.tokens));
    this.tokens -= n;
    return n;
  }

  private burst(): number {
    return this.o.batchSize * this.o.replayConcurrency;
  }

  private msUntilToken(): number {
    return Math.ceil(((1 - this.tokens) * 1000) / this.o.replayRatePerS);
  }

  /** Sleeps; `notify()` ends it early unless `wakeable` is false (backoff). */
  private idle(ms: number, wakeable = true): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        if (this.wake === done) this.wake = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      if (wakeable || this.stopped) this.wake = done;
      else this.wake = () => { if (this.stopped || this.draining) done(); };
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

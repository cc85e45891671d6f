import type { Logger } from 'pino';
import type { Engine } from '../core/engine.js';
import type { EngineRecord } from '../core/records.js';
import type { DevicePoll } from '../core/sample.js';
import { telemetryFromPoll, type TelemetryRecord } from '../core/telemetry.js';
import type { Outbox } from '../outbox/outbox.js';

export const ENGINE_STATE_KEY = 'engine';

export type GatewayRecord = TelemetryRecord | EngineRecord;

export interface PipelineStats {
  polls: number;
  records: Record<string, number>;
  lastRecordMs: number | null;
  commitErrors: number;
}

export interface PipelineOptions {
  engine: Engine;
  outbox: Outbox;
  log: Logger;
  models: ReadonlyMap<string, string | null>;
  /** Called after records are durably stored (wakes the sinks). */
  onStored: (records: GatewayRecord[]) => void;
  now?: () => number;
  /**
   * Records are committed in small batches: one transaction and one state snapshot per
   * batch instead of per poll. What is still pending at a crash is re-read from the
   * meters' counters after restart, so energy stays exact.
   */
  batchMs?: number;
}

/**
 * Runs the energy core on every poll and stores what comes out. Records and the core's
 * state are committed together, so a crash at any point resumes without loss or double
 * counting: the meters' counters carry whatever happened while the process was down.
 */
export class Pipeline {
  readonly stats: PipelineStats = { polls: 0, records: {}, lastRecordMs: null, commitErrors: 0 };
  private readonly now: () => number;
  private pending: GatewayRecord[] = [];
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: PipelineOptions) {
    this.now = opts.now ?? Date.now;
  }

  onPoll(poll: DevicePoll): void {
    this.stats.polls += 1;
    const telemetry = telemetryFromPoll(poll, this.opts.models.get(poll.device) ?? null);
    let produced: EngineRecord[] = [];
    try {
      produced = this.opts.engine.ingest(poll);
    } catch (err) {
      // The core turns bad data into flags; an exception here is a bug. Keep the raw
      // reading flowing and say so loudly rather than stopping acquisition.
      this.opts.log.error({ err, device: poll.device }, 'energy core failed on a poll');
    }
    this.pending.push(telemetry, ...produced);
    this.scheduleFlush();
  }

  /**
   * Applies an operator's entry (meter replacement, manual output or quantity) to the
   * core and commits what it produced at once, before the request is acknowledged.
   */
  apply(entry: (engine: Engine) => EngineRecord[]): EngineRecord[] {
    const produced = entry(this.opts.engine);
    this.pending.push(...produced);
    this.flush();
    return produced;
  }

  /** Closes due windows; call about once a second. */
  tick(): void {
    let closed: EngineRecord[] = [];
    try {
      closed = this.opts.engine.advance(this.now());
    } catch (err) {
      this.opts.log.error({ err }, 'energy core failed while closing windows');
    }
    if (closed.length > 0) {
      this.pending.push(...closed);
      this.flush();
    }
  }

  private scheduleFlush(): void {
    const batchMs = this.opts.batchMs ?? 100;
    if (batchMs <= 0) {
      this.flush();
      return;
    }
    this.flushTimer ??= setTimeout(() => this.flush(), batchMs);
  }

  /** Commits everything pending now. */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const records = this.pending;
    this.pending = [];
    if (records.length > 0) this.commit(records);
  }

  private commit(records: GatewayRecord[]): void {
    try {
      this.opts.outbox.commit(
        records.map((record) => ({ kind: record.kind, record })),
        { [ENGINE_STATE_KEY]: this.opts.engine.snapshot() },
        this.now(),
      );
    } catch (err) {
      this.stats.commitErrors += 1;
      this.opts.log.error({ err, records: records.length }, 'outbox commit failed; retrying with the next batch');
      // Keep them: the next flush tries again (disk full is usually temporary).
      this.pending.unshift(...records);
      return;
    }
    for (const r of records) this.stats.records[r.kind] = (this.stats.records[r.kind] ?? 0) + 1;
    this.stats.lastRecordMs = this.now();
    this.opts.onStored(records);
  }
}

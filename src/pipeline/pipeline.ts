import type { Logger } from 'pino';
import type { Engine } from '../core/engine.js';
import type { EngineRecord } from '../core/records.js';
import type { DevicePoll } from '../core/sample.js';
import { telemetryFromPoll, type TelemetryRecord } from '../core/telemetry.js';
import { JsonText, type Outbox, type RecordToStore } from '../outbox/outbox.js';
import { telemetryStored } from './telemetry-json.js';

export const ENGINE_STATE_KEY = 'engine';
const DEFAULT_STATE_MS = 5000;

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
  /**
   * Whether onStored is given the telemetry records (default true). Without, telemetry
   * goes to the outbox as text written straight from the poll, no record object is made
   * for it, and onStored is still called after every commit, with the core's records
   * only (possibly none): building an object per value per poll that nobody reads was a
   * tenth of a poll's cost.
   */
  observeTelemetry?: boolean;
  now?: () => number;
  /** Telemetry is committed in batches this far apart (default 100 ms). */
  batchMs?: number;
  /**
   * The core's state is committed at most this often (default 5 s), and at once with any
   * records the core produced (closed windows, events), which must be stored together with
   * the state that accounts for them. Between those commits a crash only sends the core
   * back a few seconds: it resumes from the last state, and the meters' counters carry the
   * energy of those seconds exactly. The state is about half a megabyte at a thousand
   * meters; writing it every second was a tenth of the gateway's work.
   */
  stateMs?: number;
}

/** A poll's telemetry waiting for its commit: its text, and the record when someone wants it. */
interface PendingTelemetry extends RecordToStore {
  kind: 'telemetry';
  /** Absent when nothing observes telemetry records and `json` was written. */
  record: TelemetryRecord | undefined;
  json: string | undefined;
}

/**
 * Runs the energy core on every poll and stores what comes out. The core's records and
 * its state are committed together, so a crash at any point resumes without loss or
 * double counting: the core restarts from a state that matches exactly the records
 * stored, and the meters' counters carry whatever happened since. Telemetry is raw data
 * with no state behind it; it is committed on its own, sooner.
 */
export class Pipeline {
  readonly stats: PipelineStats = { polls: 0, records: {}, lastRecordMs: null, commitErrors: 0 };
  private readonly now: () => number;
  private pendingTelemetry: PendingTelemetry[] = [];
  private pendingEngine: EngineRecord[] = [];
  private engineDirty = false;
  private lastStateCommitMs = 0;
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: PipelineOptions) {
    this.now = opts.now ?? Date.now;
  }

  onPoll(poll: DevicePoll): void {
    this.stats.polls += 1;
    const model = this.opts.models.get(poll.device) ?? null;
    // Written before the core sees the poll, as the record was; packed for the outbox.
    const stored = telemetryStored(poll, model, this.opts.outbox.layouts);
    const record = stored === undefined || (this.opts.observeTelemetry ?? true) ? telemetryFromPoll(poll, model) : undefined;
    let produced: EngineRecord[] = [];
    try {
      produced = this.opts.engine.ingest(poll);
    } catch (err) {
      // The core turns bad data into flags; an exception here is a bug. Keep the raw
      // reading flowing and say so loudly rather than stopping acquisition.
      this.opts.log.error({ err, device: poll.device }, 'energy core failed on a poll');
    }
    this.pendingTelemetry.push({ kind: 'telemetry', record, json: stored?.json, layout: stored?.layout });
    this.pendingEngine.push(...produced);
    this.engineDirty = true;
    this.scheduleFlush();
  }

  /**
   * Applies an operator's entry (meter replacement, manual output or quantity) to the
   * core and commits what it produced at once, before the request is acknowledged.
   */
  apply(entry: (engine: Engine) => EngineRecord[]): EngineRecord[] {
    const produced = entry(this.opts.engine);
    this.pendingEngine.push(...produced);
    this.engineDirty = true;
    this.flush();
    return produced;
  }

  /** Closes due windows and commits what is pending; call about once a second. */
  tick(): void {
    let closed: EngineRecord[] = [];
    try {
      closed = this.opts.engine.advance(this.now());
    } catch (err) {
      this.opts.log.error({ err }, 'energy core failed while closing windows');
    }
    this.pendingEngine.push(...closed);
    if (closed.length > 0) this.engineDirty = true;
    this.commitPending('with-records');
  }

  private scheduleFlush(): void {
    const batchMs = this.opts.batchMs ?? 100;
    if (batchMs <= 0) {
      this.flush(false);
      return;
    }
    this.flushTimer ??= setTimeout(() => this.flush(false), batchMs);
  }

  /** Commits pending telemetry, and the core's records and state when due (or when `force`). */
  flush(force = true): void {
    this.commitPending(force ? 'now' : 'when-due');
  }

  /**
   * Telemetry always; the core's records and state `now`, when the state is due, or — at
   * a tick — also when the core produced records (at most once a second, however many
   * events a glitching meter raises).
   */
  private commitPending(state: 'now' | 'with-records' | 'when-due'): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const telemetry = this.pendingTelemetry;
    this.pendingTelemetry = [];
    if (telemetry.length > 0 && !this.storeTelemetry(telemetry)) this.pendingTelemetry.unshift(...telemetry);
    const stateDue = state === 'now'
      || (state === 'with-records' && this.pendingEngine.length > 0)
      || this.now() - this.lastStateCommitMs >= (this.opts.stateMs ?? DEFAULT_STATE_MS);
    if (this.engineDirty && stateDue) {
      const records = this.pendingEngine;
      this.pendingEngine = [];
      if (this.store(records, true)) {
        this.engineDirty = false;
        this.lastStateCommitMs = this.now();
      } else {
        this.pendingEngine.unshift(...records);
      }
    }
  }

  /** One transaction of telemetry. False when the disk refused it. */
  private storeTelemetry(pending: PendingTelemetry[]): boolean {
    if (!this.write(pending, false)) return false;
    this.counted('telemetry', pending.length);
    const records: GatewayRecord[] = [];
    for (const t of pending) if (t.record !== undefined) records.push(t.record);
    this.opts.onStored(records);
    return true;
  }

  /** One transaction; with the core's state when `withState`. False when the disk refused it. */
  private store(records: EngineRecord[], withState: boolean): boolean {
    if (!this.write(records.map((record) => ({ kind: record.kind, record })), withState)) return false;
    for (const r of records) this.counted(r.kind, 1);
    if (records.length > 0) this.opts.onStored(records);
    return true;
  }

  private write(rows: RecordToStore[], withState: boolean): boolean {
    try {
      if (withState) this.opts.outbox.commit(rows, { [ENGINE_STATE_KEY]: new JsonText(this.opts.engine.stateJson()) }, this.now());
      else this.opts.outbox.append(rows, this.now());
    } catch (err) {
      this.stats.commitErrors += 1;
      // Kept in memory: the next flush tries again (a full disk is usually temporary).
      this.opts.log.error({ err, records: rows.length }, 'outbox commit failed; retrying with the next batch');
      return false;
    }
    this.stats.lastRecordMs = this.now();
    return true;
  }

  private counted(kind: string, n: number): void {
    this.stats.records[kind] = (this.stats.records[kind] ?? 0) + n;
  }
}

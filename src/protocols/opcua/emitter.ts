// Collects value changes and hands the pipeline one DevicePoll per device per publish
// (or poll) cycle. Changes arriving in the same turn of the event loop — one publish
// response — are merged; the latest value of a point wins, which is exact for
// counters (the delta only needs the last reading).
import type { DevicePoll, PointValue } from '../../core/sample.js';

export class PollEmitter {
  private pending = new Map<string, Record<string, PointValue>>();
  private scheduled = false;
  private batchStartMs: number | undefined;
  /** Milliseconds from a publish response (or read answer) arriving to its records being emitted. */
  readonly latency = new LatencyWindow(10_000);
  polls = 0;

  constructor(private readonly onPoll: (poll: DevicePoll) => void, private readonly now: () => number = Date.now) {}

  /** Marks when a notification batch arrived, so latency covers decoding too. */
  markReceived(): void {
    this.batchStartMs ??= performance.now();
  }

  push(device: string, point: string, value: PointValue): void {
    this.markReceived();
    let values = this.pending.get(device);
    if (!values) {
      values = {};
      this.pending.set(device, values);
    }
    values[point] = value;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    const tsMs = this.now();
    for (const [device, values] of batch) {
      this.polls += 1;
      this.onPoll({ device, tsMs, values });
    }
    if (this.batchStartMs !== undefined && batch.size > 0) this.latency.add(performance.now() - this.batchStartMs);
    this.batchStartMs = undefined;
  }
}

/** The last N latencies, for p50/p99 without keeping history forever. */
export class LatencyWindow {
  private readonly values: number[] = [];
  private next = 0;
  constructor(private readonly size: number) {}
  add(ms: number): void {
    if (this.values.length < this.size) this.values.push(ms);
    else this.values[this.next] = ms;
    this.next = (this.next + 1) % this.size;
  }
  quantile(q: number): number | undefined {
    if (this.values.length === 0) return undefined;
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }
}

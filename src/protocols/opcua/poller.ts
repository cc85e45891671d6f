// Points in `mode: poll`: one Read per device per poll interval, aligned to the wall
// clock like the Modbus scheduler. A read still in flight when the next tick comes
// makes that tick an overrun (counted, never queued).
import { AttributeIds, type ClientSession, type DataValue } from 'node-opcua';
import type { PointRef } from './points.js';

export interface PollSink {
  values(refs: PointRef[], dvs: DataValue[]): void;
  readFailed(device: string, err: unknown): void;
  alive(): void;
}

export interface PollCounters {
  reads: number;
  read_errors: number;
  poll_overruns: number;
}

const MAX_NODES_PER_READ = 1000;

export class Poller {
  private timers: NodeJS.Timeout[] = [];
  private inFlight = new Set<string>();
  private stopped = false;

  constructor(
    private readonly session: ClientSession,
    private readonly refs: PointRef[],
    private readonly sink: PollSink,
    private readonly counters: PollCounters,
    private readonly timeoutMs: number,
  ) {}

  start(): void {
    const byDevice = new Map<string, PointRef[]>();
    for (const ref of this.refs) byDevice.set(ref.device, [...(byDevice.get(ref.device) ?? []), ref]);
    for (const [device, refs] of byDevice) this.schedule(device, refs, refs[0]?.pollIntervalMs ?? 1000, true);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  private schedule(device: string, refs: PointRef[], intervalMs: number, immediately = false): void {
    if (this.stopped) return;
    const now = Date.now();
    const delay = immediately ? 0 : intervalMs - (now % intervalMs);
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      this.schedule(device, refs, intervalMs);
      this.tick(device, refs);
    }, delay);
    this.timers.push(timer);
  }

  private tick(device: string, refs: PointRef[]): void {
    if (this.inFlight.has(device)) {
      this.counters.poll_overruns += 1;
      return;
    }
    this.inFlight.add(device);
    this.read(refs)
      .then((dvs) => {
        this.counters.reads += 1;
        this.sink.alive();
        if (!this.stopped) this.sink.values(refs, dvs);
      })
      .catch((err: unknown) => {
        this.counters.read_errors += 1;
        if (!this.stopped) this.sink.readFailed(device, err);
      })
      .finally(() => this.inFlight.delete(device));
  }

  private async read(refs: PointRef[]): Promise<DataValue[]> {
    const out: DataValue[] = [];
    for (let i = 0; i < refs.length; i += MAX_NODES_PER_READ) {
      const chunk = refs.slice(i, i + MAX_NODES_PER_READ);
      const read = this.session.read(chunk.map((r) => ({ nodeId: r.point.node_id, attributeId: AttributeIds.Value })), 0);
      out.push(...await withTimeout(read, this.timeoutMs));
    }
    return out;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`read timed out after ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e instanceof Error ? e : new Error(String(e))); });
  });
}

import type { ModbusReader, RequestOptions } from '../../../src/protocols/modbus/bus.js';
import { TransportError } from '../../../src/protocols/modbus/errors.js';
import type { Clock } from '../../../src/protocols/modbus/scheduler.js';
import type { ModbusFunction } from '../../../src/profiles/schema.js';

/** A clock that only moves when the test says so; timers fire in time order. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Array<{ at: number; seq: number; fn: () => void }> = [];

  constructor(startMs: number) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => { this.timers = this.timers.filter((x) => x !== timer); };
  }

  /**
   * Runs every timer up to `untilMs` the way the event loop runs I/O callbacks: promise
   * chains settle after each one, and the timers due at one instant are one turn of the
   * loop, after which the loop's check phase (setImmediate) runs.
   */
  async runUntil(untilMs: number): Promise<void> {
    let lastAt: number | null = null;
    for (let n = 0; ; n++) {
      if (n > 1_000_000) throw new Error('FakeClock: timers keep firing without time passing');
      await flush();
      const next = this.timers.filter((x) => x.at <= untilMs).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (lastAt !== null && next?.at !== lastAt) await new Promise<void>((resolve) => setImmediate(resolve));
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      lastAt = next.at;
      next.fn();
    }
    this.t = Math.max(this.t, untilMs);
  }

  /** Stops a scheduler whose requests wait on this clock: lets time run until it has. */
  async stopping(stop: Promise<void>): Promise<void> {
    let done = false;
    void stop.then(() => { done = true; });
    while (!done) await this.runUntil(this.t + 1000);
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

export type UnitBehaviour = { kind: 'ok'; latencyMs: number } | { kind: 'silent' } | { kind: 'exception'; code: number; latencyMs: number; once?: boolean };

/**
 * A bus whose devices answer after a latency on the fake clock. Requests are serialized like
 * the real bus; a silent unit costs its full timeout. Every request is logged with its time.
 */
export class FakeBus implements ModbusReader {
  readonly id = 'fake';
  readonly log: Array<{ unit: number; address: number; count: number; startMs: number; endMs: number; ok: boolean }> = [];
  readonly behaviour = new Map<number, UnitBehaviour>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly clock: FakeClock, private readonly defaultLatencyMs = 10) {}

  read(unit: number, _fn: ModbusFunction, address: number, count: number, options: RequestOptions): Promise<number[]> {
    const job = this.queue.then(() => this.readNow(unit, address, count, options));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private readNow(unit: number, address: number, count: number, options: RequestOptions): Promise<number[]> {
    const b = this.behaviour.get(unit) ?? { kind: 'ok', latencyMs: this.defaultLatencyMs };
    const startMs = this.clock.now();
    const ms = b.kind === 'silent' ? options.timeoutMs : b.latencyMs;
    if (b.kind === 'exception' && b.once) this.behaviour.delete(unit);
    return new Promise((resolve, reject) => {
      this.clock.setTimer(() => {
        const ok = b.kind === 'ok';
        this.log.push({ unit, address, count, startMs, endMs: this.clock.now(), ok });
        if (b.kind === 'ok') resolve(new Array<number>(count).fill(0));
        else if (b.kind === 'silent') reject(new TransportError('timeout', 'timeout'));
        else reject(new TransportError(`modbus exception ${b.code}`, 'exception', b.code));
      }, ms);
    });
  }
}

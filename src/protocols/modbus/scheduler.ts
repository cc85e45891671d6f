import type { Logger } from 'pino';
import type { DevicePoll } from '../../core/sample.js';
import { applyDerived } from '../../profiles/derive.js';
import type { PollClass } from '../../profiles/planner.js';
import { decodeValue, registerCount, type Decoded } from './decode.js';
import type { ModbusBus } from './bus.js';
import type { ModbusDevice } from './device.js';
import { TransportError } from './errors.js';

export type Availability = 'online' | 'degraded' | 'offline';

export interface SchedulerEvents {
  onPoll(poll: DevicePoll): void;
  onAvailability(device: string, state: Availability, reason?: string): void;
}

export interface DeviceStats {
  polls: number;
  errors: number;
  skipped: number;
  lastLatencyMs: number;
  latencySumMs: number;
}

/** Failures in a row before a degraded device is declared offline. */
const OFFLINE_AFTER = 3;
/** A failing device is not tried again for up to this long. */
const MAX_BACKOFF_MS = 300_000;

interface DeviceState {
  device: ModbusDevice;
  failures: number;
  retryAtMs: number;
  availability: Availability | null;
  stats: DeviceStats;
}

/**
 * Polls every device of one bus on ticks aligned to the wall clock. A device that
 * fails is skipped for the rest of its cycle and backs off, so it never delays the
 * others; a cycle that overruns is counted, not queued up.
 */
export class BusScheduler {
  readonly overruns = { count: 0 };
  private readonly states: DeviceState[];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly bus: ModbusBus,
    devices: ModbusDevice[],
    private readonly events: SchedulerEvents,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.states = devices.map((device) => ({
      device, failures: 0, retryAtMs: 0, availability: null,
      stats: { polls: 0, errors: 0, skipped: 0, lastLatencyMs: 0, latencySumMs: 0 },
    }));
  }

  deviceStats(): Array<{ device: string; availability: Availability | null } & DeviceStats> {
    return this.states.map((s) => ({ device: s.device.id, availability: s.availability, ...s.stats }));
  }

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Polls every device once now, whatever its schedule (the `read` command, tests). */
  async pollAllOnce(): Promise<void> {
    const tickMs = this.now();
    for (const s of this.states) await this.pollDevice(s, s.device.classes, tickMs);
  }

  private schedule(): void {
    if (this.stopped) return;
    const now = this.now();
    const next = Math.min(...this.states.flatMap((s) => s.device.classes.map((c) => nextAligned(c.intervalMs, now))));
    if (!Number.isFinite(next)) return;
    this.timer = setTimeout(() => {
      this.running = this.tick(next).finally(() => {
        this.running = null;
        this.schedule();
      });
    }, Math.max(0, next - now));
  }

  private async tick(tickMs: number): Promise<void> {
    for (const s of this.states) {
      if (this.stopped) return;
      const due = s.device.classes.filter((c) => tickMs % c.intervalMs === 0);
      if (due.length === 0) continue;
      if (this.now() < s.retryAtMs) {
        s.stats.skipped += 1;
        continue;
      }
      await this.pollDevice(s, due, tickMs);
    }
    const minInterval = Math.min(...this.states.flatMap((s) => s.device.classes.map((c) => c.intervalMs)));
    if (this.now() - tickMs > minInterval) {
      this.overruns.count += 1;
      if (this.overruns.count === 1 || this.overruns.count % 100 === 0) {
        this.log.warn({ bus: this.bus.id, overruns: this.overruns.count, cycleMs: this.now() - tickMs }, 'modbus bus cycle overran its interval');
      }
    }
  }

  private async pollDevice(s: DeviceState, classes: PollClass[], tickMs: number): Promise<void> {
    const d = s.device;
    const startedMs = this.now();
    const decoded: Record<string, Decoded> = {};
    try {
      for (const c of classes) {
        for (const req of c.requests) {
          const data = await this.readWithRetries(d, req.function, req.address, req.count);
          for (const p of req.points) {
            const off = p.address - req.address;
            const width = registerCount(p);
            decoded[p.id] = decodeValue(p, (data as Array<number | boolean>).slice(off, off + width) as number[] | boolean[]);
          }
        }
      }
    } catch (err) {
      this.onFailure(s, err);
      return;
    }
    const latency = this.now() - startedMs;
    s.stats.polls += 1;
    s.stats.lastLatencyMs = latency;
    s.stats.latencySumMs += latency;
    s.failures = 0;
    s.retryAtMs = 0;
    this.setAvailability(s, 'online');
    const values = applyDerived(d.source, decoded, d.settings);
    this.events.onPoll({ device: d.id, tsMs: Math.max(tickMs, startedMs), values });
  }

  private async readWithRetries(d: ModbusDevice, fn: PollClass['requests'][number]['function'], address: number, count: number): Promise<number[] | boolean[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.bus.read(d.unitId, fn, address, count, d.timeoutMs);
      } catch (err) {
        // An exception is the device's answer; asking again will not change it.
        const retryable = err instanceof TransportError && err.kind !== 'exception';
        if (!retryable || attempt >= d.retries) throw err;
      }
    }
  }

  private onFailure(s: DeviceState, err: unknown): void {
    s.failures += 1;
    s.stats.errors += 1;
    const backoff = Math.min(MAX_BACKOFF_MS, s.device.intervalMs * 2 ** (s.failures - 1));
    s.retryAtMs = this.now() + (s.failures === 1 ? 0 : backoff);
    const reason = err instanceof Error ? err.message : String(err);
    if (s.failures === 1) this.log.warn({ device: s.device.id, bus: this.bus.id, err: reason }, 'modbus device poll failed');
    this.setAvailability(s, s.failures >= OFFLINE_AFTER ? 'offline' : 'degraded', reason);
  }

  private setAvailability(s: DeviceState, state: Availability, reason?: string): void {
    if (s.availability === state) return;
    const previous = s.availability;
    s.availability = state;
    if (previous !== null || state !== 'online') this.log.info({ device: s.device.id, from: previous, to: state, reason }, 'device availability changed');
    this.events.onAvailability(s.device.id, state, reason);
  }
}

export function nextAligned(intervalMs: number, nowMs: number): number {
  return Math.floor(nowMs / intervalMs) * intervalMs + intervalMs;
}

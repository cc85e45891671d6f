import type { Logger } from 'pino';
import type { ModbusBusConfig } from '../../config/schema.js';
import type { DevicePoll } from '../../core/sample.js';
import type { PollClass } from '../../profiles/planner.js';
import type { ModbusReader } from './bus.js';
import { estimateBus, type BusEstimate } from './cycle.js';
import type { ModbusDevice } from './device.js';
import { BusUnreachableError } from './errors.js';
import { readDevice, type Refusal } from './poll.js';

export type Availability = 'online' | 'degraded' | 'offline';

export interface SchedulerEvents {
  onPoll(poll: DevicePoll): void;
  onAvailability(device: string, state: Availability, reason?: string): void;
}

export interface DeviceStats {
  polls: number;
  errors: number;
  /** Ticks a device sat out while backing off. */
  skipped: number;
  /** Backoff probes put off to a later tick because they would have delayed the next one. */
  deferred: number;
  lastLatencyMs: number;
  latencySumMs: number;
}

/** Timers the scheduler needs; tests hand in a fake one. */
export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

export interface SchedulerOptions {
  clock?: Clock;
  /** Upper bound of a failing device's backoff. */
  maxBackoffMs?: number;
}

/** Tick durations kept for takeCycleDurations(); older ones are dropped. */
const CYCLE_LOG = 10_000;

/** Failures in a row before a degraded device is declared offline. */
export const OFFLINE_AFTER = 3;
export const DEFAULT_MAX_BACKOFF_MS = 60_000;
/**
 * A probe of a backing-off device that does not fit before the next tick waits; after this
 * many waits it runs anyway, so a device on a saturated bus is still found when it returns.
 */
const MAX_DEFERRALS = 3;

/** A device read, not yet handed on. */
interface Polled {
  s: DeviceState;
  poll: DevicePoll;
  /** The block the device refused, if it refused one: it is degraded, not online. */
  refused: string | null;
}

interface DeviceState {
  device: ModbusDevice;
  failures: number;
  retryAtMs: number;
  deferrals: number;
  availability: Availability | null;
  /** Filled by readDevice; one per device, so a poll allocates nothing for it. */
  refusal: Refusal;
  stats: DeviceStats;
}

/**
 * Polls every device of one bus on ticks aligned to the wall clock.
 *
 * Failure isolation: a device whose request fails is skipped for the rest of its cycle and
 * backs off (next tick, then 2×, 4×, … its interval). While it backs off it is polled after
 * every healthy device of the tick, only when its timeout still fits before the next tick,
 * and without retries — so a dead device costs the healthy ones nothing but a little bus
 * time at the end of a cycle. A request the device refuses (exception 1, 2 or 3) is not a
 * failure: the device answers, its other blocks are published, and it is degraded while it
 * refuses. A cycle that overruns is counted, and the latest missed tick runs at once; ticks
 * are never queued up.
 */
export class BusScheduler {
  readonly overruns = { count: 0 };
  /** Ticks run, and how long the last one took from its aligned start to its last answer. */
  readonly cycles = { count: 0, lastMs: 0 };
  readonly estimate: BusEstimate | null;
  private cycleLog: number[] = [];
  private readonly states: DeviceState[];
  private readonly clock: Clock;
  private readonly maxBackoffMs: number;
  private readonly intervals: number[];
  private cancelTimer: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private lastTickMs = 0;
  /** Polls read and not yet handed on (see handOnSoon). */
  private handing: Polled[] = [];
  private handingScheduled = false;

  constructor(
    private readonly bus: ModbusReader & { readonly config?: ModbusBusConfig },
    devices: ModbusDevice[],
    private readonly events: SchedulerEvents,
    private readonly log: Logger,
    options: SchedulerOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    this.states = devices.map((device) => ({
      device, failures: 0, retryAtMs: 0, deferrals: 0, availability: null, refusal: { error: null },
      stats: { polls: 0, errors: 0, skipped: 0, deferred: 0, lastLatencyMs: 0, latencySumMs: 0 },
    }));
    this.intervals = [...new Set(devices.flatMap((d) => d.classes.map((c) => c.intervalMs)))].sort((a, b) => a - b);
    this.estimate = bus.config ? estimateBus(bus.config, devices) : null;
  }

  get busId(): string {
    return this.bus.id;
  }

  /** Tick durations (ms, from the aligned tick time) since the last call; for benchmarks and histograms. */
  takeCycleDurations(): number[] {
    const out = this.cycleLog;
    this.cycleLog = [];
    return out;
  }

  deviceStats(): Array<{ device: string; availability: Availability | null } & DeviceStats> {
    return this.states.map((s) => ({ device: s.device.id, availability: s.availability, ...s.stats }));
  }

  start(): void {
    const e = this.estimate;
    if (e && !e.fits) {
      // The tick that does not fit: the busiest one, or, with intervals that do not divide
      // each other, one with a tick of another interval soon after it.
      this.log.warn({
        bus: this.bus.id, requests: e.worstTickRequests, cycleMs: Math.round(e.worstTickMs), intervalMs: e.fastestIntervalMs,
        tickNeedsMs: Math.round(e.tightest?.needMs ?? e.worstTickMs), nextTickAfterMs: e.tightest?.gapMs ?? e.fastestIntervalMs,
      }, 'modbus bus cannot fit its planned cycle in the poll interval');
    }
    if (this.intervals.length === 0) return;
    this.lastTickMs = this.clock.now();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    await this.running;
  }

  /** Polls every device once now with all its classes, whatever its schedule or backoff. */
  async pollAllOnce(): Promise<void> {
    const tickMs = this.clock.now();
    for (const s of this.states) await this.pollDevice(s, s.device.classes, tickMs, s.device.retries);
  }

  private schedule(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    let next = Math.min(...this.intervals.map((i) => nextAligned(i, this.lastTickMs)));
    if (next - now > 2 * this.intervals[0]!) {
      // The next tick is further away than two intervals: the wall clock was stepped back (NTP
      // correcting a clock that ran fast). Waiting for it would stop the bus until the clock
      // caught up again; the ticks follow the new clock, and backoffs keep what they had left.
      // (Not one interval: a timer fires up to a millisecond before the wall clock reaches its
      // time, and a tick with nothing to read is over by then, one interval and a bit before
      // the next. Taken for a step back, that tick ran again.)
      const stepMs = this.lastTickMs - now;
      this.log.warn({ bus: this.bus.id, stepMs }, 'wall clock went back, modbus ticks follow it');
      for (const s of this.states) if (s.retryAtMs > 0) s.retryAtMs -= stepMs;
      this.lastTickMs = now;
      next = Math.min(...this.intervals.map((i) => nextAligned(i, now)));
    }
    if (next > now) {
      this.cancelTimer = this.clock.setTimer(() => this.run(next), next - now);
      return;
    }
    // The last tick ran past one or more ticks: count them, run only the latest one now.
    const latest = Math.max(...this.intervals.map((i) => Math.floor(now / i) * i));
    this.overruns.count += 1;
    if (this.overruns.count === 1 || this.overruns.count % 100 === 0) {
      this.log.warn({ bus: this.bus.id, overruns: this.overruns.count, lateMs: now - next }, 'modbus bus cycle overran its interval');
    }
    this.cancelTimer = this.clock.setTimer(() => this.run(latest), 0);
  }

  private run(tickMs: number): void {
    this.cancelTimer = null;
    const previousTickMs = this.lastTickMs;
    this.lastTickMs = tickMs;
    // Nothing awaits a tick but stop(): whatever it throws is logged, never left to end the process.
    this.running = this.tick(previousTickMs, tickMs).catch((err: unknown) => {
      this.log.error({ err, bus: this.bus.id }, 'modbus bus tick failed');
    }).finally(() => {
      const ms = this.clock.now() - tickMs;
      this.cycles.count += 1;
      this.cycles.lastMs = ms;
      if (this.cycleLog.length < CYCLE_LOG) this.cycleLog.push(ms);
      this.running = null;
      this.schedule();
    });
  }

  private async tick(previousTickMs: number, tickMs: number): Promise<void> {
    const healthy: Array<[DeviceState, PollClass[]]> = [];
    const probes: Array<[DeviceState, PollClass[]]> = [];
    for (const s of this.states) {
      const due = dueClasses(s.device.classes, previousTickMs, tickMs);
      if (due.length === 0) continue;
      if (s.failures === 0) healthy.push([s, due]);
      else if (tickMs >= s.retryAtMs) probes.push([s, due]);
      else s.stats.skipped += 1;
    }
    // Each device's request goes out before the previous device's poll is handed on: the bus
    // waits for an answer while the gateway works on the last one, instead of idling. The
    // hand-on itself waits for the end of the event loop's I/O phase, so that every bus whose
    // answer came in the same turn has its next request on the line before the gateway spends
    // its time on the polls.
    let ready: Polled | null = null;
    try {
      for (const [s, due] of healthy) {
        if (this.stopped) return;
        const reading = this.readPoll(s, due, tickMs, s.device.retries);
        const last = ready;
        ready = null;
        if (last !== null) this.handOnSoon(last);
        ready = await reading;
      }
    } finally {
      if (ready !== null) this.handing.push(ready);
      this.handOnWaiting();
    }
    const nextTickMs = Math.min(...this.intervals.map((i) => nextAligned(i, tickMs)));
    for (const [s, due] of probes) {
      if (this.stopped) return;
      // A probe ends at its first failed request, so it costs at most about one timeout;
      // it only runs when that cannot push the next tick back.
      if (this.clock.now() + s.device.timeoutMs > nextTickMs && s.deferrals < MAX_DEFERRALS) {
        s.deferrals += 1;
        s.stats.deferred += 1;
        continue;
      }
      s.deferrals = 0;
      await this.pollDevice(s, due, tickMs, 0);
    }
  }

  private async pollDevice(s: DeviceState, classes: PollClass[], tickMs: number, retries: number): Promise<void> {
    const polled = await this.readPoll(s, classes, tickMs, retries);
    if (polled !== null) this.handOn(polled);
  }

  /** Reads one device; null when it failed (counted, backing off). Never rejects. */
  private async readPoll(s: DeviceState, classes: PollClass[], tickMs: number, retries: number): Promise<Polled | null> {
    const startedMs = this.clock.now();
    let values;
    try {
      values = await readDevice(this.bus, s.device, classes, retries, s.refusal);
    } catch (err) {
      this.onFailure(s, err, tickMs);
      return null;
    }
    const latency = this.clock.now() - startedMs;
    s.stats.polls += 1;
    s.stats.lastLatencyMs = latency;
    s.stats.latencySumMs += latency;
    s.failures = 0;
    s.retryAtMs = 0;
    if (s.refusal.split !== undefined) {
      // Once per block: the device reads it in smaller requests from now on, more per poll.
      this.log.info({ bus: this.bus.id, device: s.device.id, blocks: s.refusal.split }, 'device refused a block whole (a hole in its map, or more registers than it answers at once); reading it in smaller requests (max_gap: 0 or a lower max_registers on the device plans them so)');
    }
    if (s.refusal.shortened !== undefined) {
      this.log.info({ bus: this.bus.id, device: s.device.id, blocks: s.refusal.shortened }, 'device did not answer a block whole but answers it in shorter reads (it ignores reads longer than it serves); reading it so from now on (a lower max_registers on the device plans them so)');
    }
    const refused = s.refusal.error === null ? null : s.refusal.error.message;
    return { s, poll: { device: s.device.id, tsMs: Math.max(tickMs, startedMs), values }, refused };
  }

  /** Hands the poll on after the I/O callbacks of this turn of the event loop (in order). */
  private handOnSoon(polled: Polled): void {
    this.handing.push(polled);
    if (!this.handingScheduled) {
      this.handingScheduled = true;
      setImmediate(this.handOnWaitingBound);
    }
  }

  private readonly handOnWaitingBound = () => {
    this.handingScheduled = false;
    this.handOnWaiting();
  };

  /** Hands on the waiting polls now, oldest first. */
  private handOnWaiting(): void {
    if (this.handing.length === 0) return;
    const polls = this.handing;
    this.handing = [];
    for (const p of polls) this.handOn(p);
  }

  /**
   * A device's poll, to whoever listens. A listener that throws does not stop the bus. A
   * device that refused a block answers, but not all of its points: degraded.
   */
  private handOn({ s, poll, refused }: Polled): void {
    try {
      if (refused === null) this.setAvailability(s, 'online');
      else this.setAvailability(s, 'degraded', refused);
      this.events.onPoll(poll);
    } catch (err) {
      this.log.error({ err, device: s.device.id, bus: this.bus.id }, 'handing on a modbus poll failed');
    }
  }

  private onFailure(s: DeviceState, err: unknown, tickMs: number): void {
    s.failures += 1;
    s.stats.errors += 1;
    // Try again at the next tick after the first failure, then back off exponentially,
    // counted in ticks from the one that failed. Not while the bus itself is unreachable: the
    // device was not asked, the bus spaces its own connection attempts, and polls that fail at
    // once cost nothing — while a backoff earned during an outage kept every device behind the
    // bus away for up to maxBackoffMs after it was back.
    const unreachable = err instanceof BusUnreachableError;
    const backoff = s.failures === 1 || unreachable ? 0 : Math.min(this.maxBackoffMs, s.device.intervalMs * 2 ** (s.failures - 1));
    s.retryAtMs = tickMs + backoff;
    const reason = err instanceof Error ? err.message : String(err);
    if (s.failures === 1) this.log.warn({ device: s.device.id, bus: this.bus.id, err: reason }, 'modbus device poll failed');
    this.setAvailability(s, s.failures >= OFFLINE_AFTER ? 'offline' : 'degraded', reason);
  }

  private setAvailability(s: DeviceState, state: Availability, reason?: string): void {
    if (s.availability === state) return;
    const previous = s.availability;
    s.availability = state;
    if (previous !== null || state !== 'online') this.log.info({ device: s.device.id, bus: this.bus.id, from: previous, to: state, reason }, 'device availability changed');
    // A listener that throws (a publisher in trouble) must not stop the bus: from a failed
    // poll its error escaped the tick as a rejected promise nobody awaits, which ends the process.
    try {
      this.events.onAvailability(s.device.id, state, reason);
    } catch (err) {
      this.log.error({ err, device: s.device.id, bus: this.bus.id, state }, 'modbus availability listener failed');
    }
  }
}

/**
 * The classes due at this tick: those with a boundary of their interval since the last tick
 * ran, on it or in the ticks an overrun skipped. (Only `tickMs % interval === 0` starved a
 * slow class on a bus that overruns: the skipped ticks can be the very ones on its
 * boundaries, and 15 s counters went unread for minutes.) Usually all of them (one class per
 * device): then the device's own array, so a tick allocates nothing per device and the
 * poll's compiled plan is found at once.
 */
function dueClasses(classes: PollClass[], previousTickMs: number, tickMs: number): PollClass[] {
  let due = 0;
  for (const c of classes) if (isDue(c.intervalMs, previousTickMs, tickMs)) due += 1;
  if (due === classes.length) return classes;
  return classes.filter((c) => isDue(c.intervalMs, previousTickMs, tickMs));
}

/** Whether a boundary of `intervalMs` lies in (previousTickMs, tickMs]. */
function isDue(intervalMs: number, previousTickMs: number, tickMs: number): boolean {
  return Math.floor(tickMs / intervalMs) > Math.floor(previousTickMs / intervalMs);
}

/** The first tick of `intervalMs` strictly after `nowMs`, aligned to the wall clock. */
export function nextAligned(intervalMs: number, nowMs: number): number {
  return Math.floor(nowMs / intervalMs) * intervalMs + intervalMs;
}

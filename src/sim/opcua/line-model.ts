// The physics of the simulated production line, without any OPC UA: advanced by
// `step(nowMs)`, so it keeps producing while the simulated server is down (a restart
// must not reset the plant) and can be tested without a clock.

export const MACHINE_STATE = { stopped: 0, running: 1, idle: 2 } as const;

export interface LineModelOptions {
  /** Time to make one part while running. Default 1000 ms (60 parts/min). */
  cycleMs?: number;
  /** Every Nth part is scrap. Default 25. 0 disables scrap. */
  scrapEvery?: number;
  /** Running phase length of the run/idle pattern. Default 270 s. */
  runMs?: number;
  /** Idle phase length; 0 keeps the line always running. Default 30 s. */
  idleMs?: number;
  runningPowerW?: number;
  idlePowerW?: number;
  /** Belt speed while running. */
  speedMPerMin?: number;
  /** Counters return to 0 every this many ms (a shift change); off when absent. */
  shiftResetMs?: number;
  /** Starting values, e.g. to model a meter that has run for years. */
  initialEnergyKwh?: number;
  initialGoodParts?: number;
}

export interface LineValues {
  GoodParts: number;
  ScrapParts: number;
  MachineState: number;
  LineSpeed: number;
  Power: number;
  Energy: number;
}

export type LineTag = keyof LineValues;
export const LINE_TAGS: readonly LineTag[] = ['GoodParts', 'ScrapParts', 'MachineState', 'LineSpeed', 'Power', 'Energy'];

/** Change history of one counter, kept so tests can check a reading against the truth. */
interface History { tsMs: number[]; value: number[] }
const HISTORY_MAX = 100_000;

export class LineModel {
  readonly opts: Required<Omit<LineModelOptions, 'shiftResetMs'>> & { shiftResetMs?: number };
  private readonly startMs: number;
  private lastMs: number;
  private runningMs = 0;
  private partsAtReset = 0;
  private scrapAtReset = 0;
  private lastShift = 0;
  private values: LineValues;
  private readonly history: Record<'GoodParts' | 'ScrapParts', History> = {
    GoodParts: { tsMs: [], value: [] },
    ScrapParts: { tsMs: [], value: [] },
  };

  constructor(nowMs: number, options: LineModelOptions = {}) {
    this.opts = {
      cycleMs: options.cycleMs ?? 1000,
      scrapEvery: options.scrapEvery ?? 25,
      runMs: options.runMs ?? 270_000,
      idleMs: options.idleMs ?? 30_000,
      runningPowerW: options.runningPowerW ?? 45_000,
      idlePowerW: options.idlePowerW ?? 6_000,
      speedMPerMin: options.speedMPerMin ?? 12,
      initialEnergyKwh: options.initialEnergyKwh ?? 0,
      initialGoodParts: options.initialGoodParts ?? 0,
      ...(options.shiftResetMs ? { shiftResetMs: options.shiftResetMs } : {}),
    };
    this.startMs = nowMs;
    this.lastMs = nowMs;
    this.values = {
      GoodParts: this.opts.initialGoodParts, ScrapParts: 0, MachineState: MACHINE_STATE.running,
      LineSpeed: this.opts.speedMPerMin, Power: this.opts.runningPowerW, Energy: this.opts.initialEnergyKwh,
    };
    this.record('GoodParts', nowMs);
    this.record('ScrapParts', nowMs);
  }

  get current(): Readonly<LineValues> {
    return this.values;
  }

  /** Advances the model to `nowMs`; returns the tags whose value changed. */
  step(nowMs: number): LineTag[] {
    const dtMs = Math.max(0, nowMs - this.lastMs);
    const before = { ...this.values };
    const running = this.isRunning(nowMs);
    const v = this.values;
    // Energy integrates the power held over the elapsed step (rectangle rule); the
    // step ran in the state the line was in when it began.
    v.Energy += (v.Power * dtMs) / 3_600_000_000;
    if (this.isRunning(this.lastMs)) this.runningMs += dtMs;
    if (this.opts.shiftResetMs) {
      const shift = Math.floor((nowMs - this.startMs) / this.opts.shiftResetMs);
      if (shift !== this.lastShift) {
        this.lastShift = shift;
        this.resetCounters();
      }
    }
    const total = Math.floor(this.runningMs / this.opts.cycleMs);
    const scrapTotal = this.opts.scrapEvery > 0 ? Math.floor(total / this.opts.scrapEvery) : 0;
    v.ScrapParts = scrapTotal - this.scrapAtReset;
    v.GoodParts = this.opts.initialGoodParts + total - scrapTotal - (this.partsAtReset - this.scrapAtReset);
    v.MachineState = running ? MACHINE_STATE.running : MACHINE_STATE.idle;
    v.LineSpeed = running ? this.opts.speedMPerMin : 0;
    // A small deterministic ripple makes power look like a real motor load.
    v.Power = running
      ? Math.round(this.opts.runningPowerW * (1 + 0.02 * Math.sin(nowMs / 7_000)))
      : this.opts.idlePowerW;
    this.lastMs = nowMs;
    const changed = LINE_TAGS.filter((t) => before[t] !== v[t]);
    if (changed.includes('GoodParts')) this.record('GoodParts', nowMs);
    if (changed.includes('ScrapParts')) this.record('ScrapParts', nowMs);
    return changed;
  }

  /** A shift change: part counters restart from zero, energy keeps counting. */
  resetCounters(): void {
    const total = Math.floor(this.runningMs / this.opts.cycleMs);
    this.partsAtReset = total;
    this.scrapAtReset = this.opts.scrapEvery > 0 ? Math.floor(total / this.opts.scrapEvery) : 0;
    (this.opts as { initialGoodParts: number }).initialGoodParts = 0;
  }

  /** The counter value that held at `tsMs` (undefined before the history starts). */
  valueAt(tag: 'GoodParts' | 'ScrapParts', tsMs: number): number | undefined {
    const h = this.history[tag];
    let lo = 0;
    let hi = h.tsMs.length - 1;
    if (hi < 0 || tsMs < (h.tsMs[0] ?? Infinity)) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((h.tsMs[mid] ?? 0) <= tsMs) lo = mid;
      else hi = mid - 1;
    }
    return h.value[lo];
  }

  private isRunning(nowMs: number): boolean {
    if (this.opts.idleMs <= 0) return true;
    const period = this.opts.runMs + this.opts.idleMs;
    return (nowMs - this.startMs) % period < this.opts.runMs;
  }

  private record(tag: 'GoodParts' | 'ScrapParts', tsMs: number): void {
    const h = this.history[tag];
    h.tsMs.push(tsMs);
    h.value.push(this.values[tag]);
    if (h.tsMs.length > HISTORY_MAX) {
      h.tsMs.splice(0, h.tsMs.length - HISTORY_MAX);
      h.value.splice(0, h.value.length - HISTORY_MAX);
    }
  }
}

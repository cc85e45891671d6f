// Maximum demand (需量), reference §6.4: the largest 15-minute average active power in
// a period. Chinese utilities bill the monthly maximum; meters use either fixed
// clock-aligned 15-minute blocks or a 15-minute window sliding by 1 minute (滑差式).
// Both are rebuilt here from exact 1-minute energies. A sliding maximum is always ≥
// the fixed one (TV-7). A window belongs to the period in which it ends (a meter
// updates its demand register at the end of the window).

export const DEMAND_WINDOW_MS = 15 * 60_000;
export const MINUTE_MS = 60_000;

export interface MinuteEnergy {
  startMs: number;
  /** Energy in kWh micro-units. */
  micro: number;
  /** The minute had full coverage. */
  full: boolean;
}

export interface PeriodMax {
  startMs: number;
  endMs: number;
  fixedMaxMicro: number | null;
  fixedAtMs: number | null;
  slidingMaxMicro: number | null;
  slidingAtMs: number | null;
  /** Minutes seen and minutes with full coverage. */
  minutes: number;
  fullMinutes: number;
  /** Windows computed over minutes that were not all fully covered. */
  partialWindows: boolean;
}

export interface DemandState {
  /** The last ≤ 15 consecutive minutes. */
  ring: MinuteEnergy[];
  day?: PeriodMax;
  month?: PeriodMax;
}

export function emptyPeriod(startMs: number, endMs: number): PeriodMax {
  return { startMs, endMs, fixedMaxMicro: null, fixedAtMs: null, slidingMaxMicro: null, slidingAtMs: null, minutes: 0, fullMinutes: 0, partialWindows: false };
}

/** What a 15-minute window yielded when a minute closed. */
export interface DemandWindow {
  startMs: number;
  endMs: number;
  micro: number;
  /** Clock-aligned fixed block (start on a 15-minute boundary of the site clock). */
  fixed: boolean;
  full: boolean;
}

/**
 * Adds one closed minute; returns the 15-minute window ending with it, if the ring now
 * holds 15 consecutive minutes. `isFixedStart` says whether a start instant is a
 * clock-aligned 15-minute boundary in the site zone.
 */
export function pushMinute(state: DemandState, m: MinuteEnergy, isFixedStart: (startMs: number) => boolean): DemandWindow | undefined {
  const last = state.ring[state.ring.length - 1];
  if (last && last.startMs + MINUTE_MS !== m.startMs) state.ring = [];
  state.ring.push(m);
  if (state.ring.length > 15) state.ring.shift();
  if (state.ring.length < 15) return undefined;
  const first = state.ring[0] as MinuteEnergy;
  let micro = 0;
  let full = true;
  for (const x of state.ring) {
    micro += x.micro;
    full &&= x.full;
  }
  return { startMs: first.startMs, endMs: m.startMs + MINUTE_MS, micro, fixed: isFixedStart(first.startMs), full };
}

/** Folds a 15-minute window into a period's maxima (ties keep the earliest). */
export function foldWindow(p: PeriodMax, w: DemandWindow): void {
  if (!w.full) p.partialWindows = true;
  if (p.slidingMaxMicro === null || w.micro > p.slidingMaxMicro) {
    p.slidingMaxMicro = w.micro;
    p.slidingAtMs = w.startMs;
  }
  if (w.fixed && (p.fixedMaxMicro === null || w.micro > p.fixedMaxMicro)) {
    p.fixedMaxMicro = w.micro;
    p.fixedAtMs = w.startMs;
  }
}

/** kWh micro-units over 15 minutes → kW. */
export function demandKw(micro: number | null): number | null {
  return micro === null ? null : micro / 1e6 / (DEMAND_WINDOW_MS / 3_600_000);
}

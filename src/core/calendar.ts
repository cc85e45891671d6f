// Clock-aligned windows in the site timezone.
//
// A window boundary is an instant at which the site's wall clock shows a grid time:
// a multiple of the window length since local midnight (15m, 1h, 1d …), the first of
// a month at 00:00, or a configured shift start. Offsets come from Intl, so DST zones
// work: on a fall-back night the 01:00 wall hour happens twice and gives two 1-hour
// windows; on a spring-forward night the 02:00 boundary does not exist and the window
// that started at 01:00 runs until 03:00 wall time (one hour of real time). Windows
// are therefore identified by their UTC start instant, never by a wall-clock label.

export const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export interface ShiftStart {
  id: string;
  /** Milliseconds after local midnight at which this shift begins. */
  startMsOfDay: number;
}

export type WindowSpec =
  | { kind: 'fixed'; id: string; lenMs: number }
  | { kind: 'month'; id: 'month' }
  | { kind: 'shift'; id: 'shift'; shifts: ShiftStart[] };

const FIXED_RE = /^(\d+)(s|m|h|d)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: HOUR_MS, d: DAY_MS } as const;

/** Parses `10s`…`1d` (must divide a day), `month`, or `shift` (needs shift starts). */
export function parseWindow(text: string, shifts: ShiftStart[] = []): WindowSpec | undefined {
  if (text === 'month') return { kind: 'month', id: 'month' };
  if (text === 'shift') {
    if (shifts.length === 0) return undefined;
    const sorted = [...shifts].sort((a, b) => a.startMsOfDay - b.startMsOfDay);
    return { kind: 'shift', id: 'shift', shifts: sorted };
  }
  const m = FIXED_RE.exec(text);
  if (!m) return undefined;
  const lenMs = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (lenMs < 10_000 || lenMs > DAY_MS || DAY_MS % lenMs !== 0) return undefined;
  return { kind: 'fixed', id: text, lenMs };
}

/** Parses "HH:MM" into milliseconds after midnight. */
export function parseTimeOfDay(text: string): number | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 23 || min > 59) return undefined;
  return h * HOUR_MS + min * 60_000;
}

// ---------------------------------------------------------------- timezone offsets

const formatters = new Map<string, Intl.DateTimeFormat>();
const offsetCache = new Map<string, number>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone, hourCycle: 'h23',
      year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** True when Intl knows the zone. */
export function isValidTimezone(timezone: string): boolean {
  try {
    formatter(timezone);
    return true;
  } catch {
    return false;
  }
}

function intlOffsetMs(timezone: string, secMs: number): number {
  const parts = formatter(timezone).formatToParts(new Date(secMs));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - secMs;
}

// Offsets are cached per 15-minute bucket: when the offsets at both ends of a bucket
// agree, no transition lies inside (zones change offset at most once in months, and
// always on whole minutes), so every instant in it has that offset. Only buckets that
// contain a transition fall back to an exact per-second lookup. Bounded, because the
// core runs for months.
const BUCKET_MS = 15 * 60_000;

function bucketEdgeOffset(timezone: string, edgeMs: number): number {
  const key = `${timezone}|${edgeMs}`;
  let off = offsetCache.get(key);
  if (off === undefined) {
    if (offsetCache.size > 50_000) offsetCache.clear();
    off = intlOffsetMs(timezone, edgeMs);
    offsetCache.set(key, off);
  }
  return off;
}

/** Offset of the zone's wall clock from UTC at instant tMs (wall = t + offset). */
export function tzOffsetMs(timezone: string, tMs: number): number {
  const edge = Math.floor(tMs / BUCKET_MS) * BUCKET_MS;
  const a = bucketEdgeOffset(timezone, edge);
  if (edge === tMs) return a;
  const b = bucketEdgeOffset(timezone, edge + BUCKET_MS);
  if (a === b) return a;
  const secMs = Math.floor(tMs / 1000) * 1000;
  return bucketEdgeOffset(timezone, secMs);
}

// ---------------------------------------------------------------- wall-clock grids

/** Next grid wall time strictly after wall time w (wall times are ms as if UTC). */
function nextGrid(spec: WindowSpec, w: number): number {
  switch (spec.kind) {
    case 'fixed':
      return Math.floor(w / spec.lenMs) * spec.lenMs + spec.lenMs;
    case 'month': {
      const d = new Date(w);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    }
    case 'shift': {
      const day = Math.floor(w / DAY_MS) * DAY_MS;
      const inDay = w - day;
      for (const s of spec.shifts) if (s.startMsOfDay > inDay) return day + s.startMsOfDay;
      return day + DAY_MS + (spec.shifts[0] as ShiftStart).startMsOfDay;
    }
  }
}

/** Latest grid wall time at or before wall time w. */
function floorGrid(spec: WindowSpec, w: number): number {
  switch (spec.kind) {
    case 'fixed':
      return Math.floor(w / spec.lenMs) * spec.lenMs;
    case 'month': {
      const d = new Date(w);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    }
    case 'shift': {
      const day = Math.floor(w / DAY_MS) * DAY_MS;
      const inDay = w - day;
      let best: number | undefined;
      for (const s of spec.shifts) if (s.startMsOfDay <= inDay) best = day + s.startMsOfDay;
      return best ?? day - DAY_MS + (spec.shifts[spec.shifts.length - 1] as ShiftStart).startMsOfDay;
    }
  }
}

function onGrid(spec: WindowSpec, w: number): boolean {
  return floorGrid(spec, w) === w;
}

/** Longest possible window of this spec, with room for a DST hour. */
function maxLenMs(spec: WindowSpec): number {
  switch (spec.kind) {
    case 'fixed': return spec.lenMs;
    case 'month': return 31 * DAY_MS;
    case 'shift': return DAY_MS;
  }
}

/** First instant in (lo, hi] whose offset differs from `off` (offset(hi) must differ). */
function firstOffsetChange(timezone: string, lo: number, hi: number, off: number): number {
  let a = lo;
  let b = hi;
  while (b - a > 1) {
    const mid = a + Math.floor((b - a) / 2);
    if (tzOffsetMs(timezone, mid) === off) a = mid;
    else b = mid;
  }
  return b;
}

/** The first window boundary strictly after instant tMs. */
export function nextBoundary(timezone: string, spec: WindowSpec, tMs: number): number {
  let cur = tMs;
  for (let guard = 0; guard < 8; guard++) {
    const off = tzOffsetMs(timezone, cur);
    const target = nextGrid(spec, cur + off);
    const cand = target - off;
    if (tzOffsetMs(timezone, cand) === off) return cand;
    // The offset changes before the candidate: find the transition instant.
    const tr = firstOffsetChange(timezone, cur, cand, off);
    const wallAtTr = tr + tzOffsetMs(timezone, tr);
    // Spring forward jumps over (or onto) the grid time: the boundary is the jump itself.
    // Fall back landing exactly on a grid time is a boundary too (the repeated hour).
    if (wallAtTr >= target || onGrid(spec, wallAtTr)) return tr;
    cur = tr;
  }
  // Unreachable with real zone data (at most one transition per search span).
  return tMs + maxLenMs(spec);
}

/** Start of the window that contains instant tMs (the latest boundary ≤ tMs). */
export function windowStart(timezone: string, spec: WindowSpec, tMs: number): number {
  const off = tzOffsetMs(timezone, tMs);
  const cand = floorGrid(spec, tMs + off) - off;
  if (tzOffsetMs(timezone, cand) === off) return cand;
  // A transition lies between the grid time and tMs: walk boundaries from safely before.
  let b = nextBoundary(timezone, spec, tMs - maxLenMs(spec) - 4 * HOUR_MS);
  for (;;) {
    const n = nextBoundary(timezone, spec, b);
    if (n > tMs) return b;
    b = n;
  }
}

/** The shift id of the shift window starting at startMs. */
export function shiftIdAt(timezone: string, spec: WindowSpec, startMs: number): string | undefined {
  if (spec.kind !== 'shift') return undefined;
  const w = startMs + tzOffsetMs(timezone, startMs);
  const inDay = floorGrid(spec, w) - Math.floor(floorGrid(spec, w) / DAY_MS) * DAY_MS;
  return spec.shifts.find((s) => s.startMsOfDay === inDay)?.id;
}

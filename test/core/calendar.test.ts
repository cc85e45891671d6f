// Clock-aligned windows in the site zone, including DST zones (the product runs in
// Asia/Shanghai, but exports and multinational sites use the same code).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nextBoundary, parseWindow, shiftIdAt, windowStart, type WindowSpec } from '../../src/core/calendar.js';

const HOUR = 3_600_000;
const spec = (w: string, shifts = [] as Array<{ id: string; startMsOfDay: number }>) => parseWindow(w, shifts) as WindowSpec;

/** All window starts in [from, to). */
function starts(tz: string, s: WindowSpec, from: number, to: number): number[] {
  const out: number[] = [];
  for (let b = windowStart(tz, s, from); b < to; b = nextBoundary(tz, s, b)) out.push(b);
  return out;
}
const wall = (tz: string, t: number) =>
  new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(t));

describe('parseWindow', () => {
  it.each([
    ['10s', true], ['15m', true], ['1h', true], ['1d', true], ['90m', true], ['7m', false], ['5s', false], ['2d', false], ['month', true], ['shift', false], ['x', false],
  ])('%s → %s', (w, ok) => {
    expect(parseWindow(w) !== undefined).toBe(ok);
  });
});

describe('windows in Asia/Shanghai (UTC+8, no DST)', () => {
  const tz = 'Asia/Shanghai';
  it.each([
    ['15m', '2024-05-06T10:07:30+08:00', '2024-05-06T10:00:00+08:00', '2024-05-06T10:15:00+08:00'],
    ['1h', '2024-05-06T10:59:59.999+08:00', '2024-05-06T10:00:00+08:00', '2024-05-06T11:00:00+08:00'],
    ['1d', '2024-05-06T03:00:00+08:00', '2024-05-06T00:00:00+08:00', '2024-05-07T00:00:00+08:00'],
    ['1d', '2024-05-06T00:00:00+08:00', '2024-05-06T00:00:00+08:00', '2024-05-07T00:00:00+08:00'],
    ['month', '2024-02-15T12:00:00+08:00', '2024-02-01T00:00:00+08:00', '2024-03-01T00:00:00+08:00'],
    ['month', '2024-12-31T23:59:59+08:00', '2024-12-01T00:00:00+08:00', '2025-01-01T00:00:00+08:00'],
    ['10s', '2024-05-06T10:07:35+08:00', '2024-05-06T10:07:30+08:00', '2024-05-06T10:07:40+08:00'],
  ])('%s around %s', (w, at, start, end) => {
    const s = windowStart(tz, spec(w), Date.parse(at));
    expect(s).toBe(Date.parse(start));
    expect(nextBoundary(tz, spec(w), s)).toBe(Date.parse(end));
  });

  it('shifts: A 08:00, B 16:00, C 00:00', () => {
    const s = spec('shift', [{ id: 'A', startMsOfDay: 8 * HOUR }, { id: 'B', startMsOfDay: 16 * HOUR }, { id: 'C', startMsOfDay: 0 }]);
    const t = Date.parse('2024-05-06T07:00:00+08:00');
    const st = windowStart(tz, s, t);
    expect(st).toBe(Date.parse('2024-05-06T00:00:00+08:00'));
    expect(shiftIdAt(tz, s, st)).toBe('C');
    expect(nextBoundary(tz, s, st)).toBe(Date.parse('2024-05-06T08:00:00+08:00'));
    const night = windowStart(tz, s, Date.parse('2024-05-06T23:00:00+08:00'));
    expect(shiftIdAt(tz, s, night)).toBe('B');
  });

  it('a night shift spanning midnight (22:00–06:00) is one window', () => {
    const s = spec('shift', [{ id: 'day', startMsOfDay: 6 * HOUR }, { id: 'evening', startMsOfDay: 14 * HOUR }, { id: 'night', startMsOfDay: 22 * HOUR }]);
    const st = windowStart(tz, s, Date.parse('2024-05-07T03:00:00+08:00'));
    expect(st).toBe(Date.parse('2024-05-06T22:00:00+08:00'));
    expect(nextBoundary(tz, s, st)).toBe(Date.parse('2024-05-07T06:00:00+08:00'));
    expect(shiftIdAt(tz, s, st)).toBe('night');
  });
});

describe('DST zones', () => {
  it('Europe/Berlin spring forward: 23 hourly windows, 02:00 does not exist, the day is 23 h', () => {
    const tz = 'Europe/Berlin';
    const day = Date.parse('2024-03-31T00:00:00+01:00');
    const next = Date.parse('2024-04-01T00:00:00+02:00');
    const hours = starts(tz, spec('1h'), day, next);
    expect(hours).toHaveLength(23);
    expect(hours.map((t) => wall(tz, t))).not.toContain('02:00');
    expect(nextBoundary(tz, spec('1d'), day) - day).toBe(23 * HOUR);
    expect(starts(tz, spec('15m'), day, next)).toHaveLength(92);
  });

  it('Europe/Berlin fall back: 25 hourly windows, the 02:00 wall hour twice, the day is 25 h', () => {
    const tz = 'Europe/Berlin';
    const day = Date.parse('2024-10-27T00:00:00+02:00');
    const next = Date.parse('2024-10-28T00:00:00+01:00');
    const hours = starts(tz, spec('1h'), day, next);
    expect(hours).toHaveLength(25);
    expect(hours.map((t) => wall(tz, t)).filter((w) => w === '02:00')).toHaveLength(2);
    expect(hours.every((t, i) => i === 0 || t - (hours[i - 1] as number) === HOUR)).toBe(true);
    expect(nextBoundary(tz, spec('1d'), day) - day).toBe(25 * HOUR);
  });

  it('America/New_York 6-hour windows stay on the wall clock across DST', () => {
    const tz = 'America/New_York';
    const day = Date.parse('2024-03-10T00:00:00-05:00');
    const ws = starts(tz, spec('6h'), day, Date.parse('2024-03-11T00:00:00-04:00'));
    expect(ws.map((t) => wall(tz, t))).toEqual(['00:00', '06:00', '12:00', '18:00']);
  });

  it('Asia/Kolkata (UTC+05:30): hours start on the local hour', () => {
    const t = windowStart('Asia/Kolkata', spec('1h'), Date.parse('2024-05-06T10:20:00+05:30'));
    expect(t).toBe(Date.parse('2024-05-06T10:00:00+05:30'));
  });

  it('property: windows tile time in every zone (start ≤ t < end, boundaries consistent)', () => {
    const zones = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'America/Santiago', 'Asia/Kolkata', 'UTC'];
    const windows = ['10s', '1m', '15m', '1h', '2h', '6h', '1d', 'month'];
    fc.assert(fc.property(
      fc.constantFrom(...zones), fc.constantFrom(...windows),
      fc.integer({ min: Date.parse('2020-01-01T00:00:00Z'), max: Date.parse('2030-01-01T00:00:00Z') }),
      (tz, w, t) => {
        const s = spec(w);
        const a = windowStart(tz, s, t);
        const b = nextBoundary(tz, s, a);
        expect(a).toBeLessThanOrEqual(t);
        expect(b).toBeGreaterThan(t);
        expect(nextBoundary(tz, s, t)).toBe(b);
        expect(windowStart(tz, s, b)).toBe(b);
        expect(windowStart(tz, s, b - 1)).toBe(a);
      },
    ), { numRuns: 3000 });
  });

  it('property: the same holds right around DST transitions', () => {
    const transitions = [
      ['Europe/Berlin', '2024-03-31T01:00:00Z'], ['Europe/Berlin', '2024-10-27T01:00:00Z'],
      ['America/New_York', '2024-03-10T07:00:00Z'], ['America/New_York', '2024-11-03T06:00:00Z'],
      ['Australia/Lord_Howe', '2024-04-06T15:00:00Z'], ['America/Santiago', '2024-04-07T03:00:00Z'], ['America/Santiago', '2024-09-08T04:00:00Z'],
    ] as const;
    fc.assert(fc.property(
      fc.constantFrom(...transitions), fc.constantFrom('10s', '15m', '30m', '1h', '2h', '3h', '1d', 'month'), fc.integer({ min: -6 * HOUR, max: 6 * HOUR }),
      ([tz, at], w, off) => {
        const s = spec(w);
        const t = Date.parse(at) + off;
        const a = windowStart(tz, s, t);
        const b = nextBoundary(tz, s, a);
        expect(a).toBeLessThanOrEqual(t);
        expect(b).toBeGreaterThan(t);
        expect(windowStart(tz, s, b)).toBe(b);
        expect(windowStart(tz, s, b - 1)).toBe(a);
      },
    ), { numRuns: 3000 });
  });
});

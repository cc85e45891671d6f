// TV-6 (reference §7) at the level of the pure counter rules, plus the hold-and-confirm
// behaviour around it. Values are written in register units; the rules work in
// integer micro-units.
import { describe, expect, it } from 'vitest';
import { stepCounter, type CounterRules, type CounterState, type CounterEvent } from '../../src/core/counter.js';

const M = 1e6;
const MIN = 60_000;

interface RuleSpec { modulus?: number; jitter?: number; maxRatePerHour?: number; resetTo?: number }
const rules = (r: RuleSpec): CounterRules => ({
  modulusMicro: r.modulus === undefined ? undefined : r.modulus * M,
  jitterMicro: (r.jitter ?? 0.02) * M,
  maxRatePerHourMicro: r.maxRatePerHour === undefined ? undefined : r.maxRatePerHour * M,
  rolloverFraction: 0.1,
  resetToMicro: r.resetTo === undefined ? undefined : r.resetTo * M,
});

function run(spec: RuleSpec, readings: Array<[number, number]>) {
  let state: CounterState | undefined;
  const deltas: number[] = [];
  const events: CounterEvent['type'][] = [];
  const flags: string[] = [];
  for (const [tsMs, value] of readings) {
    const step = stepCounter(rules(spec), state, { tsMs, micro: Math.round(value * M) });
    state = step.state;
    for (const d of step.deltas) {
      deltas.push(d.micro / M);
      flags.push(...d.flags);
    }
    events.push(...step.events.map((e) => e.type));
  }
  return { deltas, total: deltas.reduce((a, b) => a + b, 0), events, flags, state };
}

describe('TV-6 counter handling', () => {
  const cases: Array<{ name: string; spec: RuleSpec; readings: Array<[number, number]>; total: number; events: string[] }> = [
    { name: '9-digit register rollover (M = 1e8)', spec: { modulus: 1e8 }, readings: [[0, 99_999_950.0], [15 * MIN, 30.5]], total: 80.5, events: ['rollover'] },
    { name: '9-digit rollover with a rate limit', spec: { modulus: 1e8, maxRatePerHour: 2_000 * 1.2 }, readings: [[0, 99_999_950.0], [15 * MIN, 30.5]], total: 80.5, events: ['rollover'] },
    { name: 'uint32 raw count (M = 2^32)', spec: { modulus: 4_294_967_296, jitter: 2 }, readings: [[0, 4_294_967_000], [MIN, 200]], total: 496, events: ['rollover'] },
    { name: 'DL/T 645 XXXXXX.XX (M = 1e6)', spec: { modulus: 1_000_000 }, readings: [[0, 999_990.0], [15 * MIN, 12.34]], total: 22.34, events: ['rollover'] },
    { name: 'negative jitter keeps the high-water mark', spec: {}, readings: [[0, 1000.0], [MIN, 999.99], [2 * MIN, 1000.05]], total: 0.05, events: [] },
    { name: 'jitter across the wrap (0.00 read as 999,999.99) keeps the high-water mark, not a modulus', spec: { modulus: 1e6, maxRatePerHour: 4_800 }, readings: [[0, 0.0], [MIN, 999_999.99], [2 * MIN, 0.0], [3 * MIN, 0.05]], total: 0.05, events: [] },
    { name: 'spike glitch dropped (Pmax 2000 kW, k 1.2 → 600 kWh per 15 min)', spec: { maxRatePerHour: 2_000 * 1.2 }, readings: [[0, 10_000], [15 * MIN, 19_000], [30 * MIN, 10_450]], total: 450, events: ['spike_dropped'] },
    { name: 'large drop not near the top of the range: reset, no delta across it', spec: { modulus: 1e8 }, readings: [[0, 52_000.0], [MIN, 3.0], [2 * MIN, 4.0]], total: 1.0, events: ['reset'] },
  ];
  it.each(cases)('$name', ({ spec, readings, total, events }) => {
    const r = run(spec, readings);
    expect(r.total).toBeCloseTo(total, 9);
    expect(r.events).toEqual(events);
  });

  it('a backlog after an outage is confirmed by the next reading, not dropped', () => {
    // 15 minutes at most 600 kWh; 1800 kWh arrive at once (meter buffered), level persists.
    const r = run({ maxRatePerHour: 2_400 }, [[0, 10_000], [15 * MIN, 11_800], [16 * MIN, 11_830]]);
    expect(r.total).toBe(1_830);
    expect(r.events).toEqual(['spike_confirmed']);
  });

  it('a glitchy zero read does not become a reset (evcc #30267)', () => {
    const r = run({ modulus: 1e8 }, [[0, 53_000], [MIN, 0], [2 * MIN, 53_001]]);
    expect(r.total).toBe(1);
    expect(r.events).toEqual(['spike_dropped']);
  });

  it('a PLC part counter reset at shift change counts from the restart value, never negative', () => {
    const r = run({ resetTo: 0, jitter: 0.5 }, [[0, 980], [MIN, 995], [2 * MIN, 4], [3 * MIN, 9]]);
    // 15 before the reset, 4 counted since the reset (exact), 5 after
    expect(r.deltas).toEqual([15, 4, 5]);
    expect(r.events).toEqual(['reset']);
    expect(r.deltas.every((d) => d >= 0)).toBe(true);
  });

  it('a wrap far from the top of the range is not a rollover', () => {
    const r = run({ modulus: 1e8 }, [[0, 50_000_000], [MIN, 10], [2 * MIN, 11]]);
    expect(r.events).toEqual(['reset']);
    expect(r.total).toBe(1);
  });

  it('a rollover whose wrapped delta is implausible is a reset', () => {
    // near the top, but 1e8 − 99,999,000 + 5,000 = 6,000 kWh in one minute > 2,400 kWh/h
    const r = run({ modulus: 1e8, maxRatePerHour: 2_400 }, [[0, 99_999_000], [MIN, 5_000], [2 * MIN, 5_001]]);
    expect(r.events).toEqual(['reset']);
  });

  it('ignores readings older than the last accepted one', () => {
    const r = run({}, [[2 * MIN, 100], [MIN, 90], [3 * MIN, 101]]);
    expect(r.total).toBe(1);
    expect(r.events).toEqual(['out_of_order']);
  });
});

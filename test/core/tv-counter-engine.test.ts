// TV-6 rows that need the whole engine (CT/PT, replacement, gap distribution) and
// TV-7 (demand), reference §7.
import { describe, expect, it } from 'vitest';
import { createEngine, type EngineConfig } from '../../src/core/engine.js';
import type { EngineRecord } from '../../src/core/records.js';
import { HOUR, MIN, demandRecords, energyRecords, eventRecords, poll, shanghaiMidnight } from './support.js';

const D0 = shanghaiMidnight(2024, 5, 6);

const oneMeter = (over: Partial<EngineConfig> = {}): EngineConfig => ({
  timezone: 'Asia/Shanghai',
  graceMs: 5_000,
  accounts: [{ id: 'a', carrier: 'electricity', meters: [{ device: 'm', point: 'active_energy_import_total', sign: 1, use: 'power' }], windows: ['15m', '1h', '1d'] }],
  enpi: [],
  ...over,
});

function feed(cfg: EngineConfig, readings: Array<[number, number]>, until: number, between?: (e: ReturnType<typeof createEngine>, i: number) => EngineRecord[]) {
  const e = createEngine(cfg);
  const out: EngineRecord[] = [];
  readings.forEach(([t, v], i) => {
    out.push(...(between?.(e, i) ?? []));
    out.push(...e.ingest(poll('m', t, { active_energy_import_total: v })), ...e.advance(t));
  });
  out.push(...e.advance(until));
  return { e, out };
}

describe('TV-6 through the engine', () => {
  it('CT/PT multiplier: secondary Δ 12.34 kWh × (300/5) × (10000/100) = 74,040 kWh', () => {
    const cfg = oneMeter({ channels: [{ device: 'm', point: 'active_energy_import_total', multipliers: [{ from: '2024-01-01', ct: '300/5', pt: '10000/100' }] }] });
    const { out } = feed(cfg, [[D0, 100], [D0 + 10 * MIN, 112.34]], D0 + HOUR + 5_000);
    expect(energyRecords(out, '1h')[0]?.quantity).toBe(74_040);
  });

  it('a CT change applies from its date only: history is not rescaled', () => {
    const cfg = oneMeter({
      channels: [{ device: 'm', point: 'active_energy_import_total', multipliers: [
        { from: '2024-01-01', ct: '100/5' },
        { from: '2024-05-06T00:30:00+08:00', ct: '200/5' },
      ] }],
    });
    const { out } = feed(cfg, [[D0, 0], [D0 + 15 * MIN, 1], [D0 + 30 * MIN, 2], [D0 + 45 * MIN, 3]], D0 + HOUR + 5_000);
    expect(energyRecords(out, '15m').map((r) => r.quantity)).toEqual([20, 20, 40, 0]);
  });

  it('meter replacement: (45,678.9 − 45,600.0) + (12.3 − 0.0) = 91.2, recorded after the new meter reported', () => {
    const { out } = feed(oneMeter(), [[D0, 45_600.0], [D0 + 20 * MIN, 0.0], [D0 + 40 * MIN, 12.3]], D0 + HOUR + 5_000, (e, i) =>
      i === 2 ? e.recordReplacement({ device: 'm', point: 'active_energy_import_total', ts_ms: D0 + 10 * MIN, old_final: 45_678.9, new_initial: 0.0, old_serial: 'A1', new_serial: 'B2' }) : []);
    expect(energyRecords(out, '1h')[0]?.quantity).toBeCloseTo(91.2, 9);
    expect(energyRecords(out, '1h')[0]?.flags).toContain('replaced');
    const repl = eventRecords(out).filter((r) => r.type === 'replacement');
    expect(repl).toHaveLength(1);
    // the record credits the old meter's last 78.9; the new meter's 12.3 is counted as usual
    expect(repl[0]?.delta).toBeCloseTo(78.9, 9);
  });

  it('meter replacement recorded before the new meter reports, and redelivered twice', () => {
    const { out } = feed(oneMeter(), [[D0, 45_600.0], [D0 + 20 * MIN, 0.0], [D0 + 40 * MIN, 12.3]], D0 + HOUR + 5_000, (e, i) => {
      if (i !== 1) return [];
      const r = { device: 'm', point: 'active_energy_import_total', ts_ms: D0 + 10 * MIN, old_final: 45_678.9, new_initial: 0.0 };
      return [...e.recordReplacement(r), ...e.recordReplacement(r)];
    });
    expect(energyRecords(out, '1h')[0]?.quantity).toBeCloseTo(91.2, 9);
    expect(eventRecords(out).filter((r) => r.type === 'replacement')).toHaveLength(1);
    expect(eventRecords(out).filter((r) => r.type === 'reset')).toHaveLength(0);
  });

  it('meter replacement recorded after the reset was already confirmed', () => {
    const { out } = feed(oneMeter(), [[D0, 45_600.0], [D0 + 20 * MIN, 0.0], [D0 + 30 * MIN, 5.0], [D0 + 40 * MIN, 12.3]], D0 + HOUR + 5_000, (e, i) =>
      i === 3 ? e.recordReplacement({ device: 'm', point: 'active_energy_import_total', ts_ms: D0 + 10 * MIN, old_final: 45_678.9, new_initial: 0.0 }) : []);
    expect(eventRecords(out).map((r) => r.type)).toEqual(['reset', 'replacement']);
    expect(energyRecords(out, '1h')[0]?.quantity).toBeCloseTo(91.2, 9);
  });

  it('meter replacement whose stated time is a little early: old-meter readings after it are not a new meter', () => {
    // Swap written down as 00:10, but the old meter was still read at 00:12 (45,650.0).
    const { out } = feed(oneMeter(), [[D0, 45_600.0], [D0 + 12 * MIN, 45_650.0], [D0 + 20 * MIN, 0.0], [D0 + 40 * MIN, 12.3]], D0 + HOUR + 5_000, (e, i) =>
      i === 2 ? e.recordReplacement({ device: 'm', point: 'active_energy_import_total', ts_ms: D0 + 10 * MIN, old_final: 45_678.9, new_initial: 0.0 }) : []);
    // (45,678.9 − 45,600.0) + 12.3, not a jump of 45,678.9 for a "new meter" at 45,650.0
    expect(energyRecords(out, '1h')[0]?.quantity).toBeCloseTo(91.2, 9);
    expect(eventRecords(out).filter((r) => r.type === 'reset')).toHaveLength(0);
  });

  it('meter replacement stated a little late: the new meter\'s readings since the reset are not the old meter\'s', () => {
    // The first new reading is stamped 00:20 (its poll tick) but the swap was written
    // down as 00:20:30; the request arrives after two more new-meter readings.
    const { out } = feed(oneMeter(), [[D0, 45_600.0], [D0 + 20 * MIN, 0.0], [D0 + 30 * MIN, 5.0], [D0 + 40 * MIN, 12.3]], D0 + HOUR + 5_000, (e, i) =>
      i === 3 ? e.recordReplacement({ device: 'm', point: 'active_energy_import_total', ts_ms: D0 + 20 * MIN + 30_000, old_final: 45_678.9, new_initial: 0.0 }) : []);
    expect(energyRecords(out, '1h')[0]?.quantity).toBeCloseTo(91.2, 9);
    expect(eventRecords(out).find((r) => r.type === 'replacement')?.delta).toBeCloseTo(78.9, 9);
  });

  it('meter replacement stated a little late while the new meter\'s first reading is still held', () => {
    const { out } = feed(oneMeter(), [[D0, 45_600.0], [D0 + 20 * MIN, 0.0], [D0 + 40 * MIN, 12.3]], D0 + HOUR + 5_000, (e, i) =>
      i === 2 ? e.recordReplacement({ device: 'm', point: 'active_energy_import_total', ts_ms: D0 + 21 * MIN, old_final: 45_678.9, new_initial: 0.0 }) : []);
    expect(energyRecords(out, '1h')[0]?.quantity).toBeCloseTo(91.2, 9);
    expect(eventRecords(out).filter((r) => r.type === 'reset')).toHaveLength(0);
  });

  it('a reset long before a replacement is not taken for it', () => {
    // The meter was reset (by a tamper or a firmware update) at 00:20 and counted on to
    // 300.0; it is replaced at 02:30 reading 310.0, and the new one reads 4.0 at 02:45.
    const { out } = feed(oneMeter(), [[D0, 45_600.0], [D0 + 20 * MIN, 0.0], [D0 + 30 * MIN, 5.0], [D0 + 2 * HOUR + 20 * MIN, 300.0], [D0 + 2 * HOUR + 45 * MIN, 4.0]], D0 + 3 * HOUR + 5_000, (e, i) =>
      i === 4 ? e.recordReplacement({ device: 'm', point: 'active_energy_import_total', ts_ms: D0 + 2 * HOUR + 30 * MIN, old_final: 310.0, new_initial: 0.0 }) : []);
    // 5.0 + 295.0 counted after the reset, then 10.0 + 4.0 across the swap; nothing across the old reset
    const total = energyRecords(out, '1h').reduce((acc, r) => acc + (r.quantity ?? 0), 0);
    expect(total).toBeCloseTo(314.0, 9);
  });

  it('gap: 00:00 = 5,000.0 and 01:00 = 5,600.0 → hour 600 exact, four quarters of 150 flagged estimated', () => {
    const { out } = feed(oneMeter(), [[D0, 5_000.0], [D0 + HOUR, 5_600.0]], D0 + HOUR + 5_000);
    expect(energyRecords(out, '1h').map((r) => [r.quantity, r.estimated])).toEqual([[600, false]]);
    const q = energyRecords(out, '15m');
    expect(q.map((r) => r.quantity)).toEqual([150, 150, 150, 150]);
    expect(q.every((r) => r.flags.includes('estimated_distribution') && r.estimated && r.coverage === 0)).toBe(true);
  });

  it('large drop not near the top: RESET event, no delta', () => {
    const cfg = oneMeter({ channels: [{ device: 'm', point: 'active_energy_import_total', counter: { modulus: 1e8 } }] });
    const { out } = feed(cfg, [[D0, 52_000.0], [D0 + 5 * MIN, 3.0], [D0 + 10 * MIN, 3.0]], D0 + HOUR + 5_000);
    expect(eventRecords(out).map((r) => [r.type, r.delta])).toEqual([['reset', null]]);
    expect(energyRecords(out, '1h')[0]?.quantity).toBe(0);
    expect(energyRecords(out, '15m')[0]?.flags).toContain('reset');
  });

  it('counter.max written as the largest shown value (99999999.9) wraps at 1e8', () => {
    const cfg = oneMeter({ channels: [{ device: 'm', point: 'active_energy_import_total', counter: { max: 99_999_999.9 } }] });
    const { out } = feed(cfg, [[D0, 99_999_950.0], [D0 + 5 * MIN, 30.5]], D0 + HOUR + 5_000);
    expect(energyRecords(out, '1h')[0]?.quantity).toBe(80.5);
  });
});

describe('TV-7 demand', () => {
  // 1-minute readings; 1,000 kW for minutes 0–9, 1,600 kW for 10–19, 1,000 kW for 20–29.
  const kwAt = (minute: number) => (minute >= 10 && minute < 20 ? 1_600 : 1_000);

  it('fixed 15-minute blocks give 1,200 kW; sliding (1-minute step) gives 1,400 kW at [5, 20)', () => {
    const cfg = oneMeter({ accounts: [{ id: 'a', carrier: 'electricity', demand: true, meters: [{ device: 'm', point: 'active_energy_import_total', sign: 1, use: 'power' }], windows: ['15m'] }] });
    const readings: Array<[number, number]> = [];
    let e = 10_000;
    readings.push([D0, e]);
    for (let m = 0; m < 30; m++) {
      e += kwAt(m) / 60;
      readings.push([D0 + (m + 1) * MIN, Math.round(e * 1e6) / 1e6]);
    }
    // the rest of the day idle at one reading per hour, then the day closes
    for (let h = 1; h <= 24; h++) readings.push([D0 + h * HOUR, Math.round(e * 1e6) / 1e6]);
    const { out } = feed(cfg, readings, D0 + 24 * HOUR + 5_000);
    const day = demandRecords(out).find((r) => r.window === '1d');
    expect(day?.fixed_max_kw).toBeCloseTo(1_200, 6);
    expect(day?.sliding_max_kw).toBeCloseTo(1_400, 6);
    expect(day?.sliding_max_start_ms).toBe(D0 + 5 * MIN);
    expect(day?.id).toBe(`demand/a/1d/${D0}`);
    expect((day?.sliding_max_kw ?? 0) >= (day?.fixed_max_kw ?? 0)).toBe(true);
  });
});

// Accounts (signed sums, use tags), power-only channels, EnPI statuses, manual output
// and quantities, shifts, late readings within grace.
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type EngineConfig } from '../../src/core/engine.js';
import type { EngineRecord } from '../../src/core/records.js';
import type { FactorSet } from '../../src/core/factors.js';
import { HOUR, MIN, energyRecords, enpiRecords, eventRecords, factorSet, poll, shanghaiMidnight } from './support.js';

const D0 = shanghaiMidnight(2024, 5, 6);
let coal: FactorSet;
let co2: FactorSet;
beforeAll(async () => {
  coal = await factorSet('gbt2589-2020-dangliang');
  co2 = await factorSet('mee-nbs-2023-national');
});

function run(cfg: EngineConfig, polls: Array<[string, number, Record<string, number | [number, string]>]>, until: number, hook?: (e: ReturnType<typeof createEngine>) => EngineRecord[]): EngineRecord[] {
  const e = createEngine(cfg);
  const out: EngineRecord[] = [];
  for (const [d, t, v] of polls) out.push(...e.ingest(poll(d, t, v)), ...e.advance(t));
  out.push(...(hook?.(e) ?? []));
  out.push(...e.advance(until));
  return out;
}

describe('accounts', () => {
  it('site = incomer − tenant sub-meter − export + PV self-use; totals with and without feedstock', () => {
    const cfg: EngineConfig = {
      timezone: 'Asia/Shanghai', graceMs: 5_000,
      accounts: [{
        id: 'site', carrier: 'electricity', level: 'site', windows: ['1h'],
        meters: [
          { device: 'incomer', point: 'active_energy_import_total', sign: 1, use: 'power' },
          { device: 'incomer', point: 'active_energy_export_total', sign: -1, use: 'power' },
          { device: 'tenant', point: 'active_energy_import_total', sign: -1, use: 'power' },
          { device: 'pv', point: 'active_energy_export_total', sign: 1, use: 'power' },
          { device: 'electrolysis', point: 'active_energy_import_total', sign: 1, use: 'feedstock' },
        ],
      }],
      enpi: [],
      factors: { coal, co2 },
    };
    const at = (t: number, k: number) => [
      ['incomer', t, { active_energy_import_total: 1_000 + 500 * k, active_energy_export_total: 200 + 20 * k }],
      ['tenant', t, { active_energy_import_total: 50 + 30 * k }],
      ['pv', t, { active_energy_export_total: 70 + 100 * k }],
      ['electrolysis', t, { active_energy_import_total: 10 + 50 * k }],
    ] as Array<[string, number, Record<string, number>]>;
    const out = run(cfg, [...at(D0, 0), ...at(D0 + 1 * MIN, 1)], D0 + HOUR + 5_000);
    const [r] = energyRecords(out, '1h');
    expect(r?.quantity).toBe(500 - 20 - 30 + 100 + 50);
    expect(r?.use_totals).toEqual({ fuel: 0, power: 550, feedstock: 50 });
    expect(r?.kgce).toBeCloseTo(600 * 0.1229, 9);
    expect(r?.kgce_excl_feedstock).toBeCloseTo(550 * 0.1229, 9);
    expect(r?.kgco2).toBeCloseTo(600 * 0.5306, 9);
    expect(r?.level).toBe('site');
  });

  it('units are normalised: a gas meter in L and one in m3 add up in m3', () => {
    const cfg: EngineConfig = {
      timezone: 'Asia/Shanghai', graceMs: 5_000,
      accounts: [{ id: 'gas', carrier: 'natural_gas', windows: ['1h'], meters: [
        { device: 'g1', point: 'volume_total', sign: 1, use: 'fuel' }, { device: 'g2', point: 'volume_total', sign: 1, use: 'fuel' }] }],
      enpi: [], factors: { coal, co2 },
    };
    const out = run(cfg, [
      ['g1', D0, { volume_total: [100, 'm3'] }], ['g2', D0, { volume_total: [5_000, 'L'] }],
      ['g1', D0 + MIN, { volume_total: [110, 'm3'] }], ['g2', D0 + MIN, { volume_total: [7_500, 'L'] }],
    ], D0 + HOUR + 5_000);
    const [r] = energyRecords(out, '1h');
    expect([r?.quantity, r?.unit, r?.energy_kwh]).toEqual([12.5, 'm3', null]);
    expect(r?.kgce).toBeCloseTo(12.5 * 1.33, 9);
  });
});

describe('power-only channels', () => {
  it('trapezoidal integration of W readings, flagged estimated_value; a gap is not integrated', () => {
    const cfg: EngineConfig = {
      timezone: 'Asia/Shanghai', graceMs: 5_000, maxGapMs: 5 * MIN,
      accounts: [{ id: 'fan', carrier: 'electricity', windows: ['1h'], meters: [{ device: 'fan', point: 'active_power_total', sign: 1, use: 'power' }] }],
      enpi: [],
      channels: [{ device: 'fan', point: 'active_power_total', kind: 'power' }],
    };
    // 10 kW, ramp to 20 kW over one minute, stays 20 kW for a minute, then a 10-minute gap
    const out = run(cfg, [
      ['fan', D0, { active_power_total: [10_000, 'W'] }],
      ['fan', D0 + MIN, { active_power_total: [20_000, 'W'] }],
      ['fan', D0 + 2 * MIN, { active_power_total: [20_000, 'W'] }],
      ['fan', D0 + 12 * MIN, { active_power_total: [20_000, 'W'] }],
    ], D0 + HOUR + 5_000);
    const [r] = energyRecords(out, '1h');
    expect(r?.quantity).toBeCloseTo(15 / 60 + 20 / 60, 6);
    expect(r?.flags).toContain('estimated_value');
    expect(r?.estimated).toBe(true);
    expect(r?.coverage).toBeCloseTo(2 / 60, 6);
  });
});

describe('EnPI statuses and manual output', () => {
  const cfg = (device?: string): EngineConfig => ({
    timezone: 'Asia/Shanghai', graceMs: 5_000,
    accounts: [{ id: 'line', carrier: 'electricity', windows: ['1h'], meters: [{ device: 'm', point: 'active_energy_import_total', sign: 1, use: 'power' }] }],
    enpi: [{ id: 'per_t', accounts: ['line'], output: { ...(device ? { device } : {}), point: 'production_count', unit: 'count' }, windows: ['1h'], min_coverage: 0.9 }],
    factors: { coal, co2 },
  });
  const minutes = (n: number, k: number, start = D0) =>
    Array.from({ length: n + 1 }, (_, i) => ['m', start + i * MIN, { active_energy_import_total: 100 + k * i }] as [string, number, Record<string, number>]);
  // the PLC is polled every minute too
  const plc = (n: number, count: (i: number) => number) =>
    Array.from({ length: n + 1 }, (_, i) => ['plc', D0 + i * MIN, { production_count: count(i) }] as [string, number, Record<string, number>]);

  it('no_output: energy but zero output gives null per-unit values', () => {
    const out = run(cfg('plc'), [...minutes(60, 1), ...plc(60, () => 7)], D0 + HOUR + 5_000);
    const [r] = enpiRecords(out);
    expect([r?.status, r?.output, r?.energy_kwh, r?.kwh_per_unit, r?.kgce_per_unit]).toEqual(['no_output', 0, 60, null, null]);
  });

  it('incomplete: below min_coverage', () => {
    const out = run(cfg('plc'), [...minutes(30, 1), ...plc(60, (i) => i)], D0 + HOUR + 5_000);
    const [r] = enpiRecords(out);
    expect(r?.status).toBe('incomplete');
    expect(r?.coverage).toBeCloseTo(0.5, 6);
  });

  it('output entered by hand (no output device); a re-entry replaces the earlier value', () => {
    const out = run(cfg(), minutes(60, 2), D0 + HOUR + 5_000, (e) => [
      ...e.recordOutput({ enpi: 'per_t', start_ms: D0, end_ms: D0 + HOUR, quantity: 40, by: 'shift lead' }),
      ...e.recordOutput({ enpi: 'per_t', start_ms: D0, end_ms: D0 + HOUR, quantity: 60, note: 'recount' }),
    ]);
    const [r] = enpiRecords(out);
    expect([r?.status, r?.output, r?.kwh_per_unit]).toEqual(['ok', 60, 2]);
    expect(r?.flags).toContain('manual');
    expect(eventRecords(out).map((x) => [x.type, x.delta])).toEqual([['manual_output', 40], ['manual_output', 20]]);
  });

  it('a manual quantity (diesel delivered) books into the account', () => {
    const c: EngineConfig = { timezone: 'Asia/Shanghai', graceMs: 5_000, accounts: [{ id: 'diesel', carrier: 'diesel', windows: ['1d'], meters: [{ device: 'tank', point: 'mass_total', sign: 1, use: 'fuel' }] }], enpi: [], factors: { coal, co2 } };
    const out = run(c, [], D0 + 24 * HOUR + 5_000, (e) => e.recordQuantity({ account: 'diesel', start_ms: D0, end_ms: D0 + 24 * HOUR, quantity: 1.2 }));
    const [r] = energyRecords(out);
    expect([r?.quantity, r?.unit]).toEqual([1.2, 't']);
    expect(r?.kgce).toBeCloseTo(1_200 * 1.4571, 6);
    expect(r?.kgco2).toBeCloseTo(1_200 * 3.0959, 6);
    expect(r?.flags).toContain('manual');
  });
});

describe('windows', () => {
  it('shift windows carry the shift id', () => {
    const cfg: EngineConfig = {
      timezone: 'Asia/Shanghai', graceMs: 5_000, shifts: [{ id: 'A', start: '08:00' }, { id: 'B', start: '20:00' }],
      accounts: [{ id: 'l', carrier: 'electricity', windows: ['shift'], meters: [{ device: 'm', point: 'active_energy_import_total', sign: 1, use: 'power' }] }],
      enpi: [],
    };
    const polls = Array.from({ length: 25 }, (_, h) => ['m', D0 + 8 * HOUR + h * HOUR, { active_energy_import_total: 10 * h }] as [string, number, Record<string, number>]);
    const out = run(cfg, polls, D0 + 33 * HOUR);
    expect(energyRecords(out).map((r) => [r.shift, r.quantity, (r.end_ms - r.start_ms) / HOUR])).toEqual([['A', 120, 12], ['B', 120, 12]]);
  });

  it('a late reading inside grace still counts in its window; no window is emitted twice', () => {
    const cfg: EngineConfig = {
      timezone: 'Asia/Shanghai', graceMs: 60_000,
      accounts: [{ id: 'l', carrier: 'electricity', windows: ['15m'], meters: [{ device: 'm', point: 'active_energy_import_total', sign: 1, use: 'power' }] }],
      enpi: [],
    };
    const e = createEngine(cfg);
    const out: EngineRecord[] = [];
    out.push(...e.ingest(poll('m', D0, { active_energy_import_total: 0 })));
    out.push(...e.advance(D0 + 15 * MIN + 30_000)); // within grace: nothing closes
    out.push(...e.ingest(poll('m', D0 + 15 * MIN, { active_energy_import_total: 9 })));
    out.push(...e.advance(D0 + 15 * MIN + 60_000));
    out.push(...e.advance(D0 + 15 * MIN + 60_000));
    expect(energyRecords(out).map((r) => r.quantity)).toEqual([9]);
  });
});

// TV-1 … TV-4 (reference §7): a day of a plant through the whole engine, with the
// shipped factor-set files. Expected figures are the reference's, not recomputed here.
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type EngineConfig } from '../../src/core/engine.js';
import type { FactorSet } from '../../src/core/factors.js';
import type { EngineRecord } from '../../src/core/records.js';
import { DAY, energyRecords, enpiRecords, factorSet, factorSets, poll, shanghaiMidnight } from './support.js';

const D0 = shanghaiMidnight(2024, 5, 6);

function plantConfig(coal: FactorSet, co2: FactorSet, steamEnthalpy = false): EngineConfig {
  return {
    timezone: 'Asia/Shanghai',
    graceMs: 5_000,
    maxGapMs: DAY,
    accounts: [
      { id: 'elec', carrier: 'electricity', meters: [{ device: 'incomer', point: 'active_energy_import_total', sign: 1, use: 'power' }], windows: ['1d'] },
      { id: 'gas', carrier: 'natural_gas', meters: [{ device: 'gas', point: 'volume_total', sign: 1, use: 'fuel' }], windows: ['1d'] },
      { id: 'steam', carrier: 'steam', meters: [{ device: 'steam', point: 'mass_total', sign: 1, use: 'fuel' }], windows: ['1d'] },
    ],
    enpi: [{ id: 'per_unit', accounts: ['elec', 'gas', 'steam'], output: { device: 'line', point: 'production_count', unit: 'count' }, windows: ['1d'], min_coverage: 0.9 }],
    channels: steamEnthalpy ? [{ device: 'steam', point: 'mass_total', steam: { pressure_point: 'pressure', pressure_unit: 'MPa', gauge: false, h_ref: 83.74 } }] : [],
    factors: { coal, co2 },
  };
}

/** One day: 120,000 kWh, 8,000 m3, 50 t steam (at 1.0 MPa(a) saturated), 2,000 units. */
function runDay(cfg: EngineConfig): EngineRecord[] {
  const e = createEngine(cfg);
  const out: EngineRecord[] = [];
  for (const [t, k] of [[D0, 0], [D0 + DAY, 1]] as const) {
    out.push(...e.ingest(poll('incomer', t, { active_energy_import_total: 500_000 + k * 120_000 })));
    out.push(...e.ingest(poll('gas', t, { volume_total: [20_000 + k * 8_000, 'm3'] })));
    out.push(...e.ingest(poll('steam', t, { pressure: [1.0, 'MPa'], mass_total: [300 + k * 50, 't'] })));
    out.push(...e.ingest(poll('line', t, { production_count: 10_000 + k * 2_000 })));
  }
  out.push(...e.advance(D0 + DAY + 5_000));
  return out;
}

let coal: FactorSet;
let admin0570: FactorSet;
beforeAll(async () => {
  coal = await factorSet('gbt2589-2020-dangliang');
  admin0570 = await factorSet('mee-admin-0570');
});

describe('TV-1 daily plant, default coefficients (当量值, EF_grid 0.5703)', () => {
  it('per carrier and per unit', () => {
    const out = runDay(plantConfig(coal, admin0570));
    const byAccount = Object.fromEntries(energyRecords(out).map((r) => [r.account, r]));
    expect(byAccount.elec?.kgce).toBeCloseTo(14_748, 6);
    expect(byAccount.gas?.kgce).toBeCloseTo(10_640, 6);
    expect(byAccount.steam?.kgce).toBeCloseTo(6_430, 6);
    expect(byAccount.steam?.flags).toContain('default_coefficient');
    expect(byAccount.elec?.kgco2).toBeCloseTo(68_436, 6);
    expect(byAccount.gas?.kgco2).toBeCloseTo(17_297.5, 1);
    expect(byAccount.steam?.kgco2).toBeCloseTo(20_696.5, 6);
    const [enpi] = enpiRecords(out);
    expect(enpi?.status).toBe('ok');
    expect(enpi?.output).toBe(2_000);
    expect((enpi?.kgce ?? 0) / 1000).toBeCloseTo(31.818, 6);
    expect(enpi?.kgce_per_unit).toBeCloseTo(15.909, 6);
    expect((enpi?.kgco2 ?? 0) / 1000).toBeCloseTo(106.430, 3);
    expect(enpi?.kgco2_per_unit).toBeCloseTo(53.215, 3);
    expect(enpi?.kwh_per_unit).toBe(60);
    expect(enpi?.factor_sets).toEqual({ coal: 'gbt2589-2020-dangliang', co2: 'mee-admin-0570' });
  });
});

describe('TV-2 steam in enthalpy mode (1.0 MPa(a) saturated, h_ref 83.74 kJ/kg)', () => {
  it('heat from IAPWS-IF97 replaces the legacy coefficient', () => {
    const out = runDay(plantConfig(coal, admin0570, true));
    const steam = energyRecords(out).find((r) => r.account === 'steam');
    // The reference rounds h to 2777.1 kJ/kg; IF97 gives 2777.12, i.e. +0.001 GJ on 134.668.
    expect(steam?.heat_gj).toBeCloseTo(134.668, 2);
    expect(steam?.kgce).toBeCloseTo(4_594.87, 0);
    expect(steam?.kgco2).toBeCloseTo(14_813.5, 0);
    expect(steam?.flags).not.toContain('default_coefficient');
    const [enpi] = enpiRecords(out);
    expect((enpi?.kgce ?? 0) / 1000).toBeCloseTo(29.9829, 3);
    expect(enpi?.kgce_per_unit).toBeCloseTo(14.991, 3);
    expect((enpi?.kgco2 ?? 0) / 1000).toBeCloseTo(100.547, 2);
    expect(enpi?.kgco2_per_unit).toBeCloseTo(50.273, 2);
  });
});

describe('TV-3 electricity on the 等价值 basis', () => {
  it.each([
    ['gbt2589-2020-dengjiazhi-0300', 36.0, 53.07],
    ['gbt2589-2020-dengjiazhi-0305', 36.6, 53.67],
    ['gbt2589-2020-dengjiazhi-0310', 37.2, 54.27],
  ])('%s: electricity %d tce, total %d tce', async (id, elecTce, totalTce) => {
    const out = runDay(plantConfig(await factorSet(id), admin0570));
    expect((energyRecords(out).find((r) => r.account === 'elec')?.kgce ?? 0) / 1000).toBeCloseTo(elecTce, 6);
    expect((enpiRecords(out)[0]?.kgce ?? 0) / 1000).toBeCloseTo(totalTce, 6);
  });
});

describe('TV-4 alternative grid factors (NG 17.2975 t + steam 20.6965 t unchanged)', () => {
  it.each([
    ['mee-admin-0570', 68.436, 106.430, 53.215],
    ['mee-admin-0581', 69.720, 107.714, 53.857],
    ['mee-nbs-2021-national', 66.816, 104.810, 52.405],
    ['mee-nbs-2022-national', 64.392, 102.386, 51.193],
    ['mee-nbs-2023-national', 63.672, 101.666, 50.833],
    ['mee-nbs-2022-north-china', 81.312, 119.306, 59.653],
    ['mee-nbs-2023-north-china', 76.332, 114.326, 57.163],
    ['mee-nbs-2022-shandong', 76.920, 114.914, 57.457],
    // added by the second verification (§10 item 27)
    ['mee-nbs-2021-shandong', 82.056, 120.050, 60.025],
    ['mee-nbs-2021-north-china', 85.440, 123.434, 61.717],
  ])('%s', async (id, elecT, totalT, perUnit) => {
    const out = runDay(plantConfig(coal, await factorSet(id)));
    expect((energyRecords(out).find((r) => r.account === 'elec')?.kgco2 ?? 0) / 1000).toBeCloseTo(elecT, 6);
    const [enpi] = enpiRecords(out);
    expect((enpi?.kgco2 ?? 0) / 1000).toBeCloseTo(totalT, 3);
    expect(enpi?.kgco2_per_unit).toBeCloseTo(perUnit, 3);
  });
});

describe('factor-set files', () => {
  it('every entry names value, unit, source and confidence; the 0.5703 set carries its corrected label', async () => {
    const sets = await factorSets();
    for (const s of sets.values()) for (const e of s.entries) {
      expect(e.source.length).toBeGreaterThan(0);
      expect(['C', 'S', 'M']).toContain(e.confidence);
    }
    const admin = sets.get('mee-admin-0570');
    expect(admin?.title).toMatch(/2022 data year/);
    expect(admin?.entries.find((e) => e.key === 'electricity')?.source).toMatch(/43号/);
    // the legacy steam coefficient is flagged wherever it is used
    expect(sets.get('gbt2589-2020-dangliang')?.entries.find((e) => e.key === 'steam')?.flags).toContain('default_coefficient');
  });
});

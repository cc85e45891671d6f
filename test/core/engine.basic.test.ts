import { describe, expect, it } from 'vitest';
import { createEngine, type EngineConfig } from '../../src/core/engine.js';
import type { DevicePoll } from '../../src/core/sample.js';
import type { EnergyRecord, EngineRecord, EnpiRecord } from '../../src/core/records.js';

// 2024-03-01T00:00:00+08:00
const T0 = Date.UTC(2024, 1, 29, 16, 0, 0);
const MIN = 60_000;

function poll(device: string, tsMs: number, values: Record<string, number>): DevicePoll {
  return { device, tsMs, values: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v, unit: k.includes('count') ? 'count' : 'kWh', quality: 'good' as const }])) };
}

const config: EngineConfig = {
  timezone: 'Asia/Shanghai',
  graceMs: 5_000,
  accounts: [{ id: 'line1', carrier: 'electricity', meters: [{ device: 'm1', point: 'active_energy_import_total', sign: 1, use: 'power' }], windows: ['15m', '1h'] }],
  enpi: [{ id: 'per_part', accounts: ['line1'], output: { device: 'plc', point: 'production_count', unit: 'count' }, windows: ['15m'], min_coverage: 0.9 }],
};

const energy = (rs: EngineRecord[], w: string) => rs.filter((r): r is EnergyRecord => r.kind === 'energy' && r.window === w);

describe('engine, first slice', () => {
  it('sums counter deltas into clock-aligned site-time windows and closes after grace', () => {
    const e = createEngine(config);
    const out: EngineRecord[] = [];
    // one reading a minute for 30 minutes, 10 kWh a minute
    for (let i = 0; i <= 30; i++) {
      out.push(...e.ingest(poll('m1', T0 + i * MIN, { active_energy_import_total: 1000 + 10 * i })));
      out.push(...e.ingest(poll('plc', T0 + i * MIN, { production_count: 5 * i })));
      out.push(...e.advance(T0 + i * MIN));
    }
    // the window [00:15, 00:30) closes only at 00:30 + grace
    expect(energy(out, '15m').map((r) => r.quantity)).toEqual([150]);
    out.push(...e.advance(T0 + 30 * MIN + 5_000));
    const q = energy(out, '15m');
    expect(q.map((r) => [r.start_ms, r.quantity, r.coverage])).toEqual([[T0, 150, 1], [T0 + 15 * MIN, 150, 1]]);
    expect(q[0]?.id).toBe(`energy/line1/15m/${T0}`);
    const enpi = out.filter((r): r is EnpiRecord => r.kind === 'enpi');
    expect(enpi.map((r) => [r.output, r.energy_kwh, r.kwh_per_unit, r.status])).toEqual([[75, 150, 2, 'ok'], [75, 150, 2, 'ok']]);
  });

  it('resumes from a snapshot mid-window without losing or double counting', () => {
    const a = createEngine(config);
    const outA: EngineRecord[] = [];
    const outB: EngineRecord[] = [];
    let b = createEngine(config);
    for (let i = 0; i <= 60; i++) {
      const p = poll('m1', T0 + i * MIN, { active_energy_import_total: 1000 + 7 * i });
      outA.push(...a.ingest(p), ...a.advance(T0 + i * MIN));
      outB.push(...b.ingest(p), ...b.advance(T0 + i * MIN));
      if (i === 22) b = createEngine(config, JSON.parse(JSON.stringify(b.snapshot())));
    }
    outA.push(...a.advance(T0 + 2 * 3600_000));
    outB.push(...b.advance(T0 + 2 * 3600_000));
    expect(outB).toEqual(outA);
    expect(energy(outA, '1h').map((r) => r.quantity)).toEqual([420]);
  });
});

describe('snapshot compatibility', () => {
  it('resumes from a first-release snapshot (open windows keyed by start_ms)', () => {
    const old = {
      version: 1, accountUnits: { line1: 'kWh' },
      channels: { 'm1/active_energy_import_total': { unit: 'kWh', counter: { last: { tsMs: T0 + 10 * MIN, micro: 1_050_000_000 } } } },
      series: { 'energy/line1/15m': { startMs: T0, open: { [T0]: { startMs: T0, endMs: T0 + 15 * MIN, sums: { q: 50_000_000 }, coveredMs: { 'm1/active_energy_import_total': 10 * MIN }, flags: [] } } } },
    };
    const e = createEngine(config, old as never);
    e.ingest(poll('m1', T0 + 15 * MIN, { active_energy_import_total: 1100 }));
    const [r] = energy(e.advance(T0 + 16 * MIN), '15m');
    expect([r?.quantity, r?.coverage]).toEqual([100, 1]);
  });
});

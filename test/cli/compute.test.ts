// `energy-gateway compute` end to end: a config file and a day of readings in, JSON
// lines out, through the same engine the gateway runs.
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseReadings, runCompute, toPolls } from '../../src/cli/compute.js';
import { UsageError } from '../../src/cli/command.js';
import { ConfigError } from '../../src/config/errors.js';
import type { DemandRecord, EnergyRecord, EngineRecord, EnpiRecord } from '../../src/core/records.js';

const CONFIG = new URL('../fixtures/energy/plant.yaml', import.meta.url).pathname;
const T0 = Date.parse('2024-05-06T00:00:00+08:00');
const MIN = 60_000;
const dir = mkdtempSync(join(tmpdir(), 'eg-compute-'));

/** One day of 1-minute polls; the incomer register (modulus 1e6) rolls over and has one glitchy zero read. */
function dayCsv(): { file: string; incomerMicro: number } {
  const rows = ['ts,device,point,value,unit'];
  let e = 999_000_000_000; // micro-kWh
  const start = e;
  let p = 5_000_000_000;
  for (let m = 0; m <= 24 * 60; m++) {
    const ts = new Date(T0 + m * MIN).toISOString();
    if (m > 0) {
      e += Math.round(((m - 1 >= 10 && m - 1 < 20 ? 1_600 : 1_000) / 60) * 1e6);
      p += Math.round((100 / 60) * 1e6);
    }
    rows.push(`${ts},incomer,active_energy_import_total,${m === 600 ? 0 : (e % 1_000_000_000_000) / 1e6},kWh`);
    rows.push(`${ts},press,active_energy_import_total,${p / 1e6},kWh`);
    rows.push(`${ts},line,production_count,${m * 10},count`);
  }
  const file = join(dir, 'day.csv');
  writeFileSync(file, `${rows.join('\n')}\n`);
  return { file, incomerMicro: e - start };
}

async function compute(args: string[]): Promise<{ code: number; records: EngineRecord[] }> {
  let text = '';
  const code = await runCompute(args, { stdout: (t) => { text += t; }, stderr: () => {} });
  return { code, records: text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as EngineRecord) };
}

let run: { code: number; records: EngineRecord[] };
let truth: { file: string; incomerMicro: number };
beforeAll(async () => {
  truth = dayCsv();
  run = await compute(['--config', CONFIG, '--readings', truth.file]);
});

describe('compute', () => {
  it('prints closed energy windows whose sum is the meter difference, exactly, through a rollover and a glitch', () => {
    expect(run.code).toBe(0);
    const site = run.records.filter((r): r is EnergyRecord => r.kind === 'energy' && r.account === 'site');
    for (const w of ['15m', '1h', '1d']) {
      const ws = site.filter((r) => r.window === w);
      expect(ws.reduce((s, r) => s + Math.round(r.quantity * 1e6), 0)).toBe(truth.incomerMicro);
    }
    expect(site.filter((r) => r.window === '15m')).toHaveLength(96);
    const day = site.find((r) => r.window === '1d');
    expect(day?.kgce).toBeCloseTo((truth.incomerMicro / 1e6) * 0.1229, 6);
    expect(day?.factor_sets).toEqual({ coal: 'gbt2589-2020-dangliang', co2: 'mee-nbs-2023-national' });
    expect(day?.coverage).toBe(1);
    expect(site.filter((r) => r.flags.includes('spike_dropped'))).toHaveLength(3); // one window per length
  });

  it('prints daily demand (TV-7 pattern) and hourly EnPIs', () => {
    const d = run.records.filter((r): r is DemandRecord => r.kind === 'demand' && r.window === '1d');
    expect(d).toHaveLength(1);
    expect(d[0]?.fixed_max_kw).toBeCloseTo(1_200, 3);
    expect(d[0]?.sliding_max_kw).toBeCloseTo(1_400, 3);
    const enpi = run.records.filter((r): r is EnpiRecord => r.kind === 'enpi');
    expect(enpi).toHaveLength(24);
    expect(enpi[5]).toMatchObject({ output: 600, status: 'ok' });
    expect(enpi[5]?.kwh_per_unit).toBeCloseTo(1000 / 600, 6);
  });

  it('no window is printed twice; events only with --events', async () => {
    const ids = run.records.map((r) => ('id' in r ? r.id : ''));
    expect(new Set(ids).size).toBe(ids.length);
    expect(run.records.some((r) => r.kind === 'event')).toBe(false);
    const withEvents = await compute(['--config', CONFIG, '--readings', truth.file, '--events']);
    expect(withEvents.records.filter((r) => r.kind === 'event').map((r) => (r as { type: string }).type)).toEqual(['rollover', 'spike_dropped']);
  });

  it('reads JSON lines too, in any order', async () => {
    const lines = [
      { ts: T0 + 30 * MIN, device: 'press', point: 'active_energy_import_total', value: 130 },
      { ts: new Date(T0).toISOString(), device: 'press', point: 'active_energy_import_total', value: 100 },
      { ts: T0 + 60 * MIN, device: 'press', point: 'active_energy_import_total', value: 150 },
    ];
    const file = join(dir, 'r.jsonl');
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const r = await compute(['--config', CONFIG, '--readings', file]);
    expect(r.records.filter((x): x is EnergyRecord => x.kind === 'energy').map((x) => [x.account, x.window, x.quantity])).toEqual([['press', '1h', 50]]);
  });

  it('--until closes the windows past the last reading (their coverage shows the gap)', async () => {
    const file = join(dir, 'short.csv');
    // every 5 minutes for half an hour
    writeFileSync(file, `ts,device,point,value\n${Array.from({ length: 7 }, (_, i) => `${T0 + i * 5 * MIN},press,active_energy_import_total,${1 + i / 6}`).join('\n')}\n`);
    const r = await compute(['--config', CONFIG, '--readings', file, '--until', '2024-05-06T02:00:00+08:00']);
    expect(r.records.filter((x): x is EnergyRecord => x.kind === 'energy').map((x) => [x.quantity, x.coverage])).toEqual([[1, 0.5], [0, 0]]);
  });

  it('usage and config problems are errors the dispatcher maps to exit 2', async () => {
    await expect(compute(['--config', CONFIG])).rejects.toBeInstanceOf(UsageError);
    const bad = join(dir, 'bad-factors.yaml');
    writeFileSync(bad, readFileSync(CONFIG, 'utf8').replace('co2: mee-nbs-2023-national', 'co2: no-such-set'));
    await expect(compute(['--config', bad, '--readings', truth.file])).rejects.toBeInstanceOf(ConfigError);
    const badRows = join(dir, 'bad.csv');
    writeFileSync(badRows, 'ts,device,point,value\nyesterday,a,b,1\n');
    await expect(compute(['--config', CONFIG, '--readings', badRows])).rejects.toThrow(/bad.csv:2: invalid timestamp/);
  });
});

describe('readings parsing', () => {
  it('groups rows of one device and timestamp into one poll, sorted by time, with canonical units', () => {
    const polls = toPolls(parseReadings('x.csv', 'ts,device,point,value\n2000,m,active_energy_import_total,5\n1000,m,active_power_total,7\n1000,m,active_energy_import_total,4\n'));
    expect(polls).toEqual([
      { device: 'm', tsMs: 1000, values: { active_power_total: { value: 7, unit: 'W', quality: 'good' }, active_energy_import_total: { value: 4, unit: 'kWh', quality: 'good' } } },
      { device: 'm', tsMs: 2000, values: { active_energy_import_total: { value: 5, unit: 'kWh', quality: 'good' } } },
    ]);
  });
});

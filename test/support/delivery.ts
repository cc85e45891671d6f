// Shared pieces of the delivery system tests: a simulated plant whose true energy is
// known, gateway configs, and checks that compare InfluxDB with what was produced.
import { expect } from 'vitest';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { SimulatedMeter } from '../../src/sim/modbus-meter.js';
import { startModbusTcpSimulator, type SimServerHandle } from '../../src/sim/modbus-server.js';
import { freePort, influxQuery } from './servers.js';

export const WINDOW_MS = 10_000;
export const SITE = '一号车间';

/** Accounts of the test plant: meter unit → account id. `press` also feeds the EnPI. */
export const ACCOUNTS = { incomer: 1, press: 2 } as const;
export type AccountId = keyof typeof ACCOUNTS;

export async function startPlant(extraUnits = 0): Promise<SimServerHandle> {
  const profile = loadCatalogueSync().get('eastron-sdm630')!;
  const units = [1, 2, ...Array.from({ length: extraUnits }, (_, i) => 3 + i)];
  const meters = units.map((unitId) => new SimulatedMeter({ unitId, profile, seed: 70 + unitId }));
  return startModbusTcpSimulator(meters, { port: await freePort() });
}

/**
 * A gateway config: two metered accounts and one EnPI (press energy per kvarh of the
 * press's reactive counter — any counter serves as "output"), 10 s windows.
 */
export function gatewayYaml(o: {
  id?: string; dataDir: string; simPort: number; mqttUrl?: string; influx?: string; extraUnits?: number; pollInterval?: string; qosTelemetry?: 0 | 1; maxGap?: string; extra?: string;
}): string {
  const poll = o.pollInterval ?? '1s';
  const extraDevices = Array.from({ length: o.extraUnits ?? 0 }, (_, i) =>
    `  - { id: aux-${i + 3}, driver: eastron-sdm630, bus: panel, unit_id: ${i + 3}, poll_interval: ${poll} }`).join('\n');
  return `
version: 1
gateway: { id: ${o.id ?? 'edge-1'}, site: ${SITE}, data_dir: "${o.dataDir}" }
buses:
  - { id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${o.simPort}, timeout: 500ms }
devices:
  - { id: incomer, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: ${poll} }
  - { id: press, driver: eastron-sdm630, bus: panel, unit_id: 2, poll_interval: ${poll} }
${extraDevices}
accounts:
  - { id: incomer, meters: [{ device: incomer }], windows: [10s] }
  - { id: press, meters: [{ device: press }], windows: [10s] }
enpi:
  - { id: press_per_kvarh, accounts: [press], output: { device: press, point: reactive_energy_import_total, unit: kvarh }, windows: [10s], min_coverage: 0.5 }
energy: { grace: 1s${o.maxGap ? `, max_gap: ${o.maxGap}` : ''} }
${o.mqttUrl ? `mqtt: { url: "${o.mqttUrl}", topic_root: "energy/${SITE}/${o.id ?? 'edge-1'}", qos_telemetry: ${o.qosTelemetry ?? 1} }` : ''}
${o.influx ?? ''}
${o.extra ?? ''}
`;
}

/** float32 spacing at x: the resolution of an SDM630 energy register. */
export function float32Ulp(x: number): number {
  return 2 ** (Math.floor(Math.log2(Math.abs(x))) - 23);
}

/** The simulator's true counter increase of a point over [startMs, endMs] and the register resolution there. */
export function truth(sim: SimServerHandle, unit: number, point: string, startMs: number, endMs: number): { value: number; tolerance: number } {
  const meter = sim.meters.get(unit)!;
  const end = meter.valueAt(point, endMs)!;
  return { value: end - meter.valueAt(point, startMs)!, tolerance: 2 * float32Ulp(end) };
}

export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs: number, everyMs = 500): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface IntervalRow {
  time: number;
  [k: string]: unknown;
}

export async function influxIntervals(url: string, db: string): Promise<{ energy: IntervalRow[]; enpi: IntervalRow[] }> {
  const energy = await influxQuery(url, db, 'SELECT * FROM energy') as IntervalRow[];
  const enpi = await influxQuery(url, db, 'SELECT * FROM enpi') as IntervalRow[];
  return { energy, enpi };
}

/** Record fields the checks compare (what an energy manager reads off a dashboard). */
export interface ProducedInterval {
  kind: 'energy' | 'enpi';
  account?: string;
  enpi?: string;
  window: string;
  start_ms: number;
  end_ms: number;
  quantity?: number;
  energy_kwh: number | null;
  output?: number;
  kwh_per_unit?: number | null;
  coverage: number;
  flags: string[];
}

/**
 * Every produced interval record is in InfluxDB exactly once (one row for its series
 * and start) with the values it was produced with, the site tag survives in UTF-8,
 * and InfluxDB holds nothing else for these series.
 */
export function expectExactlyOnce(produced: ProducedInterval[], rows: { energy: IntervalRow[]; enpi: IntervalRow[] }, gateway: string): void {
  const key = (series: string, t: number) => `${series}@${t}`;
  const byKey = new Map<string, IntervalRow[]>();
  for (const r of rows.energy) byKey.set(key(`energy/${String(r.account)}`, r.time), [...(byKey.get(key(`energy/${String(r.account)}`, r.time)) ?? []), r]);
  for (const r of rows.enpi) byKey.set(key(`enpi/${String(r.enpi)}`, r.time), [...(byKey.get(key(`enpi/${String(r.enpi)}`, r.time)) ?? []), r]);
  for (const p of produced) {
    const series = p.kind === 'energy' ? `energy/${p.account}` : `enpi/${p.enpi}`;
    const found = byKey.get(key(series, p.start_ms)) ?? [];
    expect(found, `${series} ${new Date(p.start_ms).toISOString()} in InfluxDB once`).toHaveLength(1);
    const row = found[0]!;
    expect(row.site).toBe(SITE);
    expect(row.gateway).toBe(gateway);
    expect(row.end_ms).toBe(p.end_ms);
    if (p.kind === 'energy') {
      expect(row.quantity as number).toBeCloseTo(p.quantity!, 9);
    } else {
      expect(row.output as number).toBeCloseTo(p.output!, 9);
      if (p.energy_kwh !== null) expect(row.energy_kwh as number).toBeCloseTo(p.energy_kwh, 9);
    }
  }
  const producedKeys = new Set(produced.map((p) => key(p.kind === 'energy' ? `energy/${p.account}` : `enpi/${p.enpi}`, p.start_ms)));
  const extra = [...byKey.keys()].filter((k) => !producedKeys.has(k));
  expect(extra, 'rows in InfluxDB that were never produced').toEqual([]);
}

/**
 * Windows of each series follow each other without a gap from the first to the last,
 * and the ones measured in full (coverage 1) equal the simulator's true energy.
 * Returns how many full windows were checked against the truth.
 */
export function expectContiguousAndTrue(sim: SimServerHandle, produced: ProducedInterval[]): number {
  let checked = 0;
  for (const account of Object.keys(ACCOUNTS) as AccountId[]) {
    const windows = produced.filter((p) => p.kind === 'energy' && p.account === account).sort((a, b) => a.start_ms - b.start_ms);
    expect(windows.length).toBeGreaterThan(0);
    for (let i = 1; i < windows.length; i++) {
      expect(windows[i]!.start_ms, `${account}: no gap and no overlap`).toBe(windows[i - 1]!.end_ms);
    }
    for (const w of windows) {
      if (w.coverage < 1) continue;
      const t = truth(sim, ACCOUNTS[account], 'active_energy_import_total', w.start_ms, w.end_ms);
      expect(Math.abs(w.quantity! - t.value), `${account} ${new Date(w.start_ms).toISOString()}`).toBeLessThanOrEqual(t.tolerance);
      checked += 1;
    }
  }
  const enpi = produced.filter((p) => p.kind === 'enpi').sort((a, b) => a.start_ms - b.start_ms);
  for (let i = 1; i < enpi.length; i++) expect(enpi[i]!.start_ms).toBe(enpi[i - 1]!.end_ms);
  for (const e of enpi) {
    if (e.coverage < 1) continue;
    const out = truth(sim, ACCOUNTS.press, 'reactive_energy_import_total', e.start_ms, e.end_ms);
    expect(Math.abs(e.output! - out.value)).toBeLessThanOrEqual(out.tolerance);
    const press = produced.find((p) => p.kind === 'energy' && p.account === 'press' && p.start_ms === e.start_ms);
    expect(e.energy_kwh).toBe(press?.energy_kwh);
    checked += 1;
  }
  return checked;
}

/** One sample of a Prometheus text exposition, or undefined. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[3] ?? '').split(',');
    if (want.every((w) => have.includes(w))) return Number(m[4]);
  }
  return undefined;
}

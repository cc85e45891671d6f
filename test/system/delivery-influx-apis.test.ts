// Both InfluxDB write APIs against real servers: v2 (`/api/v2/write`) against
// VictoriaMetrics, v1 (`/write`, database and retention policy) against InfluxDB 1.x.
// Names with spaces, commas, "=", quotes and Chinese survive; a line InfluxDB refuses
// is dropped alone, counted and logged, and the rest of its batch is written.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/app/gateway.js';
import { InfluxConfig } from '../../src/config/schema.js';
import { parseConfigText } from '../../src/config/loader.js';
import { silentLogger } from '../../src/log/logger.js';
import type { QueuedRecord } from '../../src/outbox/outbox.js';
import type { GatewayRecord } from '../../src/pipeline/pipeline.js';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { InfluxWriter } from '../../src/sinks/influx/writer.js';
import { gatewayYaml, SITE, startPlant, waitFor, type ProducedInterval } from '../support/delivery.js';
import { captureLog } from '../support/log.js';
import { assertBinaries, influxQuery, startInfluxd, startVictoriaMetrics, systemTestAvailability } from '../support/servers.js';

const need = systemTestAvailability([{ name: 'influxd', debian: 'influxdb' }, { name: 'victoria-metrics', debian: 'victoria-metrics' }]);
const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

interface VmSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

async function vmExport(url: string, match: string): Promise<VmSeries[]> {
  const res = await fetch(`${url}/api/v1/export?${new URLSearchParams({ 'match[]': match }).toString()}`);
  const text = await res.text();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as VmSeries);
}

// Recent enough for a 14-day retention policy (older points are refused as outside it).
const T0 = Math.floor((Date.now() - 3_600_000) / 900_000) * 900_000;
const NASTY = { site: SITE, account: 'line 1, east=2', device: 'press "A"', enpi: '吨钢 kWh/t' };

/** Records as the energy core and the pipeline make them, with names that need escaping. */
function nastyRecords(): QueuedRecord[] {
  const energy = {
    kind: 'energy', id: `energy/${NASTY.account}/15m/${T0}`, account: NASTY.account, carrier: 'electricity', level: 'line', window: '15m',
    start_ms: T0, end_ms: T0 + 900_000, quantity: 12.5, unit: 'kWh', energy_kwh: 12.5, kgce: 1.53625, kgce_excl_feedstock: 1.53625, kgco2: 7.1,
    coverage: 1, estimated: false, flags: ['late_carried', 'no_data'], factor_sets: { coal: 'gbt2589-2020-dangliang', co2: 'mee-nbs-2023-national' },
    use_totals: { fuel: 0, power: 12.5, feedstock: 0 }, heat_gj: null,
  };
  const enpi = {
    kind: 'enpi', id: `enpi/${NASTY.enpi}/15m/${T0}`, enpi: NASTY.enpi, window: '15m', start_ms: T0, end_ms: T0 + 900_000,
    output: 4, output_unit: 't', energy_kwh: 12.5, kgce: 1.53625, kgco2: 7.1, kwh_per_unit: 3.125, kgce_per_unit: 0.3840625, kgco2_per_unit: 1.775,
    status: 'ok', coverage: 1, estimated: false, flags: [], factor_sets: { coal: null, co2: null },
  };
  const telemetry = {
    kind: 'telemetry', device: NASTY.device, model: 'eastron-sdm630', ts_ms: T0 + 1000,
    values: { active_power_total: { value: 1500.25, unit: 'W', quality: 'good' }, frequency: { value: 50.01, unit: 'Hz', quality: 'uncertain' } },
  };
  return [energy, enpi, telemetry].map((record, i) => ({ seq: i + 1, kind: record.kind, createdMs: T0, record }));
}

// Without influxd and victoria-metrics installed this skips, outside CI only, with a warning naming the
// Debian package; under CI=true the missing binary fails the test (assertBinaries).
describe.skipIf(need.skip).concurrent('InfluxDB write APIs', () => {
  it('v2 against VictoriaMetrics: the gateway\'s windows arrive stamped with their start and with their values', async () => {
    assertBinaries(need.missing);
    const [vm, sim] = await Promise.all([startVictoriaMetrics(), startPlant()]);
    cleanup.push(() => sim.stop(), () => vm.stop());
    const dataDir = mkdtempSync(join(tmpdir(), 'eg-vm-gw-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const produced: ProducedInterval[] = [];
    let telemetry = 0;
    const gateway = await startGateway(parseConfigText(gatewayYaml({
      id: 'edge-v', dataDir, simPort: sim.port,
      influx: `influx: { url: "${vm.url}", api: v2, org: plant, bucket: energy, token: unused-by-vm, flush_interval: 500ms }`,
    }), 'gw.yaml'), {
      log: silentLogger(), catalogue: loadCatalogueSync(),
      onRecord: (r: GatewayRecord) => {
        if (r.kind === 'energy' || r.kind === 'enpi') produced.push(r as unknown as ProducedInterval);
        if (r.kind === 'telemetry') telemetry += 1;
      },
    });
    cleanup.push(() => gateway.stop());
    await waitFor('two full windows', () => produced.filter((p) => p.kind === 'energy' && p.account === 'incomer' && p.coverage === 1).length >= 2, 60_000);
    const windows = produced.filter((p) => p.kind === 'energy');
    await waitFor('windows in VictoriaMetrics', async () => {
      const series = await vmExport(vm.url, '{__name__="energy_quantity"}');
      return series.reduce((n, s) => n + s.timestamps.length, 0) >= windows.length;
    }, 30_000);
    const series = await vmExport(vm.url, '{__name__="energy_quantity"}');
    for (const w of windows) {
      const s = series.find((x) => x.metric.account === w.account && x.metric.window === '10s');
      expect(s?.metric).toMatchObject({ site: SITE, gateway: 'edge-v', carrier: 'electricity' });
      const i = s!.timestamps.indexOf(w.start_ms);
      expect(i, `${w.account} ${w.start_ms}`).toBeGreaterThanOrEqual(0);
      expect(s!.values[i]).toBeCloseTo(w.quantity!, 9);
    }
    const enpi = await vmExport(vm.url, '{__name__="enpi_kwh_per_unit"}');
    expect(enpi[0]?.metric).toMatchObject({ enpi: 'press_per_kvarh', site: SITE });
    const readings = await vmExport(vm.url, '{__name__="reading_active_power_total"}');
    expect(new Set(readings.map((r) => r.metric.device))).toEqual(new Set(['incomer', 'press']));
    expect(telemetry).toBeGreaterThan(0);
  }, 120_000);

  it('names with spaces, commas, "=", quotes and Chinese survive both APIs; v1 writes into the configured retention policy', async () => {
    assertBinaries(need.missing);
    const [vm, influx] = await Promise.all([startVictoriaMetrics(), startInfluxd()]);
    cleanup.push(() => vm.stop(), () => influx.stop());
    await fetch(`${influx.url}/query?${new URLSearchParams({ q: 'CREATE DATABASE "exact"' }).toString()}`, { method: 'POST' });
    await fetch(`${influx.url}/query?${new URLSearchParams({ q: 'CREATE RETENTION POLICY "two_weeks" ON "exact" DURATION 14d REPLICATION 1' }).toString()}`, { method: 'POST' });
    const identity = { site: SITE, gateway: 'edge 1,=' };
    const v1 = new InfluxWriter(InfluxConfig.parse({ url: influx.url, api: 'v1', database: 'exact', retention_policy: 'two_weeks' }), identity, silentLogger());
    const v2 = new InfluxWriter(InfluxConfig.parse({ url: vm.url, api: 'v2', bucket: 'exact', org: 'o' }), identity, silentLogger());
    await v1.deliver(nastyRecords(), { replayed: false });
    await v2.deliver(nastyRecords(), { replayed: true });

    const energy = await influxQuery(influx.url, 'exact', 'SELECT * FROM "exact"."two_weeks"."energy"');
    expect(energy).toHaveLength(1);
    expect(energy[0]).toMatchObject({
      time: T0, site: SITE, gateway: 'edge 1,=', account: NASTY.account, quantity: 12.5, unit: 'kWh', estimated: false,
      flags: 'late_carried,no_data', factor_sets_coal: 'gbt2589-2020-dangliang', use_totals_power: 12.5, end_ms: T0 + 900_000,
    });
    const enpi = await influxQuery(influx.url, 'exact', 'SELECT * FROM "exact"."two_weeks"."enpi"');
    expect(enpi[0]).toMatchObject({ enpi: NASTY.enpi, kwh_per_unit: 3.125, status: 'ok' });
    const reading = await influxQuery(influx.url, 'exact', 'SELECT * FROM "exact"."two_weeks"."reading"');
    expect(reading[0]).toMatchObject({ device: NASTY.device, active_power_total: 1500.25, frequency: 50.01, frequency_quality: 'uncertain', time: T0 + 1000 });

    await waitFor('samples in VictoriaMetrics', async () => (await vmExport(vm.url, '{__name__="reading_active_power_total"}')).length > 0, 30_000);
    const q = await vmExport(vm.url, '{__name__="energy_quantity"}');
    expect(q[0]?.metric).toMatchObject({ site: SITE, gateway: 'edge 1,=', account: NASTY.account });
    expect(q[0]?.timestamps).toEqual([T0]);
    expect((await vmExport(vm.url, '{__name__="enpi_kwh_per_unit"}'))[0]?.metric.enpi).toBe(NASTY.enpi);
    expect((await vmExport(vm.url, '{__name__="reading_active_power_total"}'))[0]?.metric.device).toBe(NASTY.device);
  }, 120_000);

  it('a line InfluxDB 1.x refuses is dropped alone, counted and logged; the rest of the batch is written', async () => {
    assertBinaries(need.missing);
    const influx = await startInfluxd();
    cleanup.push(() => influx.stop());
    const { log, lines } = captureLog('info');
    const writer = new InfluxWriter(InfluxConfig.parse({ url: influx.url, api: 'v1', database: 'conflict' }), { site: SITE, gateway: 'g' }, log);
    await writer.ensureDatabase();
    // The field `mode` already exists as a string: a meter that now reports it as a number conflicts.
    await fetch(`${influx.url}/write?db=conflict&precision=ms`, { method: 'POST', body: `reading,device=old mode="manual" ${T0}` });
    const batch: QueuedRecord[] = Array.from({ length: 40 }, (_, i) => {
      const values: Record<string, { value: number; unit: string; quality: string }> = { active_power_total: { value: i, unit: 'W', quality: 'good' } };
      if (i === 17) values.mode = { value: 3, unit: '', quality: 'good' };
      const record = { kind: 'telemetry', device: `m${i}`, model: null, ts_ms: T0 + 1000 + i, values };
      return { seq: i + 1, kind: 'telemetry', createdMs: T0, record };
    });
    await writer.deliver(batch, { replayed: false }); // does not throw: the queue moves on
    expect(writer.stats.linesRejected).toBe(1);
    const rows = await influxQuery(influx.url, 'conflict', 'SELECT active_power_total, device FROM reading WHERE time > 0');
    expect(rows.map((r) => r.device).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `m${i}`).filter((d) => d !== 'm17').sort());
    const logged = lines.filter((l) => l.msg === 'influx rejected lines');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ status: 400, rejected: 1, lines: 40 });
    expect(String(logged[0]!.first_line)).toContain('device=m17');
    expect(String(logged[0]!.reason)).toContain('field type conflict');
  }, 120_000);
});

// `compute` is the audit path: given the readings the live gateway took, it must print
// the very windows the gateway published — same boundaries, same energy, to the micro-unit.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/app/gateway.js';
import { runCompute } from '../../src/cli/compute.js';
import { loadConfig } from '../../src/config/loader.js';
import type { EnergyRecord, EngineRecord } from '../../src/core/records.js';
import type { TelemetryRecord } from '../../src/core/telemetry.js';
import { silentLogger } from '../../src/log/logger.js';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { SimulatedMeter } from '../../src/sim/modbus-meter.js';
import { startModbusTcpSimulator } from '../../src/sim/modbus-server.js';

const dir = mkdtempSync(join(tmpdir(), 'eg-compute-live-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('compute over the live gateway\'s readings', () => {
  it('reproduces every window the gateway published', async () => {
    const catalogue = loadCatalogueSync();
    const profile = catalogue.get('eastron-sdm630')!;
    const sim = await startModbusTcpSimulator([1, 2].map((unitId) => new SimulatedMeter({ unitId, profile, seed: 90 + unitId })));
    const configFile = join(dir, 'gateway.yaml');
    writeFileSync(configFile, `
version: 1
gateway: { id: edge, site: plant, data_dir: "${join(dir, 'data')}" }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${sim.port}, timeout: 500ms }]
devices:
  - { id: incomer, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s, only_points: [active_energy_import_total, active_power_total] }
  - { id: press, driver: eastron-sdm630, bus: panel, unit_id: 2, poll_interval: 1s, only_points: [active_energy_import_total, active_power_total] }
accounts:
  - { id: site, meters: [{ device: incomer }], windows: [10s, 1m] }
  - { id: net, meters: [{ device: incomer }, { device: press, sign: -1 }], windows: [10s] }
energy: { grace: 1s }
`);
    const telemetry: TelemetryRecord[] = [];
    const published: EnergyRecord[] = [];
    const gateway = await startGateway(loadConfig(configFile), {
      log: silentLogger(), catalogue,
      onRecord: (r) => {
        if (r.kind === 'telemetry') telemetry.push(r);
        else if (r.kind === 'energy') published.push(r);
      },
    });
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline && published.filter((r) => r.account === 'site' && r.window === '10s').length < 3) {
      await new Promise((r) => setTimeout(r, 250));
    }
    await gateway.stop();
    await sim.stop();
    expect(published.filter((r) => r.account === 'site' && r.window === '10s').length).toBeGreaterThanOrEqual(3);

    // The readings exactly as the gateway took them.
    const rows = ['ts,device,point,value,unit,quality'];
    for (const t of telemetry) {
      for (const [point, v] of Object.entries(t.values)) {
        if (typeof v.value === 'number') rows.push(`${t.ts_ms},${t.device},${point},${v.value},${v.unit},${v.quality}`);
      }
    }
    const readings = join(dir, 'readings.csv');
    writeFileSync(readings, `${rows.join('\n')}\n`);
    let out = '';
    const lastEnd = Math.max(...published.map((r) => r.end_ms));
    const code = await runCompute(['--config', configFile, '--readings', readings, '--grace', '1s', '--until', String(lastEnd + 1000)],
      { stdout: (t) => { out += t; }, stderr: () => {} });
    expect(code).toBe(0);
    const computed = out.trim().split('\n').map((l) => JSON.parse(l) as EngineRecord).filter((r): r is EnergyRecord => r.kind === 'energy');

    const key = (r: EnergyRecord) => `${r.account}/${r.window}/${r.start_ms}`;
    const byKey = new Map(computed.map((r) => [key(r), r]));
    for (const live of published) {
      const offline = byKey.get(key(live));
      expect(offline, key(live)).toBeDefined();
      expect(offline!.quantity, key(live)).toBe(live.quantity);
      expect(offline!.coverage, key(live)).toBe(live.coverage);
      expect(offline!.kgce, key(live)).toBe(live.kgce);
    }
  }, 90_000);
});

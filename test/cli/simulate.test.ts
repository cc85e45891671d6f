// `energy-gateway simulate` as a user runs it (a child process), read back with
// `energy-gateway read`: Modbus TCP with mixed models, RTU on a socat pty pair, and RTU
// frames over TCP.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { meterRatios, parseUnitList } from '../../src/cli/simulate.js';
import { SimulatedMeter } from '../../src/sim/modbus-meter.js';
import { startSimulator } from '../support/cli.js';
import { assertBinaries, startPtyPair, systemTestAvailability } from '../support/servers.js';
import { catalogue, runCliAsync } from '../protocols/modbus/helpers.js';

const need = systemTestAvailability([{ name: 'socat', debian: 'socat' }]);
const AT = '2025-06-01T08:00:00Z';
const AT_MS = Date.parse(AT);
const dir = mkdtempSync(join(tmpdir(), 'eg-simulate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const simulate = startSimulator;

function configWith(name: string, bus: string, devices: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, `version: 1\ngateway: { id: gw, site: plant, data_dir: ${dir} }\nbuses: [${bus}]\ndevices:\n${devices.map((d) => `  - ${d}`).join('\n')}\n`);
  return file;
}

async function readJson(config: string, device: string): Promise<Record<string, { value: unknown; unit: string; quality: string }>> {
  const r = await runCliAsync(['read', '--config', config, '--device', device, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { values: Record<string, { value: unknown; unit: string; quality: string }> }).values;
}

describe('energy-gateway simulate', () => {
  it('parses unit lists', () => {
    expect(parseUnitList('1-3,7')).toEqual([1, 2, 3, 7]);
    expect(() => parseUnitList('0-2')).toThrow(/1..247/);
  });

  it.each([
    [['--port', 'abc'], '--port is 0..65535'],
    [['--port', '70000'], '--port is 0..65535'],
    [['--meter', 'eastron-sdm630@300'], 'unit ids are 1..247'],
    [['--meter', 'eastron-sdm630@0'], 'unit ids are 1..247'],
    // A ratio no meter has, or one its register cannot hold, was silently ignored or rounded.
    [['--meter', 'eastron-sdm630@1', '--ct-ratio', '40'], '--ct-ratio: no simulated meter (eastron-sdm630) has a ct_ratio, as a register or a setting; meters that do: acrel-adl400, chint-ddsu666, chint-dtsu666'],
    [['--meter', 'acrel-adl400@1', '--pt-ratio', '2.5'], '--pt-ratio 2.5: acrel-adl400 holds pt_ratio in a uint16 register, which cannot hold 2.5 (it would hold 3)'],
    [['--meter', 'chint-dtsu666@1', '--ct-ratio', '0'], '--ct-ratio must be a positive number'],
  ])('exits 2 for %j instead of serving somewhere else', async (args, message) => {
    const r = await runCliAsync(['simulate', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  }, 30_000);

  it('builds each meter with its ratios in the form its profile declares them', () => {
    const dtsu = catalogue.get('chint-dtsu666')!;
    const ddsu = catalogue.get('chint-ddsu666')!;
    const sdm = catalogue.get('eastron-sdm630')!;
    // Ratio registers hold 40 and 1 unless told otherwise; settings only shape the values when asked for.
    expect(meterRatios(dtsu, {})).toEqual({ ratios: { ct_ratio: 40, pt_ratio: 1 }, settings: {} });
    expect(meterRatios(ddsu, {})).toEqual({ ratios: {}, settings: {} });
    expect(meterRatios(ddsu, { ct_ratio: 40, pt_ratio: 2 })).toEqual({ ratios: {}, settings: { ct_ratio: 40, pt_ratio: 2 } });
    expect(meterRatios(dtsu, { pt_ratio: 2 })).toEqual({ ratios: { ct_ratio: 40, pt_ratio: 2 }, settings: {} });
    expect(meterRatios(sdm, { ct_ratio: 40 })).toEqual({ ratios: {}, settings: {} });
  });

  it('honours --ct-ratio/--pt-ratio for a meter whose ratios are device settings (DDSU666): it serves the secondary side', async () => {
    const sim = await simulate(['--meter', 'chint-ddsu666@5', '--meter', 'chint-dtsu666@6', '--ct-ratio', '40', '--pt-ratio', '2', '--port', '0', '--at', AT]);
    try {
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(sim.banner)![1]);
      expect(sim.banner).toContain('chint-ddsu666@5 holds no ratio register and serves the secondary side; its device needs settings: { ct_ratio: 40, pt_ratio: 2 }');
      const config = configWith('settings.yaml', `{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${port} }`, [
        '{ id: behind_cts, driver: chint-ddsu666, bus: panel, unit_id: 5, settings: { ct_ratio: 40, pt_ratio: 2 } }',
        '{ id: no_settings, driver: chint-ddsu666, bus: panel, unit_id: 5 }',
        '{ id: holds_ratios, driver: chint-dtsu666, bus: panel, unit_id: 6 }',
      ]);
      const [primary, secondary, dtsu] = await Promise.all([readJson(config, 'behind_cts'), readJson(config, 'no_settings'), readJson(config, 'holds_ratios')]);
      const ddsuTruth = new SimulatedMeter({ unitId: 5, profile: catalogue.get('chint-ddsu666')!, seed: 5, settings: { ct_ratio: 40, pt_ratio: 2 }, epochMs: AT_MS });
      const dtsuTruth = new SimulatedMeter({ unitId: 6, profile: catalogue.get('chint-dtsu666')!, seed: 6, ratios: { ct_ratio: 40, pt_ratio: 2 }, epochMs: AT_MS });
      const near = (got: unknown, truth: number) => expect(Math.abs((got as number) / truth - 1)).toBeLessThan(1e-6);
      for (const id of ['voltage_l1', 'current_l1', 'active_power_total', 'active_energy_import_total']) {
        expect(primary[id]!.quality, id).toBe('good');
        near(primary[id]!.value, ddsuTruth.valueAt(id, AT_MS)!);
        near(dtsu[id]!.value, dtsuTruth.valueAt(id, AT_MS)!);
      }
      // On the wire: the secondary side, which a device without the settings publishes as is.
      expect((primary.current_l1!.value as number) / (secondary.current_l1!.value as number)).toBeCloseTo(40, 9);
      expect((primary.voltage_l1!.value as number) / (secondary.voltage_l1!.value as number)).toBeCloseTo(2, 9);
      expect((primary.active_energy_import_total!.value as number) / (secondary.active_energy_import_total!.value as number)).toBeCloseTo(80, 9);
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 120_000);

  it('serves mixed models behind one Modbus TCP port, frozen in time with --at', async () => {
    const sim = await simulate(['--meter', 'eastron-sdm630@1', '--meter', 'xylem-magflux@9', '--port', '0', '--at', AT]);
    try {
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(sim.banner)![1]);
      expect(sim.banner).toContain('eastron-sdm630@1, xylem-magflux@9');
      const config = configWith('tcp.yaml', `{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${port} }`, [
        '{ id: incomer, driver: eastron-sdm630, bus: panel, unit_id: 1 }',
        '{ id: water, driver: xylem-magflux, bus: panel, unit_id: 9 }',
      ]);
      const [a, b, water] = await Promise.all([readJson(config, 'incomer'), readJson(config, 'incomer'), readJson(config, 'water')]);
      expect(Object.values(a).every((v) => v.quality === 'good')).toBe(true);
      expect(a).toEqual(b);
      // The simulator's meter for unit 9 (seed 0 × 1000 + 9), at the frozen time.
      const truth = new SimulatedMeter({ unitId: 9, profile: catalogue.get('xylem-magflux')!, seed: 9, epochMs: AT_MS });
      expect(water.volume_total!.value).toBeCloseTo(truth.valueAt('volume_total', AT_MS)!, 6);
      expect(water.volume_total!.unit).toBe('m3');
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 120_000);

  it('starts the counters at --epoch, so a restarted simulator goes on where the last one stopped instead of resetting', async () => {
    const epochMs = AT_MS - 3_600_000;
    const sim = await simulate(['--units', '1', '--port', '0', '--at', AT, '--epoch', String(epochMs)]);
    try {
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(sim.banner)![1]);
      const config = configWith('epoch.yaml', `{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${port} }`, [
        '{ id: incomer, driver: eastron-sdm630, bus: panel, unit_id: 1 }',
      ]);
      const read = await readJson(config, 'incomer');
      const profile = catalogue.get('eastron-sdm630')!;
      const counted = new SimulatedMeter({ unitId: 1, profile, seed: 1, epochMs }).valueAt('active_energy_import_total', AT_MS)!;
      const fresh = new SimulatedMeter({ unitId: 1, profile, seed: 1, epochMs: AT_MS }).valueAt('active_energy_import_total', AT_MS)!;
      expect(counted - fresh).toBeGreaterThan(1); // an hour of load, not the counter's start value
      expect(read.active_energy_import_total!.value).toBeCloseTo(counted, 1);
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 120_000);

  it('serves Modbus RTU on a serial path (a socat pty pair), CT ratio held by the meter', async ({ skip }) => {
    // Shown by the reporter: socat missing, outside CI only (CI=true: assertBinaries fails it).
    skip(need.skip, need.reason);
    assertBinaries(need.missing);
    const pty = await startPtyPair();
    const sim = await simulate(['--rtu', pty.a, '--baud', '19200', '--meter', 'chint-dtsu666@4', '--at', AT]);
    try {
      expect(sim.banner).toContain(`modbus rtu ${pty.a} at 19200 baud`);
      const config = configWith('rtu.yaml', `{ id: rs485, type: modbus_rtu, path: ${pty.b}, baud_rate: 19200, timeout: 1s }`, [
        '{ id: feeder, driver: chint-dtsu666, bus: rs485, unit_id: 4 }',
      ]);
      const values = await readJson(config, 'feeder');
      expect(Object.values(values).every((v) => v.quality === 'good')).toBe(true);
      const truth = new SimulatedMeter({ unitId: 4, profile: catalogue.get('chint-dtsu666')!, seed: 4, ratios: { ct_ratio: 40, pt_ratio: 1 }, epochMs: AT_MS });
      // DTSU666 sends current in mA-resolution floats on the secondary side; the gateway multiplies by the CT ratio 40.
      expect(values.current_l1!.value as number).toBeCloseTo(truth.valueAt('current_l1', AT_MS)!, 1);
      expect(values.active_energy_import_total!.value as number).toBeCloseTo(truth.valueAt('active_energy_import_total', AT_MS)!, 0);
      // probe on the same serial line, with the line settings an RS-485 bus may need (a pty ignores them).
      const probe = await runCliAsync(['probe', '--path', pty.b, '--baud', '19200', '--parity', 'even', '--stop-bits', '1', '--timeout', '3000', '--unit', '4', '--address', '0x200C', '--function', 'holding', '--json']);
      expect(probe.code, probe.stderr).toBe(0);
      const read = (JSON.parse(probe.stdout) as { reads: Array<{ address: number; decodings: Array<{ type: string; order: string; value: number }> }> })
        .reads.find((r) => r.address === 0x200c)!;
      const secondary = read.decodings.find((d) => d.type === 'float32' && d.order === 'ABCD')!.value;
      // Ia on the wire: secondary amperes in units of 0.001 A.
      expect(secondary * 0.001 * 40).toBeCloseTo(values.current_l1!.value as number, 6);
      expect((await runCliAsync(['probe', '--path', pty.b, '--parity', 'mark', '--unit', '4', '--address', '0'])).code).toBe(2);
    } finally {
      expect(await sim.stop()).toBe(0);
      await pty.stop();
    }
  }, 120_000);

  it('serves RTU frames over TCP, like a serial device server', async () => {
    const sim = await simulate(['--rtu-over-tcp', '--port', '0', '--units', '2-3', '--at', AT]);
    try {
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(sim.banner)![1]);
      expect(sim.banner).toContain('modbus rtu over tcp');
      const config = configWith('dtu.yaml', `{ id: dtu, type: modbus_rtu_over_tcp, host: 127.0.0.1, port: ${port} }`, [
        '{ id: m3, driver: eastron-sdm630, bus: dtu, unit_id: 3 }',
      ]);
      const values = await readJson(config, 'm3');
      expect(Object.keys(values)).toHaveLength(55);
      expect(Object.values(values).every((v) => v.quality === 'good')).toBe(true);
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 120_000);

  it('names on stderr the points its profile marks unverified, and only those, without changing the JSON', async () => {
    const sim = await simulate(['--meter', 'acrel-adl400@1', '--meter', 'eastron-sdm630@2', '--port', '0', '--at', AT]);
    try {
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(sim.banner)![1]);
      const config = configWith('unverified.yaml', `{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${port} }`, [
        '{ id: adl, driver: acrel-adl400, bus: panel, unit_id: 1 }',
        '{ id: only_energy, driver: acrel-adl400, bus: panel, unit_id: 1, only_points: [active_energy_import_total] }',
        '{ id: sdm, driver: eastron-sdm630, bus: panel, unit_id: 2 }',
      ]);
      const marked = catalogue.get('acrel-adl400')!.points.filter((p) => p.unverified !== undefined).map((p) => p.id);
      expect(marked.length).toBeGreaterThan(0);
      const adl = await runCliAsync(['read', '--config', config, '--device', 'adl', '--json']);
      expect(adl.code, adl.stderr).toBe(0);
      const named = [...adl.stderr.matchAll(/: (\w+)(?: \(read for the primary-side values\))? is not confirmed by the manufacturer's manual \(/g)].map((m) => m[1]);
      expect(named.sort()).toEqual([...marked].sort());
      expect(adl.stderr).toContain('compare its value with the meter\'s display');
      expect(adl.stderr).toContain('ct_ratio (read for the primary-side values) is not confirmed');
      // stdout is still one JSON object, the unverified values in it as read.
      const values = (JSON.parse(adl.stdout) as { values: Record<string, { quality: string }> }).values;
      expect(values.power_factor_l1?.quality).toBe('good');
      // A device reading only points with a confirmed address hears about the ratios it needs, nothing else.
      const energy = await runCliAsync(['read', '--config', config, '--device', 'only_energy', '--json']);
      expect(energy.code, energy.stderr).toBe(0);
      expect([...energy.stderr.matchAll(/: (\w+)(?: \(read for the primary-side values\))? is not confirmed/g)].map((m) => m[1]).sort()).toEqual(['ct_ratio', 'pt_ratio']);
      const sdm = await runCliAsync(['read', '--config', config, '--device', 'sdm', '--json']);
      expect(sdm.code, sdm.stderr).toBe(0);
      expect(sdm.stderr).not.toContain('not confirmed');
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 60_000);
});

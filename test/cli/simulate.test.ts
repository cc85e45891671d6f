// `energy-gateway simulate` as a user runs it (a child process), read back with
// `energy-gateway read`: Modbus TCP with mixed models, RTU on a socat pty pair, and RTU
// frames over TCP.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseUnitList } from '../../src/cli/simulate.js';
import { SimulatedMeter } from '../../src/sim/modbus-meter.js';
import { spawnCli } from '../support/cli.js';
import { assertBinaries, startPtyPair, systemTestAvailability } from '../support/servers.js';
import { catalogue, runCliAsync } from '../protocols/modbus/helpers.js';

const need = systemTestAvailability([{ name: 'socat', debian: 'socat' }]);
const AT = '2025-06-01T08:00:00Z';
const AT_MS = Date.parse(AT);
const dir = mkdtempSync(join(tmpdir(), 'eg-simulate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Running {
  child: ChildProcess;
  banner: string;
  stop(): Promise<number | null>;
}

/** Starts `simulate` and waits for its banner line; stopped by PID with SIGTERM. */
function simulate(args: string[]): Promise<Running> {
  const child = spawnCli(['simulate', ...args]);
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`simulate did not start: ${err}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`simulate exited ${code}: ${err}`)));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      resolve({
        child, banner: out.trim(),
        stop: () => new Promise((res) => {
          if (child.exitCode !== null) { res(child.exitCode); return; }
          child.removeAllListeners('exit');
          child.once('exit', (code) => res(code));
          process.kill(child.pid!, 'SIGTERM');
        }),
      });
    });
  });
}

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
  ])('exits 2 for %j instead of serving somewhere else', async (args, message) => {
    const r = await runCliAsync(['simulate', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  }, 30_000);

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

  it.skipIf(need.skip)('serves Modbus RTU on a serial path (a socat pty pair), CT ratio held by the meter', async () => {
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
});

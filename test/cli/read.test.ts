// `read --json` against a simulator serving every profile in drivers/ — mixed models, one
// unit id each, behind one Modbus TCP port. The loop runs over the whole catalogue, so a new
// profile is covered the day it is added. Values are held against the simulator's physics
// (not against the codec), within the resolution of the register that carries them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommand } from '../../src/cli/read.js';
import { canonicalUnit } from '../../src/profiles/canonical.js';
import { decodeValue, registerCount } from '../../src/protocols/modbus/decode.js';
import type { DriverProfile, ModbusPoint } from '../../src/profiles/schema.js';
import { SimulatedMeter } from '../../src/sim/modbus-meter.js';
import { startModbusTcpSimulator, type SimServerHandle } from '../../src/sim/modbus-server.js';
import { captureStdout, catalogue, runCliAsync } from '../protocols/modbus/helpers.js';

const AT_MS = Date.UTC(2025, 5, 1, 9, 30);
// Meters behind transformers: 200/5 A CTs and a 2:1 PT, held in the meters' ratio registers.
const RATIOS = { ct_ratio: 40, pt_ratio: 2 };
const profiles = [...catalogue.values()].sort((a, b) => a.id.localeCompare(b.id));
const unitOf = new Map(profiles.map((p, i) => [p.id, i + 1]));

interface ReadJson {
  device: string;
  ts: number;
  values: Record<string, { value: number | string | boolean | null; unit: string; quality: string }>;
}

/** How far a published value may be from the truth: the resolution of its register on the primary side. */
function tolerance(p: ModbusPoint, meter: SimulatedMeter, truth: number): number {
  const ratio = p.multiply_by.reduce((a, name) => a * meter.ratio(name), 1);
  const relative = Math.abs(truth) * 1e-12;
  switch (p.type) {
    case 'float32': return Math.abs(truth) * 2 ** -23 + relative;
    case 'float64': return relative + 1e-12;
    default: return 0.5 * Math.abs(p.scale) * ratio + relative;
  }
}

describe('read --json against a simulator serving every profile in drivers/', () => {
  let sim: SimServerHandle;
  let dir: string;
  let configFile: string;
  const meters = new Map<string, SimulatedMeter>();

  beforeAll(async () => {
    for (const p of profiles) meters.set(p.id, new SimulatedMeter({ unitId: unitOf.get(p.id)!, profile: p, ratios: RATIOS, epochMs: AT_MS - 3_600_000 }));
    sim = await startModbusTcpSimulator([...meters.values()], { now: () => AT_MS });
    dir = mkdtempSync(join(tmpdir(), 'eg-read-'));
    configFile = join(dir, 'gateway.yaml');
    writeFileSync(configFile, `version: 1
gateway: { id: gw, site: plant, data_dir: ${dir} }
buses:
  - { id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${sim.port}, timeout: 2s }
devices:
${profiles.map((p) => `  - { id: ${p.id}, driver: ${p.id}, bus: panel, unit_id: ${unitOf.get(p.id)} }`).join('\n')}
`);
  });

  afterAll(async () => {
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('covers the whole catalogue', () => {
    expect(profiles.length).toBeGreaterThanOrEqual(12);
  });

  it.each(profiles.map((p) => [p.id, p] as const))('%s: every point good, primary side, canonical units, the served values', async (id, profile: DriverProfile) => {
    const { code, stdout } = await captureStdout(() => readCommand.run(['--config', configFile, '--device', id, '--json']));
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as ReadJson;
    expect(Object.keys(out).sort()).toEqual(['device', 'ts', 'values']);
    expect(out.device).toBe(id);
    expect(typeof out.ts).toBe('number');

    const meter = meters.get(id)!;
    const published = profile.points.filter((p) => !p.internal);
    expect(Object.keys(out.values).sort()).toEqual(published.map((p) => p.id).sort());
    for (const p of published) {
      const got = out.values[p.id]!;
      expect(Object.keys(got).sort(), p.id).toEqual(['quality', 'unit', 'value']);
      expect(got.quality, p.id).toBe('good');
      expect(got.unit, p.id).toBe(canonicalUnit(p.id)?.unit ?? p.unit);
      const truth = meter.published(p.id, AT_MS);
      if (typeof truth === 'number') {
        expect(typeof got.value, p.id).toBe('number');
        const tol = tolerance(p, meter, truth);
        expect(Math.abs((got.value as number) - truth), `${p.id}: got ${String(got.value)}, truth ${truth} ± ${tol}`).toBeLessThanOrEqual(tol);
      } else {
        expect(got.value, p.id).toEqual(truth);
      }
    }
  });

  it('holds primary-side values when the meter serves secondary ones (CT/PT ratio registers)', async () => {
    const withRatios = profiles.filter((p) => p.points.some((q) => q.multiply_by.some((n) => n === 'ct_ratio' && p.points.some((r) => r.id === n))));
    expect(withRatios.length).toBeGreaterThan(0);
    for (const p of withRatios) {
      const meter = meters.get(p.id)!;
      const current = p.points.find((q) => q.id === 'current_l1')!;
      const words = meter.read(current.function, current.address, registerCount(current), AT_MS) as number[];
      const onTheWire = decodeValue(current, words).value as number;
      const { stdout } = await captureStdout(() => readCommand.run(['--config', configFile, '--device', p.id, '--json']));
      const published = (JSON.parse(stdout) as ReadJson).values.current_l1!.value as number;
      // The meter sends the secondary current; the gateway publishes 40 times that.
      expect(published / onTheWire, p.id).toBeCloseTo(40, 6);
      expect(published / meter.valueAt('current_l1', AT_MS)!, p.id).toBeCloseTo(1, 3);
    }
  });

  it('reads the full SDM630 profile in at most 3 requests', async () => {
    const unit = unitOf.get('eastron-sdm630')!;
    const before = sim.requests.get(unit) ?? 0;
    const { code } = await captureStdout(() => readCommand.run(['--config', configFile, '--device', 'eastron-sdm630', '--json']));
    expect(code).toBe(0);
    expect((sim.requests.get(unit) ?? 0) - before).toBeLessThanOrEqual(3);
  });

  it('exits 1 with the reason when the device does not answer, and 2 for an unknown device', async () => {
    sim.faults.set(unitOf.get('eastron-sdm120')!, { kind: 'exception', code: 2 });
    try {
      const r = await runCliAsync(['read', '--config', configFile, '--device', 'eastron-sdm120', '--json']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('illegal data address');
      expect(r.stderr).toMatch(/reading input \d+\+\d+/);
    } finally {
      sim.faults.clear();
    }
    const unknown = await runCliAsync(['read', '--config', configFile, '--device', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no device "nope"');
  }, 60_000);

  it('prints one JSON object through the real CLI', async () => {
    const r = await runCliAsync(['read', '--config', configFile, '--device', 'eastron-sdm630', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as ReadJson;
    expect(out.values.active_energy_import_total).toMatchObject({ unit: 'kWh', quality: 'good' });
  }, 60_000);
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { resolvePoint, type DriverProfile } from '../../src/profiles/schema.js';
import { decodeValue, registerCount } from '../../src/protocols/modbus/decode.js';
import { crc16, rtuReadRequest } from '../../src/protocols/modbus/frames.js';
import { SimulatedMeter } from '../../src/sim/modbus-meter.js';
import { RtuRequestReader, rtuAnswerFrame, startModbusTcpSimulator } from '../../src/sim/modbus-server.js';
import { canonicalValues, loadShapeFor } from '../../src/sim/physics.js';
import { makeBus, settle } from '../protocols/modbus/helpers.js';

const catalogue = loadCatalogueSync();
const T0 = Date.UTC(2025, 3, 1);

/** Simpson's rule over [a, b] in seconds. */
function integrate(f: (tS: number) => number, a: number, b: number, n = 2000): number {
  const h = (b - a) / n;
  let sum = f(a) + f(b);
  for (let i = 1; i < n; i++) sum += f(a + i * h) * (i % 2 ? 4 : 2);
  return (sum * h) / 3;
}

describe('simulated physics', () => {
  it.each([
    // [total, rate, rate units per total unit per hour]
    ['active_energy_import_total', 'active_power_total', 1000],   // kWh ← W
    ['volume_total', 'flow_rate', 1],                              // m3 ← m3/h
    ['mass_total', 'mass_flow_rate', 1],                           // t ← t/h
    ['heat_total', 'heat_power', 1 / 0.0036],                      // GJ ← kW_th
  ] as const)('%s is the exact integral of %s', (total, rate, perHour) => {
    for (const seed of [1, 7, 42]) {
      const shape = loadShapeFor(seed);
      const [a, b] = [100, 100 + 900];
      const delta = canonicalValues(shape, b)[total]! - canonicalValues(shape, a)[total]!;
      const integral = integrate((t) => canonicalValues(shape, t)[rate]!, a, b) / 3600 / perHour;
      expect(delta).toBeGreaterThan(0);
      expect(Math.abs(delta - integral) / delta).toBeLessThan(1e-9);
    }
  });
});

describe('simulated meter', () => {
  const dtsu = catalogue.get('chint-dtsu666')!;

  it('serves secondary values and holds its CT/PT ratios, so the primary side comes out right', () => {
    const meter = new SimulatedMeter({ unitId: 1, profile: dtsu, ratios: { ct_ratio: 40, pt_ratio: 2 }, epochMs: T0 });
    const word = (id: string) => {
      const p = dtsu.points.find((q) => q.id === id)!;
      return decodeValue(p, meter.read(p.function, p.address, registerCount(p), T0 + 5000) as number[]).value as number;
    };
    expect(word('ct_ratio')).toBe(40);
    expect(word('pt_ratio')).toBe(2);
    expect(word('current_l1') * 40).toBeCloseTo(meter.valueAt('current_l1', T0 + 5000)!, 2);
    expect(word('voltage_l1') * 2).toBeCloseTo(meter.valueAt('voltage_l1', T0 + 5000)!, 1);
    expect(word('active_power_total') * 80).toBeCloseTo(meter.valueAt('active_power_total', T0 + 5000)!, -1);
  });

  it('holds a ratio its register cannot represent as the register holds it, and stays consistent with it', () => {
    // The ADL400's PT register is a plain uint16: asked for 2.5, the meter holds 3.
    const adl = catalogue.get('acrel-adl400')!;
    const meter = new SimulatedMeter({ unitId: 1, profile: adl, ratios: { ct_ratio: 40, pt_ratio: 2.5 }, epochMs: T0 });
    const word = (id: string) => {
      const p = adl.points.find((q) => q.id === id)!;
      return decodeValue(p, meter.read(p.function, p.address, registerCount(p), T0 + 5000) as number[]).value as number;
    };
    expect(word('pt_ratio')).toBe(3);
    expect(meter.ratio('pt_ratio')).toBe(3);
    // What the gateway computes from the registers is what the meter says it should publish.
    expect(word('voltage_l1') * word('pt_ratio')).toBeCloseTo(meter.valueAt('voltage_l1', T0 + 5000)!, 0);
    expect(word('active_energy_import_total') * 40 * 3).toBeCloseTo(meter.valueAt('active_energy_import_total', T0 + 5000)!, -1);
  });

  it('serves the secondary side of transformers it does not know about (ratios as profile settings, DDSU666)', () => {
    const ddsu = catalogue.get('chint-ddsu666')!;
    const behind = new SimulatedMeter({ unitId: 1, profile: ddsu, settings: { ct_ratio: 40, pt_ratio: 2 }, epochMs: T0 });
    const direct = new SimulatedMeter({ unitId: 1, profile: ddsu, epochMs: T0 });
    const wire = (meter: SimulatedMeter, id: string) => {
      const p = ddsu.points.find((q) => q.id === id)!;
      return decodeValue(p, meter.read(p.function, p.address, registerCount(p), T0 + 5000) as number[]).value as number;
    };
    expect(behind.ratio('ct_ratio')).toBe(40);
    expect(direct.ratio('ct_ratio')).toBe(1);
    // Same physics, the primary side unchanged; on the wire a 40th of the current, an 80th of the energy.
    expect(behind.valueAt('current_l1', T0 + 5000)).toBe(direct.valueAt('current_l1', T0 + 5000));
    expect(wire(behind, 'current_l1') * 40).toBeCloseTo(wire(direct, 'current_l1'), 4);
    expect(wire(behind, 'active_energy_import_total') * 80 / wire(direct, 'active_energy_import_total')).toBeCloseTo(1, 6);
  });

  it('publishes in the unit the profile declares (kg/h, kW_th, L/h for a steam meter)', () => {
    const tva = new SimulatedMeter({ unitId: 1, profile: catalogue.get('spirax-sarco-tva')!, epochMs: T0 });
    const v = canonicalValues(tva.shape, 10);
    expect(tva.valueAt('mass_flow_rate', T0 + 10_000)).toBeCloseTo(v.mass_flow_rate! * 1000, 6);
    expect(tva.valueAt('heat_power', T0 + 10_000)).toBeCloseTo(v.heat_power!, 6);
  });

  it('refuses reads across unreadable ranges and of unmapped registers', () => {
    const profile = { ...catalogue.get('eastron-sdm630')!, unreadable: [{ function: 'input' as const, from: 0x60, to: 0x6f }] };
    const meter = new SimulatedMeter({ unitId: 1, profile, epochMs: T0 });
    expect(meter.readable('input', 0x50, 0x20)).toBe(false);
    expect(meter.readable('input', 0, 0x50)).toBe(true);
    expect(meter.read('input', 0x1000, 4, T0)).toBeNull();
    expect(meter.read('holding', 0, 4, T0)).toBeNull();
  });

  it('packs bit points into one register and serves strings', () => {
    const points = [
      resolvePoint({ id: 'alarm_a', address: 5, type: 'bit', bit: 0, unit: '' }),
      resolvePoint({ id: 'alarm_b', address: 5, type: 'bit', bit: 3, unit: '' }),
      resolvePoint({ id: 'serial', address: 10, type: 'string', length: 4, unit: '' }),
    ];
    const profile: Pick<DriverProfile, 'id' | 'points' | 'settings'> = { id: 'test-meter', points, settings: {} };
    const meter = new SimulatedMeter({ unitId: 1, profile, epochMs: T0 });
    expect(meter.read('holding', 5, 1, T0)).toEqual([0]);
    expect(decodeValue(points[2]!, meter.read('holding', 10, 4, T0) as number[]).value).toBe('SIM-test');
  });

  it('reuses its register image within imageCacheMs, and moves on after', () => {
    const meter = new SimulatedMeter({ unitId: 1, profile: catalogue.get('eastron-sdm630')!, epochMs: T0, imageCacheMs: 100 });
    const a = meter.read('input', 0x48, 2, T0 + 1_000);
    expect(meter.read('input', 0x48, 2, T0 + 1_099)).toEqual(a);
    expect(meter.read('input', 0x48, 2, T0 + 60_000)).not.toEqual(a);
  });
});

describe('simulated RTU line', () => {
  it('finds requests behind noise and answers with a valid CRC', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 247 }), (noise, unit) => {
      const reader = new RtuRequestReader();
      const req = rtuReadRequest(unit, 3, 0x2000, 10);
      const found = reader.push(Buffer.concat([Buffer.from(noise), req]));
      expect(found.at(-1)).toEqual({ unit, fc: 3, address: 0x2000, count: 10 });
    }));
    const frame = rtuAnswerFrame(7, 4, { data: [1, 2, 3] })!;
    expect(frame.readUInt16LE(frame.length - 2)).toBe(crc16(frame, 0, frame.length - 2));
    expect([...rtuAnswerFrame(7, 4, { exception: 2 })!.subarray(0, 3)]).toEqual([7, 0x84, 2]);
    expect(rtuAnswerFrame(7, 4, null)).toBeNull();
  });
});

describe('simulated Modbus TCP server', () => {
  it('serves mixed models by unit id behind one port; an absent unit is exception 11, as a gateway answers', async () => {
    const meters = [
      new SimulatedMeter({ unitId: 1, profile: catalogue.get('eastron-sdm630')!, epochMs: T0 }),
      new SimulatedMeter({ unitId: 2, profile: catalogue.get('siemens-pac3200')!, epochMs: T0 }),
    ];
    const sim = await startModbusTcpSimulator(meters, { now: () => T0 + 1000 });
    const bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: sim.port });
    try {
      await expect(bus.read(1, 'input', 0, 10, { timeoutMs: 1000 })).resolves.toEqual(meters[0]!.read('input', 0, 10, T0 + 1000));
      await expect(bus.read(2, 'holding', 1, 10, { timeoutMs: 1000 })).resolves.toEqual(meters[1]!.read('holding', 1, 10, T0 + 1000));
      const r = await settle(bus.read(3, 'input', 0, 2, { timeoutMs: 1000 }));
      expect((r as { error: { exceptionCode?: number } }).error.exceptionCode).toBe(11);
    } finally {
      await bus.close();
      await sim.stop();
    }
  });
});

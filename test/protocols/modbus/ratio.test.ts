// A poll end to end (device resolution, planned reads, decoding, ratios) of meters whose
// decimal-scaled registers are multiplied by ratio registers or settings: the published value
// is the decimal, without the artefact of a double product.
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/loader.js';
import type { ModbusFunction } from '../../../src/profiles/schema.js';
import type { ModbusReader } from '../../../src/protocols/modbus/bus.js';
import { resolveModbusDevices } from '../../../src/protocols/modbus/device.js';
import { readDevice } from '../../../src/protocols/modbus/poll.js';
import { catalogue } from './helpers.js';

/** A device holding these registers (unknown ones read as 0). */
function imageReader(cells: Record<number, number>): ModbusReader {
  return {
    id: 'image',
    read: (_unit: number, _fn: ModbusFunction, address: number, count: number) =>
      Promise.resolve(Array.from({ length: count }, (_, i) => cells[address + i] ?? 0)),
  };
}

async function poll(device: string, cells: Record<number, number>) {
  const config = parseConfigText(`version: 1\ngateway: { id: gw, site: s }\nbuses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1 }]\ndevices:\n${device}\n`, 'test.yaml');
  const { byBus, problems } = resolveModbusDevices(config, catalogue);
  expect(problems).toEqual([]);
  const d = byBus.get('panel')![0]!;
  return readDevice(imageReader(cells), d, d.classes);
}

describe('a ratio register times a decimal-scaled register', () => {
  it('publishes the decimal product (Acrel ADL400: uint32 × 0.01 kWh × PT × CT)', async () => {
    const values = await poll('  - { id: m, driver: acrel-adl400, bus: panel }', {
      0x000a: 0x0006, 0x000b: 0xfd46,   // active_energy_import_total raw 458054: 4580.54 kWh
      0x0061: 2303,                     // voltage_l1 230.3 V
      0x0064: 106,                      // current_l1 1.06 A
      0x008d: 3,                        // PT
      0x008e: 10,                       // CT
    });
    // As double products these were 137416.19999999998 kWh, 690.9000000000001 V and 10.600000000000001 A.
    expect(values.active_energy_import_total).toEqual({ value: 137416.2, unit: 'kWh', quality: 'good' });
    expect(values.voltage_l1!.value).toBe(690.9);
    expect(values.current_l1!.value).toBe(10.6);
  });

  it('and a decimal setting times a decimal-scaled inline point', async () => {
    const values = await poll(`  - id: plc
    bus: panel
    settings: { ct_ratio: 0.1, k: 2.5 }
    points:
      - { id: current_l1, address: 0, type: uint16, scale: 0.1, unit: A, multiply_by: [ct_ratio] }
      - { id: active_energy_import_total, address: 1, type: uint32, scale: 0.01, unit: kWh, counter: {}, multiply_by: [k] }`, {
      0: 7,                     // 0.7 A × 0.1
      1: 0x0006, 2: 0xfd44,     // 4580.52 kWh × 2.5
    });
    expect(values.current_l1!.value).toBe(0.07);                      // 0.06999999999999999 as 0.7 / 10
    expect(values.active_energy_import_total!.value).toBe(11451.3);   // 11451.300000000001 as 4580.52 × 2.5
  });

  it('leaves a float32 register times an integer ratio at the double product (CHINT DTSU666)', async () => {
    const f = new DataView(new ArrayBuffer(4));
    f.setFloat32(0, 1.23);
    const values = await poll('  - { id: m, driver: chint-dtsu666, bus: panel }', {
      0x0006: 40,                                               // IrAt
      0x0007: 10,                                               // UrAt 1.0
      0x200c: f.getUint16(0), 0x200d: f.getUint16(2),           // current_l1 float32 1.23 × 0.001 A
    });
    expect(values.current_l1!.value).toBe((Math.fround(1.23) / 1000) * 40);
  });
});

import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/loader.js';
import type { ModbusBusConfig } from '../../../src/config/schema.js';
import { estimateBus, requestMs } from '../../../src/protocols/modbus/cycle.js';
import { resolveModbusDevices } from '../../../src/protocols/modbus/device.js';
import { busConfig, catalogue } from './helpers.js';

function resolve(devices: string, bus = '{ id: panel, type: modbus_tcp, host: 127.0.0.1 }') {
  const config = parseConfigText(`version: 1\ngateway: { id: gw, site: s }\nbuses: [${bus}]\ndevices:\n${devices}\n`, 'test.yaml');
  return { ...resolveModbusDevices(config, catalogue), bus: config.buses[0] as ModbusBusConfig };
}

describe('resolving a Modbus device', () => {
  it('takes timing knobs from the device, falling back to the bus', () => {
    const { byBus } = resolve(`  - { id: m, driver: eastron-sdm630, bus: panel, retries: 2, pause_after_connect: 300ms, pause_between_requests: 50ms }`,
      '{ id: panel, type: modbus_tcp, host: 127.0.0.1, timeout: 700ms }');
    const d = byBus.get('panel')![0]!;
    expect(d.requestOptions).toEqual({ timeoutMs: 700, pauseAfterConnectMs: 300, pauseBetweenRequestsMs: 50 });
    expect(d.retries).toBe(2);
  });

  it('lets a device lower the profile\'s request size, never raise it', () => {
    const { byBus } = resolve(`  - { id: small, driver: eastron-sdm630, bus: panel, unit_id: 1, max_registers: 20 }
  - { id: big, driver: eastron-sdm630, bus: panel, unit_id: 2, max_registers: 125 }`);
    const [small, big] = byBus.get('panel')!;
    expect(Math.max(...small!.classes.flatMap((c) => c.requests.map((r) => r.count)))).toBeLessThanOrEqual(20);
    // The SDM630 manual allows 40 parameters (80 registers) per request: 125 is not honoured.
    expect(Math.max(...big!.classes.flatMap((c) => c.requests.map((r) => r.count)))).toBe(80);
  });

  it('refuses a device request size that the profile\'s points do not fit in', () => {
    // Every SDM630 value is a float32 (two registers): one register a request reads none.
    const { byBus, problems } = resolve('  - { id: tiny, driver: eastron-sdm630, bus: panel, unit_id: 1, max_registers: 1 }');
    expect(byBus.get('panel') ?? []).toEqual([]);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.path[0] === 'devices' && p.path[1] === 0)).toBe(true);
    expect(problems[0]!.message).toMatch(/float32, 2 registers, more than read\.max_registers 1/);
    expect(resolve('  - { id: two, driver: eastron-sdm630, bus: panel, unit_id: 1, max_registers: 2 }').problems).toEqual([]);
  });

  it('falls back to one request per point', () => {
    const { byBus } = resolve('  - { id: m, driver: eastron-sdm630, bus: panel, per_point: true }');
    const requests = byBus.get('panel')![0]!.classes.flatMap((c) => c.requests);
    expect(requests).toHaveLength(55);
    expect(requests.every((r) => r.points.length === 1)).toBe(true);
  });

  it('puts counters and named points in their own poll classes, reading ratio registers with every class', () => {
    const { byBus } = resolve('  - { id: m, driver: chint-dtsu666, bus: panel, poll_interval: 1s, counter_interval: 15s, point_intervals: { frequency: 1m } }');
    const classes = byBus.get('panel')![0]!.classes;
    expect(classes.map((c) => c.intervalMs)).toEqual([1000, 15_000, 60_000]);
    expect(classes[1]!.points.every((p) => p.counter)).toBe(true);
    expect(classes[2]!.points.map((p) => p.id)).toEqual(['frequency']);
    // Energy is multiplied by CT and PT: the 15 s class reads the ratio registers too.
    expect(classes[1]!.requests.flatMap((r) => r.points.map((p) => p.id))).toEqual(expect.arrayContaining(['ct_ratio', 'pt_ratio']));
  });

  it('reports intervals that cannot work as config problems', () => {
    const { problems } = resolve('  - { id: m, driver: eastron-sdm630, bus: panel, poll_interval: 5s, counter_interval: 1s, point_intervals: { nope: 1m } }');
    expect(problems.map((p) => `${p.path.join('.')}: ${p.message}`)).toEqual([
      'devices.0.point_intervals.nope: no point "nope" on this device',
      'devices.0.counter_interval: shorter than the device\'s poll_interval (5000 ms)',
    ]);
  });
});

describe('unit ids', () => {
  it('are 1..247 on a serial line (0 is broadcast), anything 0..255 on Modbus TCP', () => {
    const rtu = '{ id: rs, type: modbus_rtu, path: /dev/ttyUSB0 }';
    const dtu = '{ id: rs, type: modbus_rtu_over_tcp, host: 10.0.0.30 }';
    const devices = [0, 1, 247, 248].map((u) => `  - { id: m${u}, driver: eastron-sdm630, bus: rs, unit_id: ${u} }`).join('\n');
    for (const bus of [rtu, dtu]) {
      expect(resolve(devices, bus).problems.map((p) => `${p.path.join('.')}: ${p.message}`)).toEqual([
        expect.stringMatching(/^devices\.0\.unit_id: unit ids on a serial line \(modbus_rtu(_over_tcp)?\) are 1\.\.247; 0 is broadcast/),
        expect.stringMatching(/^devices\.3\.unit_id: .* 248 is reserved/),
      ]);
    }
    const tcp = [0, 255].map((u) => `  - { id: m${u}, driver: eastron-sdm630, bus: panel, unit_id: ${u} }`).join('\n');
    expect(resolve(tcp).problems).toEqual([]);
  });
});

describe('inline points', () => {
  const problemsOf = (devices: string) => resolve(devices).problems.map((p) => `${p.path.join('.')}: ${p.message}`);

  it('take every field a profile point has: bit, string length, sentinels, ratios, internal, interval', () => {
    const { byBus, problems } = resolve(`  - id: plc
    bus: panel
    poll_interval: 1s
    settings: { ct_ratio: 40 }
    points:
      - { id: alarm_overtemp, address: 10, type: bit, bit: 3 }
      - { id: serial_number, address: 20, type: string, length: 4 }
      - { id: temperature, address: 30, type: int16, scale: 0.1, unit: degC, invalid: [0x8000] }
      - { id: pt_ratio, address: 31, type: uint16, internal: true }
      - { id: current_l1, address: 32, type: uint16, scale: 0.01, unit: A, multiply_by: [ct_ratio] }
      - { id: voltage_l1, address: 33, type: uint16, scale: 0.1, unit: V, multiply_by: [pt_ratio] }
      - { id: active_energy_import_total, address: 40, type: uint32, unit: kWh, counter: {}, interval: 15m, description: import }`);
    expect(problems).toEqual([]);
    const d = byBus.get('panel')![0]!;
    const byId = new Map(d.source.points.map((p) => [p.id, p]));
    expect(byId.get('alarm_overtemp')).toMatchObject({ type: 'bit', bit: 3 });
    expect(byId.get('serial_number')).toMatchObject({ type: 'string', length: 4 });
    expect(byId.get('temperature')!.invalid).toEqual([0x8000]);
    expect(byId.get('pt_ratio')!.internal).toBe(true);
    expect(byId.get('current_l1')!.multiply_by).toEqual(['ct_ratio']);
    expect(d.classes.map((c) => c.intervalMs)).toEqual([1000, 900_000]);
    // The string is read whole: 4 registers.
    const req = d.classes[0]!.requests.find((r) => r.points.some((p) => p.id === 'serial_number'))!;
    expect(req.address + req.count).toBeGreaterThanOrEqual(24);
  });

  it('take addresses, tables and orders as manuals print them, as profile points do', () => {
    const { byBus, problems } = resolve(`  - id: plc
    bus: panel
    points:
      - { id: voltage_l1, address: 2006H, function: 4, type: float32, word_order: little }
      - { id: current_l1, address: "0x200C", function: FC03, type: float32, byte_order: little }
      - { id: frequency, address: 0x2044, function: input registers, type: int16 }`);
    expect(problems).toEqual([]);
    const byId = new Map(byBus.get('panel')![0]!.source.points.map((p) => [p.id, p]));
    expect(byId.get('voltage_l1')).toMatchObject({ address: 0x2006, function: 'input', order: 'CDAB' });
    expect(byId.get('current_l1')).toMatchObject({ address: 0x200c, function: 'holding', order: 'BADC' });
    expect(byId.get('frequency')).toMatchObject({ address: 0x2044, function: 'input' });
    // Text that is not an address is refused at the point, as in a profile.
    expect(resolve('  - { id: plc, bus: panel, points: [{ id: frequency, address: "30001", type: int16 }] }').problems
      .map((p) => p.path.join('.'))).toEqual(['devices.0.points.0.address']);
  });

  it('are checked like a profile\'s, each problem at the inline point at fault', () => {
    expect(problemsOf(`  - id: plc
    bus: panel
    points:
      - { id: active_power_total, address: 0, type: float32, unit: kW }
      - { id: relay, address: 1, function: coil, type: float32 }
      - { id: y, address: 1, type: float32 }
      - { id: z, address: 4, type: bit }
      - { id: s, address: 10, type: string }
      - { id: current_l1, address: 20, unit: A, multiply_by: [ct_ratio] }`)).toEqual(expect.arrayContaining([
      'devices.0.points.0.unit: active_power_total is active power, published in W (scale the register), not "kW"',
      'devices.0.points.1.type: coil points are type bool, not float32',
      'devices.0.points.2.address: holding registers of "y" overlap "active_power_total"',
      'devices.0.points.3.bit: type bit needs "bit: 0..15"',
      'devices.0.points.4.length: type string needs "length" in registers',
      'devices.0.points.5.multiply_by.0: "ct_ratio" is neither a point nor a setting of this profile',
    ]));
  });

  it('with a canonical id and no unit are published in the canonical unit; another unit is a problem', () => {
    const { byBus, problems } = resolve(`  - id: plc
    bus: panel
    points:
      - { id: voltage_l1, address: 0, scale: 0.1 }
      - { id: active_energy_import_total, address: 1, type: uint32, counter: {} }`);
    expect(problems).toEqual([]);
    expect(byBus.get('panel')![0]!.source.points.map((p) => [p.id, p.unit])).toEqual([['voltage_l1', 'V'], ['active_energy_import_total', 'kWh']]);
    expect(problemsOf('  - { id: plc, bus: panel, points: [ { id: voltage_l1, address: 0, unit: A } ] }'))
      .toEqual(['devices.0.points.0.unit: voltage_l1 is voltage, published in V (scale the register), not "A"']);
  });

  it('may not poll faster than their device, like point_intervals', () => {
    expect(problemsOf('  - { id: plc, bus: panel, poll_interval: 5s, points: [ { id: flow, address: 0, interval: 1s }, { id: total, address: 1, interval: 15m } ] }'))
      .toEqual(['devices.0.points.0.interval: shorter than the device\'s poll_interval (5000 ms)']);
  });

  it('may not repeat an id (the second silently replaced the first)', () => {
    expect(problemsOf(`  - id: plc
    bus: panel
    points:
      - { id: flow, address: 0 }
      - { id: flow, address: 10 }`)).toEqual(['devices.0.points.1.id: duplicate point id "flow" (also points[0])']);
  });

  it('are still checked when another inline point of the device is unusable', () => {
    expect(problemsOf(`  - id: plc
    bus: panel
    points:
      - { id: x, address: 1, type: floatt }
      - { id: y, address: 2, type: bit }
      - { id: current_l1, address: 3, unit: A, multiply_by: [x] }`)).toEqual([
      expect.stringMatching(/^devices\.0\.points\.0\.type: unknown type "floatt"/),
      'devices.0.points.1.bit: type bit needs "bit: 0..15"',
    ]);
  });

  it('added to a profile must not overlap its registers; overriding one by id is fine', () => {
    expect(problemsOf(`  - id: m
    driver: eastron-sdm630
    bus: panel
    points:
      - { id: active_power_total, address: 0x34, type: float32, unit: W, order: CDAB }
      - { id: raw_l1, address: 0x01, type: uint16 }`)).toEqual([
      'devices.0.points.1.address: input registers of "raw_l1" overlap "voltage_l1"',
    ]);
  });
});

describe('cycle estimates', () => {
  it('uses frame times at the baud rate on a serial line', () => {
    const rtu = busConfig({ type: 'modbus_rtu', path: '/dev/null', baud_rate: 9600 });
    // 8-byte request + 165-byte answer, 10 bits a character, + 5 ms turnaround + 4 ms silence.
    expect(requestMs(rtu, { function: 'input', count: 80 })).toBeCloseTo((173 * 10 * 1000) / 9600 + 5 + 4, 6);
    const fast = busConfig({ type: 'modbus_rtu', path: '/dev/null', baud_rate: 115_200, parity: 'even' });
    expect(requestMs(fast, { function: 'input', count: 80 })).toBeCloseTo((173 * 11 * 1000) / 115_200 + 5 + 2, 6);
  });

  it('assumes a typical latency on Modbus TCP, plus the configured gap', () => {
    expect(requestMs(busConfig({ type: 'modbus_tcp', host: 'h', inter_frame_delay: '20ms' }), { function: 'holding', count: 10 })).toBe(30);
  });

  it('adds up a bus and says whether it fits', () => {
    const { byBus, bus } = resolve(['1', '2', '3', '4'].map((u) => `  - { id: m${u}, driver: eastron-sdm630, bus: rs, unit_id: ${u}, poll_interval: 1s, counter_interval: 10s }`).join('\n'),
      '{ id: rs, type: modbus_rtu, path: /dev/null, baud_rate: 19200 }');
    const e = estimateBus(bus, byBus.get('rs')!);
    expect(e.fastestIntervalMs).toBe(1000);
    expect(e.worstTickRequests).toBe(16);
    expect(e.fits).toBe(e.worstTickMs <= 1000);
    expect(e.utilisation).toBeLessThan(e.worstTickMs / 1000);
  });
});

// Modbus RTU on a serial line: a socat pty pair stands in for the RS-485 cable. One end is
// the gateway's bus, the other a simulated line with several meters (or modbus-serial's own
// ServerSerial, as an independent implementation). A socat TCP↔pty bridge stands in for a
// serial device server (RTU over TCP).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { TransportError } from '../../../src/protocols/modbus/errors.js';
import { ServerSerial } from '../../../src/protocols/modbus/lib.js';
import { SimulatedMeter } from '../../../src/sim/modbus-meter.js';
import { answerContext, buildVector, startModbusRtuSimulator, type SimServerHandle } from '../../../src/sim/modbus-server.js';
import {
  assertBinaries, startPtyPair, startSerialDeviceServer, systemTestAvailability, type PtyPair,
} from '../../support/servers.js';
import { capturingLogger, catalogue, makeBus, settle } from './helpers.js';

const need = systemTestAvailability([{ name: 'socat', debian: 'socat' }]);
const sdm630 = catalogue.get('eastron-sdm630')!;
const dtsu666 = catalogue.get('chint-dtsu666')!;
const T0 = Date.UTC(2025, 0, 1);

function steppingClock(): () => number {
  let t = T0;
  return () => (t += 1000);
}

describe('Modbus RTU on a serial port that is not there', () => {
  it('says which port could not be opened, in words, and keeps trying', async () => {
    const { log, lines } = capturingLogger();
    const path = join(mkdtempSync(join(tmpdir(), 'eg-rtu-')), 'ttyUSB9');
    const bus = makeBus({ id: 'rs485', type: 'modbus_rtu', path, timeout: '200ms' }, log);
    try {
      const err = await bus.read(1, 'input', 0, 2, { timeoutMs: 200 }).then(() => null, (e: unknown) => e as Error);
      expect(err).toBeInstanceOf(TransportError);
      expect(err!.message.startsWith('cannot connect bus rs485: ')).toBe(true);
      expect(err!.message).toContain(path);
      expect(err!.message).not.toContain('Error:');
      const warned = lines.filter((l) => l.msg === 'modbus bus connect failed');
      expect(warned).toHaveLength(1);
      expect(String(warned[0]!.err)).toContain(path);
      expect(String(warned[0]!.err)).not.toContain('Error:');
    } finally {
      await bus.close();
    }
  });
});

// Without socat installed this skips, outside CI only, with a warning naming the
// Debian package; under CI=true the missing binary fails the test (assertBinaries).
describe.skipIf(need.skip)('Modbus RTU over a socat pty pair', () => {
  let pty: PtyPair;
  let sim: SimServerHandle;
  let bus: ModbusBus;
  const meters = [
    new SimulatedMeter({ unitId: 1, profile: sdm630, epochMs: T0 }),
    new SimulatedMeter({ unitId: 2, profile: sdm630, epochMs: T0 }),
    new SimulatedMeter({ unitId: 5, profile: dtsu666, epochMs: T0, ratios: { ct_ratio: 40, pt_ratio: 1 } }),
  ];

  beforeAll(async () => {
    assertBinaries(need.missing);
    pty = await startPtyPair();
    sim = await startModbusRtuSimulator(meters, { path: pty.a, baudRate: 9600 }, { now: steppingClock() });
    bus = makeBus({ type: 'modbus_rtu', path: pty.b, baud_rate: 9600 });
  });
  afterEach(() => sim.faults.clear());
  afterAll(async () => {
    await bus?.close();
    await sim?.stop();
    await pty?.stop();
  });

  it('reads several unit ids and models on one line, each answer its own', async () => {
    const reads: Array<Promise<{ unit: number; data: number[] | boolean[] }>> = [];
    for (let i = 0; i < 12; i++) {
      const unit = [1, 2, 5][i % 3]!;
      const [fn, address, count] = unit === 5 ? ['holding', 0x2000, 50] as const : ['input', 0, 80] as const;
      reads.push(bus.read(unit, fn, address, count, { timeoutMs: 2000 }).then((data) => ({ unit, data })));
    }
    const results = await Promise.all(reads);
    expect(sim.inFlight.max).toBe(1);
    expect(results.map((r) => [r.unit, r.data])).toEqual(sim.answers.slice(-12).map((a) => [a.unit, a.data]));
  });

  it('times out on a unit nobody answers for, and the line keeps working', async () => {
    const r = await settle(bus.read(9, 'input', 0, 2, { timeoutMs: 200 }));
    expect((r as { error: TransportError }).error).toMatchObject({ kind: 'timeout' });
    await expect(bus.read(1, 'input', 0, 2, { timeoutMs: 1000 })).resolves.toHaveLength(2);
  });

  it('reports an exception answer', async () => {
    sim.faults.set(2, { kind: 'exception', code: 2 });
    const r = await settle(bus.read(2, 'input', 0, 2, { timeoutMs: 1000 }));
    expect((r as { error: TransportError }).error).toMatchObject({ kind: 'exception', exceptionCode: 2 });
  });

  it('finds the answer behind line noise', async () => {
    sim.faults.set(1, { kind: 'noise', bytes: 23 });
    for (let i = 0; i < 10; i++) {
      const data = await bus.read(1, 'input', 0x48, 2, { timeoutMs: 1000 });
      expect(data).toEqual(sim.answers.at(-1)!.data);
    }
  });

  it('never takes a slow device\'s late answer for the next answer', async () => {
    sim.faults.set(2, { kind: 'delay', ms: 300 });
    expect((await settle(bus.read(2, 'input', 0x48, 2, { timeoutMs: 200 }))).ok).toBe(false);
    sim.faults.delete(2);
    const next = await bus.read(2, 'input', 0x48, 2, { timeoutMs: 1000 });
    const fresh = sim.answers.filter((a) => a.unit === 2 && a.delayedMs === 0).at(-1)!;
    const late = sim.answers.find((a) => a.unit === 2 && a.delayedMs === 300)!;
    expect(late.data).not.toEqual(fresh.data);
    expect(next).toEqual(fresh.data);
  });
});

// Without socat installed this skips, outside CI only, with a warning naming the
// Debian package; under CI=true the missing binary fails the test (assertBinaries).
describe.skipIf(need.skip)('Modbus RTU against modbus-serial\'s ServerSerial', () => {
  it('reads what the independent server serves', async () => {
    assertBinaries(need.missing);
    const pty = await startPtyPair();
    const meter = new SimulatedMeter({ unitId: 3, profile: sdm630, epochMs: T0 });
    const ctx = answerContext([meter], () => T0 + 5000, 'silent');
    // interval: inter-byte silence that ends a request; 5 ms suits a pty.
    const server = new ServerSerial!(buildVector(ctx), { path: pty.a, baudRate: 9600, unitID: 255, interval: 5 });
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.on('initialized', () => resolve()));
    const bus = makeBus({ type: 'modbus_rtu', path: pty.b, baud_rate: 9600 });
    try {
      const data = await bus.read(3, 'input', 0, 80, { timeoutMs: 2000 });
      expect(data).toEqual(meter.read('input', 0, 80, T0 + 5000));
    } finally {
      await bus.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pty.stop();
    }
  });
});

// Without socat installed this skips, outside CI only, with a warning naming the
// Debian package; under CI=true the missing binary fails the test (assertBinaries).
describe.skipIf(need.skip)('Modbus RTU over TCP through a serial device server (socat TCP↔pty)', () => {
  it('reads meters behind the device server and times out on a silent one', async () => {
    assertBinaries(need.missing);
    const dtu = await startSerialDeviceServer();
    const meters = [1, 2].map((unitId) => new SimulatedMeter({ unitId, profile: sdm630, epochMs: T0 }));
    const sim = await startModbusRtuSimulator(meters, { path: dtu.path, baudRate: 9600 }, { now: () => T0 + 7000 });
    const bus = makeBus({ type: 'modbus_rtu_over_tcp', host: '127.0.0.1', port: dtu.port });
    try {
      for (const unit of [1, 2]) {
        await expect(bus.read(unit, 'input', 0, 80, { timeoutMs: 2000 })).resolves.toEqual(meters[unit - 1]!.read('input', 0, 80, T0 + 7000));
      }
      sim.faults.set(2, { kind: 'silent' });
      expect((await settle(bus.read(2, 'input', 0, 2, { timeoutMs: 200 }))).ok).toBe(false);
      await expect(bus.read(1, 'input', 0x48, 2, { timeoutMs: 2000 })).resolves.toHaveLength(2);
    } finally {
      await bus.close();
      await sim.stop();
      await dtu.stop();
    }
  });
});

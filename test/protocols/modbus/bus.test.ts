// The bus against real servers over TCP: modbus-serial's ServerTCP (Modbus TCP) and the
// simulator's serial device server (RTU frames over TCP). Faults are switched per unit id.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXCEPTION_NAMES, TransportError } from '../../../src/protocols/modbus/errors.js';
import type { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { SimulatedMeter } from '../../../src/sim/modbus-meter.js';
import { startFastModbusTcpSimulator, startModbusRtuOverTcpSimulator, startModbusTcpSimulator, type SimServerHandle } from '../../../src/sim/modbus-server.js';
import { freePort } from '../../support/servers.js';
import { capturingLogger, catalogue, makeBus, settle } from './helpers.js';

const sdm630 = catalogue.get('eastron-sdm630')!;
const T0 = Date.UTC(2025, 0, 1);

/** A clock that moves one second per reading, so every answer carries different energy values. */
function steppingClock(): () => number {
  let t = T0;
  return () => (t += 1000);
}

const TRANSPORTS = [
  { name: 'modbus_tcp (modbus-serial ServerTCP)', type: 'modbus_tcp', start: startModbusTcpSimulator },
  { name: 'modbus_tcp (the benchmark\'s fast simulator)', type: 'modbus_tcp', start: startFastModbusTcpSimulator },
  { name: 'modbus_rtu_over_tcp', type: 'modbus_rtu_over_tcp', start: startModbusRtuOverTcpSimulator },
] as const;

describe.each(TRANSPORTS)('bus over $name', ({ type, start }) => {
  let sim: SimServerHandle;
  let bus: ModbusBus;
  const meters = [1, 2, 3].map((unitId) => new SimulatedMeter({ unitId, profile: sdm630, epochMs: T0 }));

  beforeAll(async () => {
    sim = await start(meters, { now: steppingClock() });
    bus = makeBus({ type, host: '127.0.0.1', port: sim.port });
  });
  afterEach(() => sim.faults.clear());
  afterAll(async () => {
    await bus.close();
    await sim.stop();
  });

  it('reads several unit ids behind one port, one request at a time, each answer its own', async () => {
    for (const u of [1, 2, 3]) sim.faults.set(u, { kind: 'delay', ms: 5 });
    sim.inFlight.max = 0;
    const reads = [];
    for (let i = 0; i < 30; i++) {
      const unit = 1 + (i % 3);
      reads.push(bus.read(unit, 'input', 0x48, 2, { timeoutMs: 2000 }).then((data) => ({ unit, data })));
    }
    const results = await Promise.all(reads);
    expect(sim.inFlight.max).toBe(1);
    // The sim logs answers in order; the bus must have handed each caller exactly its answer.
    const sent = sim.answers.slice(-30);
    expect(results.map((r) => [r.unit, r.data])).toEqual(sent.map((a) => [a.unit, a.data]));
  });

  it('times out on a silent unit, and the other units keep answering', async () => {
    sim.faults.set(2, { kind: 'silent' });
    const r = await settle(bus.read(2, 'input', 0, 2, { timeoutMs: 200 }));
    expect(r.ok).toBe(false);
    expect((r as { error: TransportError }).error).toMatchObject({ name: 'TransportError', kind: 'timeout' });
    await expect(bus.read(1, 'input', 0, 2, { timeoutMs: 1000 })).resolves.toHaveLength(2);
    await expect(bus.read(3, 'input', 0, 2, { timeoutMs: 1000 })).resolves.toHaveLength(2);
  });

  it.each([1, 2, 3, 4, 5, 6, 8, 10, 11])('reports exception %i with its code and name, and the bus stays usable', async (code) => {
    sim.faults.set(1, { kind: 'exception', code });
    const r = await settle(bus.read(1, 'input', 0, 2, { timeoutMs: 1000 }));
    expect(r.ok).toBe(false);
    const err = (r as { error: TransportError }).error;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.kind).toBe('exception');
    expect(err.exceptionCode).toBe(code);
    expect(err.message).toContain(EXCEPTION_NAMES[code]);
    sim.faults.delete(1);
    await expect(bus.read(1, 'input', 0, 2, { timeoutMs: 1000 })).resolves.toHaveLength(2);
  });

  it('answers exception 2 for a read across an unreadable range, as a strict meter does', async () => {
    const strict = new SimulatedMeter({ unitId: 9, profile: { ...sdm630, unreadable: [{ function: 'input', from: 0x50, to: 0x60 }] }, epochMs: T0 });
    expect(strict.readable('input', 0x40, 0x20)).toBe(false);
    expect(strict.readable('input', 0, 0x50)).toBe(true);
  });

  it('fails a request at once when the connection drops mid-poll, and reconnects for the next', async () => {
    const connectsBefore = bus.stats.connects;
    sim.faults.set(3, { kind: 'disconnect' });
    const startedMs = Date.now();
    const r = await settle(bus.read(3, 'input', 0, 2, { timeoutMs: 20_000 }));
    expect(r.ok).toBe(false);
    expect((r as { error: TransportError }).error.kind).toBe('connection');
    // Not after the 20 s timeout: the loss of the link ends the request.
    expect(Date.now() - startedMs).toBeLessThan(10_000);
    sim.faults.delete(3);
    await expect(bus.read(3, 'input', 0, 2, { timeoutMs: 1000 })).resolves.toHaveLength(2);
    // One new connection for the lost request's one retry (a connection that had answered
    // before may have been closed by a peer that closes after every answer), which the
    // fault drops too, and one for the next request.
    expect(bus.stats.connects).toBe(connectsBefore + 2);
  });

  it('reads a slow device within its timeout', async () => {
    sim.faults.set(1, { kind: 'delay', ms: 150 });
    await expect(bus.read(1, 'input', 0, 80, { timeoutMs: 1000 })).resolves.toHaveLength(80);
  });

  it('never takes the late answer of a timed-out request for the answer to the next one', async () => {
    // Late by 1.5 timeouts: the answer arrives while the bus is free or busy with the next request.
    sim.faults.set(2, { kind: 'delay', ms: 450 });
    const first = await settle(bus.read(2, 'input', 0x48, 2, { timeoutMs: 300 }));
    expect(first.ok).toBe(false);
    sim.faults.delete(2);
    const second = await bus.read(2, 'input', 0x48, 2, { timeoutMs: 1000 });
    await new Promise((r) => setTimeout(r, 300));
    const late = sim.answers.find((a) => a.unit === 2 && a.delayedMs === 450)!;
    const fresh = sim.answers.filter((a) => a.unit === 2 && a.delayedMs === 0).at(-1)!;
    expect(late).toBeDefined();
    expect(late.data).not.toEqual(fresh.data);
    expect(second).toEqual(fresh.data);
    // The next requests are in step again.
    const third = await bus.read(2, 'input', 0x48, 2, { timeoutMs: 1000 });
    expect(third).toEqual(sim.answers.filter((a) => a.unit === 2).at(-1)!.data);
  });
});

describe('reconnecting', () => {
  it('backs off while the server is gone, logs the outage once, and reconnects when it returns', async () => {
    const port = await freePort();
    const { log, lines } = capturingLogger();
    const bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port, reconnect_max: '1s' }, log);
    const errors: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await settle(bus.read(1, 'input', 0, 2, { timeoutMs: 500 }));
      expect(r.ok).toBe(false);
      errors.push((r as { error: Error }).error.message);
    }
    // Only the first attempt touched the network; the rest waited out the backoff.
    expect(errors.filter((m) => m.includes('waiting to reconnect'))).toHaveLength(4);
    expect(lines.filter((l) => l.msg === 'modbus bus connect failed')).toHaveLength(1);

    const sim = await startModbusTcpSimulator([new SimulatedMeter({ unitId: 1, profile: sdm630 })], { port });
    try {
      const deadline = Date.now() + 15_000;
      let ok = false;
      while (!ok && Date.now() < deadline) {
        ok = (await settle(bus.read(1, 'input', 0, 2, { timeoutMs: 500 }))).ok;
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ok).toBe(true);
      expect(lines.filter((l) => l.msg === 'modbus bus connected')).toHaveLength(1);
      expect(lines.filter((l) => l.msg === 'modbus bus connect failed')).toHaveLength(1);
    } finally {
      await bus.close();
      await sim.stop();
    }
  });
});

describe('timing knobs (lower bounds only: a loaded machine can only add delay)', () => {
  let sim: SimServerHandle;
  beforeAll(async () => {
    sim = await startFastModbusTcpSimulator([1, 2].map((unitId) => new SimulatedMeter({ unitId, profile: sdm630, epochMs: T0 })));
  });
  afterAll(() => sim.stop());

  it('waits pause_after_connect before the first request of a new connection', async () => {
    const bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: sim.port });
    try {
      const t0 = performance.now();
      await bus.read(1, 'input', 0, 2, { timeoutMs: 2000, pauseAfterConnectMs: 250 });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(245);
      // Later requests on the same connection do not wait again.
      await bus.read(1, 'input', 0, 2, { timeoutMs: 2000, pauseAfterConnectMs: 250 });
    } finally {
      await bus.close();
    }
  });

  it('keeps pause_between_requests between one device\'s answer and its next request', async () => {
    const bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: sim.port });
    try {
      await bus.read(1, 'input', 0, 2, { timeoutMs: 2000 });
      const t0 = performance.now();
      await bus.read(1, 'input', 0, 2, { timeoutMs: 2000, pauseBetweenRequestsMs: 200 });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(195);
    } finally {
      await bus.close();
    }
  });

  it('keeps the bus\'s inter-frame delay between any two requests', async () => {
    const bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: sim.port, inter_frame_delay: '150ms' });
    try {
      await bus.read(1, 'input', 0, 2, { timeoutMs: 2000 });
      const t0 = performance.now();
      await bus.read(2, 'input', 0, 2, { timeoutMs: 2000 });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
    } finally {
      await bus.close();
    }
  });
});

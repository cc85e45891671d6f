// Modbus exceptions on a real bus (the byte-scripted Modbus TCP server) under the real
// scheduler: which codes are retried, which end the device's cycle, and which are the
// device's answer for one block only. A meter that refuses one block (a register a firmware
// variant does not have: exception 2) still answers: the rest of its points are read and
// published, the refused ones `bad` with the reason, and it is `degraded`, not offline.
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/loader.js';
import type { ModbusBusConfig } from '../../../src/config/schema.js';
import type { DevicePoll } from '../../../src/core/sample.js';
import { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { resolveModbusDevices } from '../../../src/protocols/modbus/device.js';
import { BusScheduler, type Availability } from '../../../src/protocols/modbus/scheduler.js';
import { silentLogger } from '../../../src/log/logger.js';
import { FakeBus, FakeClock } from './fakes.js';
import { capturingLogger, catalogue } from './helpers.js';
import { sleep, startScripted, type Scripted, type ScriptedRequest } from './scripted.js';

/** The SDM630 register the server refuses: its line-to-line voltage block starts there. */
const REFUSED = 0x00c8;
const sdm630 = catalogue.get('eastron-sdm630')!;
const covers = (r: ScriptedRequest, address: number) => r.address <= address && address < r.address + r.count;

interface Run {
  polls: DevicePoll[];
  availability: Array<{ device: string; state: Availability; reason?: string }>;
  requests: ScriptedRequest[];
}

let server: Scripted | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

/** Two SDM630s polled every second for `ms`; unit 1 answers `code` to the requests `refuse` picks. */
async function pollFor(code: number, ms: number, retries: number, refuse: (r: ScriptedRequest) => boolean): Promise<Run> {
  server = await startScripted('mbap', (req, reply) => {
    if (req.unit === 1 && refuse(req)) reply.send(reply.frame(Buffer.from([req.unit, req.fc | 0x80, code])));
    else reply.send(reply.frame(reply.answerPdu()));
  });
  const config = parseConfigText(`version: 1
gateway: { id: gw, site: s }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${server.port}, timeout: 300ms }]
devices:
  - { id: m1, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s, retries: ${retries} }
  - { id: m2, driver: eastron-sdm630, bus: panel, unit_id: 2, poll_interval: 1s }
`, 'exceptions.yaml');
  const { byBus, problems } = resolveModbusDevices(config, catalogue);
  expect(problems).toEqual([]);
  const bus = new ModbusBus(config.buses[0] as ModbusBusConfig, silentLogger());
  const out: Run = { polls: [], availability: [], requests: server.requests };
  const scheduler = new BusScheduler(bus, byBus.get('panel')!, {
    onPoll: (p) => out.polls.push(p),
    onAvailability: (device, state, reason) => out.availability.push({ device, state, ...(reason ? { reason } : {}) }),
  }, silentLogger());
  try {
    scheduler.start();
    await sleep(ms);
  } finally {
    await scheduler.stop();
    await bus.close();
  }
  return out;
}

const refusingBlock = (code: number, ms: number) => pollFor(code, ms, 2, (r) => covers(r, REFUSED));
/** Unit 1 answers `code` to every request. */
const refusingAll = (code: number, ms: number) => pollFor(code, ms, 2, () => true);

/** SDM630 points whose registers lie in [from, to). */
const pointsIn = (from: number, to: number) => sdm630.points.filter((p) => p.address >= from && p.address < to);

/**
 * The points around `address` that touch one another (each starts at or before the previous
 * one's end): a request for any of them without the others would leave a gap, so no request
 * reads them without covering `address` when the first of them starts there.
 */
function touchingFrom(address: number): string[] {
  const sorted = [...sdm630.points].sort((a, b) => a.address - b.address);
  let i = sorted.findIndex((p) => p.address === address);
  const out: string[] = [];
  let end = address;
  for (; i < sorted.length && sorted[i]!.address <= end; i++) {
    out.push(sorted[i]!.id);
    end = Math.max(end, sorted[i]!.address + (sorted[i]!.type.endsWith('32') ? 2 : sorted[i]!.type.endsWith('64') ? 4 : 1));
  }
  return out.sort();
}

describe('a device that refuses one block of its plan', () => {
  it.each([
    // Exceptions 2 and 3 may mean a hole in the device's map inside the block, or a block
    // longer than the device answers at once: the block is read in pieces, the piece holding
    // the refused register (refused too) point by point, and only the point on it stays bad.
    [2, 'illegal data address', pointsIn(REFUSED, REFUSED + 1).map((p) => p.id)],
    [3, 'illegal data value', pointsIn(REFUSED, REFUSED + 1).map((p) => p.id)],
    // 1 is about the request as such: the whole block is bad. SDM630 keeps nothing between
    // 0x0050 and 0x00C8 nor between 0x0100 and 0x0150, so the block planned at 0x00C8 holds
    // exactly the points at 0x00C8..0x00FF.
    [1, 'illegal function', pointsIn(REFUSED, 0x100).map((p) => p.id).sort()],
  ])('exception %i (%s): the other blocks are read and published, the refused points bad, the device degraded', async (code, name, refusedIds) => {
    const got = await refusingBlock(code, 3_300);
    const m1 = got.polls.filter((p) => p.device === 'm1');
    // Three ticks in 3.3 s (the first on the next whole second): at least two polls.
    expect(m1.length).toBeGreaterThanOrEqual(2);
    expect(refusedIds.length).toBeGreaterThan(code === 1 ? 2 : 0);
    // (The run of touching points the refused one starts, refused whole at the first poll.)
    expect(touchingFrom(REFUSED).length).toBeGreaterThan(2);
    for (const poll of m1) {
      // (The server's words are arbitrary: a read point may be implausible, never bad.)
      const bad = Object.entries(poll.values).filter(([, v]) => v.quality === 'bad').map(([id]) => id).sort();
      expect(bad).toEqual(refusedIds);
      for (const id of refusedIds) {
        expect(poll.values[id]).toMatchObject({ value: null, quality: 'bad' });
        expect(poll.values[id]!.status).toContain(`exception ${code} (${name})`);
      }
      expect(poll.values.active_energy_import_total!.value).not.toBeNull();
    }
    // An exception is the device's answer: the register refused is asked once per poll, never
    // retried, and the blocks after it still asked.
    const asked = got.requests.filter((x) => x.unit === 1);
    const polled = asked.filter((x) => x.address === 0).length;
    expect(m1.length).toBe(polled);
    // (Exceptions 2 and 3: at the first poll, the whole block, the run of points from the
    // refused register and its halves down to the point on it alone; that point alone at
    // every later poll. Exception 1: the block, once a poll.)
    const perPoll: number[] = [];
    for (const x of asked) {
      if (x.address === 0) perPoll.push(0);
      if (covers(x, REFUSED)) perPoll[perPoll.length - 1]! += 1;
    }
    expect(perPoll.slice(1)).toEqual(perPoll.slice(1).map(() => 1));
    expect(perPoll[0]).toBe(code === 1 ? 1 : 2 + Math.ceil(Math.log2(touchingFrom(REFUSED).length)));
    expect(asked.filter((x) => x.address === 0x015a).length).toBe(polled);
    if (code === 1) expect(asked.length).toBe(3 * polled);
    // Degraded once, with the reason, never offline; the other device untouched.
    const states = got.availability.filter((a) => a.device === 'm1');
    expect(states.map((a) => a.state)).toEqual(['degraded']);
    expect(states[0]!.reason).toContain(`exception ${code}`);
    expect(got.availability.filter((a) => a.device === 'm2').map((a) => a.state)).toEqual(['online']);
    expect(got.polls.filter((p) => p.device === 'm2').length).toBeGreaterThanOrEqual(2);
  }, 15_000);
});

describe('a strict device with a hole in its map inside a planned block', () => {
  it('reads the block\'s points in pieces around the hole, from then on, and stays online', async () => {
    // SDM630 keeps nothing at 208..223 (inside the block planned at 200+52): a strict meter
    // refuses every request that covers such a register, as it refuses the whole block.
    const HOLE = 215;
    const got = await pollFor(2, 3_300, 2, (r) => covers(r, HOLE));
    const m1 = got.polls.filter((p) => p.device === 'm1');
    expect(m1.length).toBeGreaterThanOrEqual(2);
    for (const poll of m1) {
      expect(Object.entries(poll.values).filter(([, v]) => v.quality === 'bad').map(([id]) => id)).toEqual([]);
      expect(Object.keys(poll.values).sort()).toEqual(sdm630.points.filter((p) => !p.internal).map((p) => p.id).sort());
    }
    // The block was asked whole once, never again; no piece covers the hole.
    const asked = got.requests.filter((r) => r.unit === 1);
    expect(asked.filter((r) => covers(r, HOLE))).toHaveLength(1);
    // Every register of every SDM630 point in the block was read by some request.
    for (const p of sdm630.points.filter((q) => q.address >= 200 && q.address < 252)) {
      expect(asked.some((r) => r.address <= p.address && p.address < r.address + r.count && !covers(r, HOLE)), p.id).toBe(true);
    }
    expect(got.availability.filter((a) => a.device === 'm1').map((a) => a.state)).toEqual(['online']);
  }, 15_000);
});

describe('a device that answers every request with an exception about itself', () => {
  it.each([
    [4, 'server device failure'],
    [10, 'gateway path unavailable'],
  ])('exception %i (%s): not retried, the rest of its cycle skipped, degraded then offline', async (code) => {
    const got = await refusingAll(code, 4_300);
    const m1 = got.requests.filter((r) => r.unit === 1);
    // One request per probe (its first block), no retry: one per tick, fewer as it backs off.
    expect(m1.every((r) => r.address === 0)).toBe(true);
    expect(m1.length).toBeGreaterThanOrEqual(2);
    expect(m1.length).toBeLessThanOrEqual(4);
    expect(got.polls.filter((p) => p.device === 'm1')).toEqual([]);
    expect(got.availability.filter((a) => a.device === 'm1').map((a) => a.state)).toEqual(['degraded', 'offline']);
  }, 15_000);

  it.each([
    [1, 'illegal function'],
    [2, 'illegal data address'],
    [3, 'illegal data value'],
  ])('exception %i (%s) to every request, pieces too: nothing published, degraded then offline, backing off', async (code) => {
    const got = await refusingAll(code, 4_300);
    // Each probe asks every block (a refused block does not end the poll), but the probes
    // thin out as the device backs off: ticks at 1, 2 and 4 s at most, not every second.
    // (With 2 and 3 each block is asked again in pieces and points, some at address 0 too:
    // a probe is the first block as planned, asked whole again at each since nothing of a
    // device that refuses everything is remembered.)
    const firstBlock = got.requests.find((r) => r.unit === 1)!;
    const probes = got.requests.filter((r) => r.unit === 1 && r.address === 0 && r.count === firstBlock.count).length;
    expect(firstBlock.count).toBeGreaterThan(2);
    expect(probes).toBeGreaterThanOrEqual(2);
    expect(probes).toBeLessThanOrEqual(3);
    expect(got.polls.filter((p) => p.device === 'm1')).toEqual([]);
    expect(got.availability.filter((a) => a.device === 'm1').map((a) => a.state)).toEqual(['degraded', 'offline']);
    expect(got.availability.filter((a) => a.device === 'm1')[0]!.reason).toContain(`exception ${code}`);
    expect(got.polls.filter((p) => p.device === 'm2').length).toBeGreaterThanOrEqual(3);
  }, 15_000);

  it.each([
    [5, 'acknowledge'],
    [6, 'server device busy'],
    [11, 'gateway target device failed to respond'],
  ])('exception %i (%s): asked again exactly `retries` times while healthy, then backs off', async (code) => {
    const got = await refusingAll(code, 1_800);
    const m1 = got.requests.filter((r) => r.unit === 1);
    // The first tick: the first block and two retries; the second tick: one probe.
    const first = m1.filter((r) => r.n < got.requests.findIndex((x) => x.unit === 2));
    expect(first.length).toBe(3);
    expect(first.every((r) => r.address === 0)).toBe(true);
    expect(got.availability.filter((a) => a.device === 'm1').map((a) => a.state)[0]).toBe('degraded');
  }, 15_000);
});

describe('a device that stops refusing', () => {
  it('goes degraded at the refusal and online at its next full poll, each published once and logged once', async () => {
    const config = parseConfigText(`version: 1
gateway: { id: gw, site: s }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1 }]
devices: [{ id: m1, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s }]
`, 'recover.yaml');
    const { byBus } = resolveModbusDevices(config, catalogue);
    const clock = new FakeClock(Date.UTC(2025, 0, 1));
    const bus = new FakeBus(clock);
    const states: Array<{ state: Availability; reason?: string }> = [];
    const { log, lines } = capturingLogger();
    const polls: DevicePoll[] = [];
    const scheduler = new BusScheduler(bus, byBus.get('panel')!, {
      onPoll: (p) => polls.push(p),
      onAvailability: (_d, state, reason) => states.push({ state, ...(reason ? { reason } : {}) }),
    }, log, { clock });
    // The first request of the first poll draws exception 1, everything after it answers.
    // (Not 2 or 3: the block would be read again at once in pieces, and answered.)
    bus.behaviour.set(1, { kind: 'exception', code: 1, latencyMs: 5, once: true });
    scheduler.start();
    await clock.runUntil(Date.UTC(2025, 0, 1) + 5_500);
    await clock.stopping(scheduler.stop());
    expect(states.map((s) => s.state)).toEqual(['degraded', 'online']);
    // (The fake bus's exception message names no exception; the request is added to it.)
    expect(states[0]!.reason).toMatch(/^modbus exception 1.* \(reading input 0\+\d+\)$/);
    expect(lines.filter((l) => l.msg === 'device availability changed')).toHaveLength(2);
    // Every tick published a poll, the first one too.
    expect(polls).toHaveLength(5);
    expect(Object.values(polls[0]!.values).some((v) => v.quality === 'bad')).toBe(true);
    expect(polls.slice(1).every((p) => Object.values(p.values).every((v) => v.quality !== 'bad'))).toBe(true);
  });
});


describe('a listener that throws on an availability change', () => {
  it('neither stops the bus nor leaves a rejected promise behind when the change comes from a failure', async () => {
    const config = parseConfigText(`version: 1
gateway: { id: gw, site: s }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1 }]
devices:
  - { id: m1, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s }
  - { id: m2, driver: eastron-sdm630, bus: panel, unit_id: 2, poll_interval: 1s }
`, 'listener.yaml');
    const { byBus } = resolveModbusDevices(config, catalogue);
    const clock = new FakeClock(Date.UTC(2025, 0, 1));
    const bus = new FakeBus(clock);
    bus.behaviour.set(1, { kind: 'silent' });
    const { log, lines } = capturingLogger();
    const polls: string[] = [];
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    const scheduler = new BusScheduler(bus, byBus.get('panel')!, {
      onPoll: (p) => polls.push(p.device),
      onAvailability: () => { throw new Error('publisher broke'); },
    }, log, { clock });
    try {
      scheduler.start();
      await clock.runUntil(Date.UTC(2025, 0, 1) + 5_500);
      await clock.stopping(scheduler.stop());
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    expect(rejections).toEqual([]);
    // m2 polled at every tick; m1 failing all along, its changes each logged as a listener error.
    expect(polls.filter((d) => d === 'm2')).toHaveLength(5);
    expect(lines.filter((l) => l.msg === 'modbus availability listener failed').length).toBeGreaterThanOrEqual(2);
  });
});

// Meters that ignore a read longer than they serve: no exception, no answer, a timeout from a
// meter that works. A register read of several points that times out while the device
// answers other reads is read again at once in halves, and the device is read so from then on;
// a device that answered nothing is asked the block's first point alone at its next attempt,
// which costs a dead device no more than asking the block again. Each test serves a register
// map from the byte-scripted Modbus TCP server with a rule of its own, and checks the values
// read, the requests asked and what the timeouts cost.
import { describe, expect, it } from 'vitest';
import type { PointValue } from '../../../src/core/sample.js';
import type { ModbusDevice } from '../../../src/protocols/modbus/device.js';
import { TransportError } from '../../../src/protocols/modbus/errors.js';
import { probesNext, readDevice, type Refusal } from '../../../src/protocols/modbus/poll.js';
import { SimulatedMeter } from '../../../src/sim/modbus-meter.js';
import { startModbusTcpSimulator } from '../../../src/sim/modbus-server.js';
import { parseConfigText } from '../../../src/config/loader.js';
import type { ModbusBusConfig } from '../../../src/config/schema.js';
import type { DevicePoll } from '../../../src/core/sample.js';
import { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { resolveModbusDevices } from '../../../src/protocols/modbus/device.js';
import { BusScheduler, type Availability } from '../../../src/protocols/modbus/scheduler.js';
import { capturingLogger, catalogue, driverDevice, inlineDevice, makeBus, settle } from './helpers.js';
import { sleep, type ScriptedRequest } from './scripted.js';
import { closingAfterEach, word, type RuleMeter } from './rule-meter.js';

/** The devices' timeout. */
const TIMEOUT_MS = 300;
const TIMEOUT = { timeout: `${TIMEOUT_MS}ms` };

const { closeAfter, ruleMeter } = closingAfterEach();

/** A meter that answers a request when `answers` says so, and otherwise stays silent. */
const meter = (answers: (req: ScriptedRequest) => boolean) => ruleMeter((req) => (answers(req) ? null : 'silent'));

interface Attempt {
  values: Record<string, PointValue> | null;
  error: TransportError | null;
  refusal: Refusal;
  /** What the meter was asked, as "address+count". */
  asked: string[];
  ms: number;
}

async function attempt(m: RuleMeter, device: ModbusDevice): Promise<Attempt> {
  const refusal: Refusal = { error: null };
  const before = m.server.requests.length;
  const startedMs = performance.now();
  const r = await settle(readDevice(m.bus, device, device.classes, 0, refusal));
  const ms = performance.now() - startedMs;
  const asked = m.server.requests.slice(before).map((q) => `${q.address}+${q.count}`);
  if (r.ok) return { values: r.value, error: null, refusal, asked, ms };
  expect(r.error).toBeInstanceOf(TransportError);
  return { values: null, error: r.error as TransportError, refusal, asked, ms };
}

/** Holding 0+34: seventeen uint16 points at 0..16 and seventeen at 17..33, one gap-free block. */
const oneBlock = () => inlineDevice(Array.from({ length: 34 }, (_, i) => `      - { id: p${i}, address: ${i}, function: holding, type: uint16 }`).join('\n'), TIMEOUT);

/** Holding 0+4 (four points), then holding 100+34 (34 points): two blocks. */
const twoBlocks = () => inlineDevice([
  ...Array.from({ length: 4 }, (_, i) => `      - { id: a${i}, address: ${i}, function: holding, type: uint16 }`),
  ...Array.from({ length: 34 }, (_, i) => `      - { id: b${i}, address: ${100 + i}, function: holding, type: uint16 }`),
].join('\n'), TIMEOUT);

const planned = (d: ModbusDevice) => d.classes.flatMap((c) => c.requests).map((r) => `${r.address}+${r.count}`);

function expectServed(values: Record<string, PointValue> | null, d: ModbusDevice): void {
  expect(values).not.toBeNull();
  for (const p of d.source.points) expect(values![p.id], p.id).toMatchObject({ value: word(p.address), quality: 'good' });
}

describe('a meter that leaves reads over 8 registers unanswered', () => {
  it('after a block it answered, the long one is read in halves in the same poll, and so from then on', async () => {
    const d = twoBlocks();
    expect(planned(d)).toEqual(['0+4', '100+34']);
    const m = await meter((r) => r.count <= 8);

    const first = await attempt(m, d);
    expectServed(first.values, d);
    // 34, its first half (17) and that one's first half (9) time out; 9's halves answer, so
    // 9 registers are too long: the 8 after them are asked, the second 17 is halved twice unasked.
    expect(first.asked).toEqual(['0+4', '100+34', '100+17', '100+9', '100+5', '105+4', '109+8', '117+5', '122+4', '126+8']);
    expect(first.refusal.shortened).toEqual(['holding 100+34 (read in 6 pieces)']);
    expect(first.refusal.error).toBeNull();

    const second = await attempt(m, d);
    expect(second.values).toEqual(first.values);
    expect(second.asked).toEqual(['0+4', '100+5', '105+4', '109+8', '117+5', '122+4', '126+8']);
    expect(second.refusal.shortened).toBeUndefined();
    // Nothing timed out.
    expect(second.ms).toBeLessThan(TIMEOUT_MS);
  });

  it('a block it answered nothing of: the attempt fails, and the next asks its first point, then the block, then halves', async () => {
    const d = oneBlock();
    expect(planned(d)).toEqual(['0+34']);
    const m = await meter((r) => r.count <= 8);

    const first = await attempt(m, d);
    expect(first.error).toMatchObject({ kind: 'timeout' });
    expect(first.error!.message).toContain('reading holding 0+34');
    expect(first.asked).toEqual(['0+34']);
    expect(probesNext(d)).toBe(true);

    const second = await attempt(m, d);
    expectServed(second.values, d);
    expect(second.asked.slice(0, 3)).toEqual(['0+1', '0+34', '0+17']);
    expect(second.refusal.shortened).toHaveLength(1);
    expect(probesNext(d)).toBe(false);

    const third = await attempt(m, d);
    expect(third.values).toEqual(second.values);
    expect(third.ms).toBeLessThan(TIMEOUT_MS);
    // Every piece within the meter's limit, and fewer than one request a point.
    for (const a of third.asked) expect(Number(a.split('+')[1])).toBeLessThanOrEqual(8);
    expect(third.asked.length).toBeLessThan(34 / 2);
  });
});

describe('behind a Modbus TCP gateway, which answers exception 11 when the device behind it does not', () => {
  it('reads the long block in halves, as after a timeout, and keeps reading so', async () => {
    const d = twoBlocks();
    const m = await ruleMeter((r) => (r.count > 8 ? 11 : null));
    const first = await attempt(m, d);
    expectServed(first.values, d);
    expect(first.refusal.shortened).toEqual(['holding 100+34 (read in 6 pieces)']);
    expect(first.refusal.error).toBeNull();
    const second = await attempt(m, d);
    expect(second.values).toEqual(first.values);
    expect(second.asked).toEqual(['0+4', '100+5', '105+4', '109+8', '117+5', '122+4', '126+8']);
  });

  it('a dead device behind it: the block and its first point in turn, each answered 11', async () => {
    const d = oneBlock();
    const m = await ruleMeter(() => 11);
    const attempts: Attempt[] = [];
    for (let i = 0; i < 3; i++) attempts.push(await attempt(m, d));
    expect(attempts.map((a) => a.asked)).toEqual([['0+34'], ['0+1'], ['0+34']]);
    for (const a of attempts) expect(a.error).toMatchObject({ kind: 'exception', exceptionCode: 11 });
  });
});

describe('timeouts that are not about length', () => {
  it('a dead device: each attempt costs one timeout, the block and its first point in turn', async () => {
    const d = oneBlock();
    const m = await meter(() => false);
    const attempts: Attempt[] = [];
    for (let i = 0; i < 4; i++) attempts.push(await attempt(m, d));
    expect(attempts.map((a) => a.asked)).toEqual([['0+34'], ['0+1'], ['0+34'], ['0+1']]);
    for (const a of attempts) {
      expect(a.error).toMatchObject({ kind: 'timeout' });
      expect(a.ms).toBeLessThan(2 * TIMEOUT_MS);
    }
    expect(attempts[1]!.error!.message).toContain('its first point alone, as holding 0+34 timed out whole last time');
  });

  it('a device that answered the block whole and goes silent is asked the block whole when it comes back', async () => {
    const d = oneBlock();
    let alive = true;
    const m = await meter(() => alive);
    expectServed((await attempt(m, d)).values, d);
    alive = false;
    const silent = [await attempt(m, d), await attempt(m, d)];
    // Never shortened: it answered 34 registers before.
    expect(silent.map((a) => a.asked)).toEqual([['0+34'], ['0+34']]);
    expect(probesNext(d)).toBe(false);
    alive = true;
    const back = await attempt(m, d);
    expectServed(back.values, d);
    expect(back.asked).toEqual(['0+34']);
    expect(back.refusal.shortened).toBeUndefined();
  });

  it('a device dead at start that comes back is read whole, not in pieces', async () => {
    const d = oneBlock();
    let alive = false;
    const m = await meter(() => alive);
    expect((await attempt(m, d)).error).toMatchObject({ kind: 'timeout' });
    alive = true;
    const back = await attempt(m, d);
    expectServed(back.values, d);
    expect(back.asked).toEqual(['0+1', '0+34']);
    expect(back.refusal.shortened).toBeUndefined();
    expect((await attempt(m, d)).asked).toEqual(['0+34']);
  });

  it('a device known to ignore long reads that dies: one timeout an attempt, also for a block it was never read in', async () => {
    // Two poll classes: a:* every 5 s (the default), b:* every 10 s; the meter answers at most 12 registers.
    const d = inlineDevice([
      ...Array.from({ length: 34 }, (_, i) => `      - { id: a${i}, address: ${i}, function: holding, type: uint16 }`),
      ...Array.from({ length: 30 }, (_, i) => `      - { id: b${i}, address: ${100 + i}, function: holding, type: uint16 }`),
    ].join('\n'), { ...TIMEOUT, point_intervals: `{ ${Array.from({ length: 30 }, (_, i) => `b${i}: 10s`).join(', ')} }` });
    const [fast, slow] = d.classes;
    expect([fast!.requests.map((r) => `${r.address}+${r.count}`), slow!.requests.map((r) => `${r.address}+${r.count}`)]).toEqual([['0+34'], ['100+30']]);
    let alive = true;
    const m = await meter((r) => alive && r.count <= 12);
    const read = async (classes: typeof d.classes) => {
      const before = m.server.requests.length;
      const startedMs = performance.now();
      const r = await settle(readDevice(m.bus, d, classes, 0));
      return { ok: r.ok, asked: m.server.requests.slice(before).map((q) => `${q.address}+${q.count}`), ms: performance.now() - startedMs };
    };
    // Learnt on the first class: 34 and 17 time out, 9 and 8 answer (longer than 9 and
    // shorter than 17: not known either way).
    expect((await read([fast!])).ok).toBe(false);
    expect((await read([fast!])).ok).toBe(true);
    alive = false;
    // The second class's block (30) is known too long and asked in halves of 15, longer than any
    // read answered: the first one's timeout ends the attempt, with nothing heard in it.
    const dead = await read([slow!]);
    expect(dead.ok).toBe(false);
    expect(dead.asked).toHaveLength(1);
    expect(dead.ms).toBeLessThan(2 * TIMEOUT_MS);
  });

  it('a device read in full before that stops answering in the middle of a poll: no shorter reads', async () => {
    const d = twoBlocks();
    let answers = Number.POSITIVE_INFINITY;
    const m = await meter(() => answers-- > 0);
    expectServed((await attempt(m, d)).values, d);
    // Now it answers one request more, then nothing.
    answers = 1;
    const a = await attempt(m, d);
    expect(a.error).toMatchObject({ kind: 'timeout' });
    expect(a.asked).toEqual(['0+4', '100+34']);
    expect(a.refusal.shortened).toBeUndefined();
    expect(probesNext(d)).toBe(false);
  });
});

describe('the simulated SDM630 that ignores reads over 40 registers (simulate --max-registers 40 --limit-exception silent)', () => {
  it('is read, after one attempt that timed out, with the values an SDM630 that answers 80 gives', async () => {
    const sdm630 = catalogue.get('eastron-sdm630')!;
    const now = () => Date.UTC(2025, 0, 1, 12);
    const start = async (options: { maxRegisters?: number; limitException?: 'silent' }) => {
      const sim = await startModbusTcpSimulator([new SimulatedMeter({ unitId: 1, profile: sdm630, epochMs: Date.UTC(2025, 0, 1), ...options })], { now });
      const bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: sim.port });
      closeAfter(async () => {
        await bus.close();
        await sim.stop();
      });
      return bus;
    };
    const device = () => driverDevice('eastron-sdm630', TIMEOUT);
    const lenientDevice = device();
    const lenient = await readDevice(await start({}), lenientDevice, lenientDevice.classes, 0);
    const fussyBus = await start({ maxRegisters: 40, limitException: 'silent' });
    const fussyDevice = device();
    const first = await settle(readDevice(fussyBus, fussyDevice, fussyDevice.classes, 0));
    expect(first.ok).toBe(false);
    const refusal: Refusal = { error: null };
    const second = await readDevice(fussyBus, fussyDevice, fussyDevice.classes, 0, refusal);
    expect(second).toEqual(lenient);
    expect(Object.values(second).every((v) => v.quality === 'good')).toBe(true);
    expect(refusal.shortened!.length).toBeGreaterThan(0);
    const startedMs = performance.now();
    expect(await readDevice(fussyBus, fussyDevice, fussyDevice.classes, 0)).toEqual(lenient);
    expect(performance.now() - startedMs).toBeLessThan(TIMEOUT_MS);
  });
});

describe('under the scheduler: an SDM630 that ignores reads over 40 registers next to one that does not', () => {
  it('is read in full from its second attempt on, logged once, and its neighbour keeps its schedule', async () => {
    const sdm630 = catalogue.get('eastron-sdm630')!;
    const sim = await startModbusTcpSimulator([
      new SimulatedMeter({ unitId: 1, profile: sdm630, maxRegisters: 40, limitException: 'silent' }),
      new SimulatedMeter({ unitId: 2, profile: sdm630 }),
    ]);
    const config = parseConfigText(`version: 1
gateway: { id: gw, site: s }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${sim.port}, timeout: ${TIMEOUT_MS}ms }]
devices:
  - { id: fussy, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s }
  - { id: plain, driver: eastron-sdm630, bus: panel, unit_id: 2, poll_interval: 1s }
`, 'long-reads.yaml');
    const { byBus, problems } = resolveModbusDevices(config, catalogue);
    expect(problems).toEqual([]);
    const bus = new ModbusBus(config.buses[0] as ModbusBusConfig, capturingLogger().log);
    const { log, lines } = capturingLogger();
    const polls: DevicePoll[] = [];
    const availability: Array<{ device: string; state: Availability }> = [];
    const scheduler = new BusScheduler(bus, byBus.get('panel')!, {
      onPoll: (p) => polls.push(p),
      onAvailability: (device, state) => availability.push({ device, state }),
    }, log);
    try {
      scheduler.start();
      await sleep(5_500);
    } finally {
      await scheduler.stop();
      await bus.close();
      await sim.stop();
    }
    const fussy = polls.filter((p) => p.device === 'fussy');
    const plain = polls.filter((p) => p.device === 'plain');
    // The first attempt timed out; the second (the next tick) and every one after it read all.
    expect(fussy.length).toBeGreaterThanOrEqual(3);
    for (const p of fussy) expect(Object.values(p.values).every((v) => v.quality === 'good')).toBe(true);
    expect(Object.keys(fussy[0]!.values).sort()).toEqual(Object.keys(plain[0]!.values).sort());
    // One missed poll of five or six: the neighbour missed none.
    expect(plain.length).toBeGreaterThanOrEqual(fussy.length + 1);
    expect(availability.filter((a) => a.device === 'plain').map((a) => a.state)).toEqual(['online']);
    expect(availability.filter((a) => a.device === 'fussy').at(-1)!.state).toBe('online');
    const said = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('device did not answer a block whole'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ device: 'fussy', blocks: expect.arrayContaining(['input 0+80 (read in 2 pieces)']) });
  }, 20_000);
});

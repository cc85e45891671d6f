// Fussy meters: a block the plan coalesced and the device refuses whole (exception 2 or 3) is
// read again at once in smaller requests — its gap-free runs of points, and a run refused too
// in halves, down to single points — and the device keeps being read that way, but only once something so
// read was answered. Each test serves a register map from the byte-scripted Modbus TCP server
// with a refusal rule of its own, and checks the values read and the requests asked.
import { describe, expect, it } from 'vitest';
import type { PointValue, Quality } from '../../../src/core/sample.js';
import type { Decoded } from '../../../src/protocols/modbus/decode.js';
import type { ModbusDevice } from '../../../src/protocols/modbus/device.js';
import { TransportError } from '../../../src/protocols/modbus/errors.js';
import { compilePollPlan, decodeInto, halveRequest, type CompiledRequest } from '../../../src/protocols/modbus/plan.js';
import { readDevice, type Refusal } from '../../../src/protocols/modbus/poll.js';
import { SimulatedMeter } from '../../../src/sim/modbus-meter.js';
import { startModbusTcpSimulator } from '../../../src/sim/modbus-server.js';
import { catalogue, driverDevice, inlineDevice, makeBus, settle } from './helpers.js';
import type { ScriptedRequest } from './scripted.js';
import { closingAfterEach, word, type RuleMeter } from './rule-meter.js';

const { closeAfter, ruleMeter: meter } = closingAfterEach();

interface Poll {
  values: Record<string, PointValue>;
  refusal: Refusal;
  /** What the meter was asked during the poll, as "fc address+count". */
  asked: string[];
  /** How many of those it refused. */
  refused: number;
}

async function poll(m: RuleMeter, device: ModbusDevice): Promise<Poll> {
  const refusal: Refusal = { error: null };
  const before = m.server.requests.length;
  const refusedBefore = m.refused.length;
  const values = await readDevice(m.bus, device, device.classes, 0, refusal);
  return { values, refusal, asked: m.server.requests.slice(before).map(show), refused: m.refused.length - refusedBefore };
}

const show = (r: ScriptedRequest) => `${r.fc} ${r.address}+${r.count}`;

/** The registers a device's points cover (one table: these tests keep to holding). */
function registersOf(d: ModbusDevice): Set<number> {
  const map = new Set<number>();
  for (const p of d.source.points) {
    const width = p.type === 'uint32' || p.type === 'int32' || p.type === 'float32' ? 2 : 1;
    for (let i = 0; i < width; i++) map.add(p.address + i);
  }
  return map;
}

const within = (map: Set<number>, r: ScriptedRequest) => {
  for (let a = r.address; a < r.address + r.count; a++) if (!map.has(a)) return false;
  return true;
};

const good = (value: number) => ({ value, quality: 'good' });
const u32 = (address: number) => word(address) * 65536 + word(address + 1);

describe('a meter whose per-request limit is below the plan\'s (exception 3 to longer reads)', () => {
  // Three runs in one planned block (holding 0+34 with max_gap 10): 0-9 ten uint16s, 20-25
  // three uint32s, 30-33 four uint16s. The meter answers at most 8 registers at once.
  const lines = [
    ...Array.from({ length: 10 }, (_, i) => `      - { id: a${i}, address: ${i}, function: holding, type: uint16 }`),
    ...[20, 22, 24].map((a) => `      - { id: b${a}, address: ${a}, function: holding, type: uint32 }`),
    ...[30, 31, 32, 33].map((a) => `      - { id: c${a}, address: ${a}, function: holding, type: uint16 }`),
  ].join('\n');

  it('reads every point, good, with the served values; the next poll asks nothing the meter refuses', async () => {
    const d = inlineDevice(lines, { max_gap: 10 });
    expect(d.classes.flatMap((c) => c.requests).map((r) => `${r.function} ${r.address}+${r.count}`)).toEqual(['holding 0+34']);
    const m = await meter((r) => (r.count > 8 ? 3 : null));

    const first = await poll(m, d);
    for (let i = 0; i < 10; i++) expect(first.values[`a${i}`]).toMatchObject(good(word(i)));
    for (const a of [20, 22, 24]) expect(first.values[`b${a}`]).toMatchObject(good(u32(a)));
    for (const a of [30, 31, 32, 33]) expect(first.values[`c${a}`]).toMatchObject(good(word(a)));
    expect(first.refusal.error).toBeNull();
    // The block, then its runs: 0+10 refused too, so its halves (under the limit: answered).
    expect(first.asked).toEqual(['3 0+34', '3 0+10', '3 0+5', '3 5+5', '3 20+6', '3 30+4']);
    expect(first.refusal.split).toEqual(['holding 0+34 (read in 4 pieces)']);

    const second = await poll(m, d);
    expect(second.values).toEqual(first.values);
    expect(second.refused).toBe(0);
    expect(second.asked).toEqual(['3 0+5', '3 5+5', '3 20+6', '3 30+4']);
    expect(second.refusal).toEqual({ error: null, split: undefined });
  });

  it('the simulator serving an SDM630 that answers 10 registers at once: read as from one that answers 80', async () => {
    const sdm630 = catalogue.get('eastron-sdm630')!;
    const now = () => Date.UTC(2025, 0, 1, 12);
    const read = async (maxRegisters: number) => {
      const sim = await startModbusTcpSimulator([new SimulatedMeter({ unitId: 1, profile: { ...sdm630, read: { max_registers: maxRegisters } }, epochMs: Date.UTC(2025, 0, 1) })], { now });
      const bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: sim.port, timeout: '1s' });
      closeAfter(async () => {
        await bus.close();
        await sim.stop();
      });
      const d = driverDevice('eastron-sdm630');
      const polls: Array<{ values: Record<string, PointValue>; refusal: Refusal; requests: number; answers: number }> = [];
      for (let i = 0; i < 2; i++) {
        const refusal: Refusal = { error: null };
        const requests = sim.requests.get(1) ?? 0;
        const answers = sim.answers.length;
        const values = await readDevice(bus, d, d.classes, 0, refusal);
        polls.push({ values, refusal, requests: (sim.requests.get(1) ?? 0) - requests, answers: sim.answers.length - answers });
      }
      return polls;
    };
    const lenient = await read(80);
    const fussy = await read(10);
    expect(lenient[0]!.refusal).toEqual({ error: null, split: undefined });
    for (const p of fussy) expect(p.values).toEqual(lenient[0]!.values);
    expect(fussy[0]!.values.voltage_l1!.quality).toBe('good');
    expect(fussy[0]!.values.voltage_l1!.value as number).toBeGreaterThan(220);
    expect(fussy[0]!.refusal.error).toBeNull();
    expect(fussy[0]!.refusal.split!.length).toBeGreaterThan(0);
    // The second poll: every request answered with data (the answer log keeps 200).
    expect(fussy[1]!.requests).toBeLessThan(200);
    expect(fussy[1]!.answers).toBe(fussy[1]!.requests);
    // Halving finds requests of several points under the limit: fewer requests than one per
    // point (55 values), at least one per 10 registers the plan reads.
    const planned = d630Registers();
    expect(fussy[1]!.requests).toBeLessThan(Object.keys(fussy[1]!.values).length / 2);
    expect(fussy[1]!.requests).toBeGreaterThanOrEqual(Math.ceil(planned / 10));
    expect(fussy[1]!.refusal.split).toBeUndefined();
  });
});

describe('a meter that answers 2 to over-long reads and has holes in its map', () => {
  it('reads around the holes and under the limit, and keeps reading so', async () => {
    // 0-3 two float32s, a hole at 4-5, 6-13 eight uint16s, a hole, 20 one uint16: one block.
    const d = inlineDevice([
      '      - { id: f0, address: 0, function: holding, type: float32 }',
      '      - { id: f2, address: 2, function: holding, type: float32 }',
      ...Array.from({ length: 8 }, (_, i) => `      - { id: u${6 + i}, address: ${6 + i}, function: holding, type: uint16 }`),
      '      - { id: last, address: 20, function: holding, type: uint16 }',
    ].join('\n'), { max_gap: 10 });
    expect(d.classes.flatMap((c) => c.requests).map((r) => `${r.function} ${r.address}+${r.count}`)).toEqual(['holding 0+21']);
    const map = registersOf(d);
    const m = await meter((r) => (r.count > 6 || !within(map, r) ? 2 : null));

    const first = await poll(m, d);
    const f32 = (a: number) => new DataView(new Uint32Array([u32(a)]).buffer).getFloat32(0, true);
    expect(first.values.f0).toMatchObject(good(f32(0)));
    expect(first.values.f2).toMatchObject(good(f32(2)));
    for (let a = 6; a < 14; a++) expect(first.values[`u${a}`]).toMatchObject(good(word(a)));
    expect(first.values.last).toMatchObject(good(word(20)));
    expect(first.asked).toEqual(['3 0+21', '3 0+4', '3 6+8', '3 6+4', '3 10+4', '3 20+1']);
    expect(first.refusal).toEqual({ error: null, split: ['holding 0+21 (read in 4 pieces)'] });

    const second = await poll(m, d);
    expect(second.values).toEqual(first.values);
    expect(second.refused).toBe(0);
    expect(second.asked).toEqual(['3 0+4', '3 6+4', '3 10+4', '3 20+1']);
    expect(second.refusal.split).toBeUndefined();
  });
});

/**
 * Points 0-5 uint16, 6-7 uint32, 8-9 uint16 and two bits of register 10: one gap-free block
 * (holding 0+11). The meter answers only a request for exactly one point's registers.
 */
const runLines = [
  ...Array.from({ length: 6 }, (_, i) => `      - { id: p${i}, address: ${i}, function: holding, type: uint16 }`),
  '      - { id: p6, address: 6, function: holding, type: uint32 }',
  '      - { id: p8, address: 8, function: holding, type: uint16 }',
  '      - { id: p9, address: 9, function: holding, type: uint16 }',
  '      - { id: bit0, address: 10, function: holding, type: bit, bit: 0 }',
  '      - { id: bit3, address: 10, function: holding, type: bit, bit: 3 }',
].join('\n');
/** runLines and an energy counter in the input table: a second block the meter may answer. */
const withEnergy = `${runLines}\n      - { id: energy, address: 0, function: input, type: uint32 }`;
const ownRegisters = (r: ScriptedRequest) => (r.count === 1 && r.address !== 6 && r.address !== 7) || (r.address === 6 && r.count === 2);

describe('a meter that refuses a gap-free run of several points', () => {
  it('halves it down to single points (bits of one register in one request), all good', async () => {
    const d = inlineDevice(runLines);
    expect(d.classes.flatMap((c) => c.requests).map((r) => `${r.function} ${r.address}+${r.count}`)).toEqual(['holding 0+11']);
    const m = await meter((r) => (ownRegisters(r) ? null : 2));

    const first = await poll(m, d);
    for (const a of [0, 1, 2, 3, 4, 5, 8, 9]) expect(first.values[`p${a}`]).toMatchObject(good(word(a)));
    expect(first.values.p6).toMatchObject(good(u32(6)));
    // word(10) = 1070 = 0b100_0010_1110: bit 0 clear, bit 3 set.
    expect(first.values.bit0).toMatchObject({ value: false, quality: 'good' });
    expect(first.values.bit3).toMatchObject({ value: true, quality: 'good' });
    const single = ['3 0+1', '3 1+1', '3 2+1', '3 3+1', '3 4+1', '3 5+1', '3 6+2', '3 8+1', '3 9+1', '3 10+1'];
    // Halved at the middle of its registers, each refused half again, down to single points.
    expect(first.asked).toEqual([
      '3 0+11', '3 0+6', '3 0+3', '3 0+2', '3 0+1', '3 1+1', '3 2+1', '3 3+3', '3 3+2', '3 3+1', '3 4+1', '3 5+1',
      '3 6+5', '3 6+3', '3 6+2', '3 8+1', '3 9+2', '3 9+1', '3 10+1',
    ]);
    expect(first.refusal).toEqual({ error: null, split: ['holding 0+11 (read point by point: 10 requests)'] });

    const second = await poll(m, d);
    expect(second.values).toEqual(first.values);
    expect(second.asked).toEqual(single);
    expect(second.refused).toBe(0);
  });

  it('a point refused even alone is bad with the exception as its status; the others good, the device still read', async () => {
    const d = inlineDevice(runLines);
    const m = await meter((r) => (ownRegisters(r) && r.address !== 3 ? null : 2));

    for (const [i, p] of [await poll(m, d), await poll(m, d)].entries()) {
      expect(p.values.p3).toMatchObject({ value: null, quality: 'bad' });
      expect(p.values.p3!.status).toContain('exception 2 (illegal data address)');
      for (const a of [0, 1, 2, 4, 5, 8, 9]) expect(p.values[`p${a}`]).toMatchObject(good(word(a)));
      expect(p.values.p6).toMatchObject(good(u32(6)));
      expect(p.values.bit3).toMatchObject({ value: true, quality: 'good' });
      // Published, degraded (the scheduler's reading of a refusal), not thrown.
      expect(p.refusal.error?.exceptionCode).toBe(2);
      expect(p.refusal.error?.message).toContain('(reading holding 3+1)');
      // Learned at the first poll, reported then only; afterwards the point alone is the one
      // request refused.
      expect(p.refusal.split).toEqual(i === 0 ? ['holding 0+11 (read point by point: 10 requests)'] : undefined);
      // First poll: the block and the nine halves holding register 3; then the point alone.
      expect(p.refused).toBe(i === 0 ? 10 : 1);
    }
  });
});

describe('a meter that refuses everything', () => {
  it.each([2, 3])('exception %i: the poll throws, and nothing is remembered: the next poll asks the block whole again', async (code) => {
    const d = inlineDevice(runLines);
    const m = await meter(() => code);
    const polls: string[][] = [];
    for (let i = 0; i < 2; i++) {
      const before = m.server.requests.length;
      const r = await settle(readDevice(m.bus, d, d.classes, 0, { error: null }));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toBeInstanceOf(TransportError);
        expect((r.error as TransportError).exceptionCode).toBe(code);
        // The block as planned is what the device refused.
        expect((r.error as TransportError).message).toContain('(reading holding 0+11)');
      }
      polls.push(m.server.requests.slice(before).map(show));
    }
    // Both polls: the block, then its halves down to its ten single points (2 × 10 - 1 requests).
    expect(polls[0]![0]).toBe('3 0+11');
    expect(polls[0]).toHaveLength(19);
    expect(polls[1]).toEqual(polls[0]);
  });

  it('a meter that refused everything while it booted is read in full once it answers', async () => {
    const d = inlineDevice(runLines);
    let booting = true;
    const m = await meter((r) => (booting ? 2 : ownRegisters(r) ? null : 2));
    expect((await settle(poll(m, d))).ok).toBe(false);
    booting = false;
    const after = await poll(m, d);
    expect(after.asked[0]).toBe('3 0+11');
    expect(after.values.p6).toMatchObject(good(u32(6)));
    expect(Object.values(after.values).every((v) => v.quality === 'good')).toBe(true);
    expect(after.refusal).toEqual({ error: null, split: ['holding 0+11 (read point by point: 10 requests)'] });
  });
});

describe('a block refused at every level by a meter that answers its other blocks', () => {
  it('is asked whole only for a while (one request), its pieces tried again after 1, 2, 4 … polls', async () => {
    const d = inlineDevice(withEnergy);
    expect(d.classes.flatMap((c) => c.requests).map((r) => `${r.function} ${r.address}+${r.count}`)).toEqual(['holding 0+11', 'input 0+2']);
    const m = await meter((r) => (r.fc === 3 ? 2 : null));
    const counts: number[] = [];
    for (let i = 0; i < 8; i++) {
      const p = await poll(m, d);
      expect(p.values.energy).toMatchObject(good(u32(0)));
      expect(p.values.p6).toMatchObject({ value: null, quality: 'bad' });
      expect(p.values.p6!.status).toContain('exception 2');
      expect(p.refusal.error?.message).toContain('(reading holding 0+11)');
      expect(p.refusal.split).toBeUndefined();
      counts.push(p.asked.length);
    }
    // 20: the block, its halves down to its ten points (19), the input block; 2: the two blocks.
    expect(counts).toEqual([20, 2, 20, 2, 2, 20, 2, 2]);
  });
});

describe('a poll that fails after a split was found', () => {
  it('keeps nothing of it: the next poll finds the split again, and reports it then', async () => {
    const d = inlineDevice(withEnergy);
    // Holding: one point's registers at a time. Input: no answer at all at the first poll.
    let silent = true;
    const m = await meter((r) => (r.fc === 4 ? (silent ? 'silent' : null) : ownRegisters(r) ? null : 2));
    const failed = await settle(poll(m, d));
    expect(failed.ok).toBe(false);
    if (!failed.ok) expect((failed.error as TransportError).kind).toBe('timeout');
    silent = false;
    const p = await poll(m, d);
    expect(p.asked[0]).toBe('3 0+11');
    expect(p.asked).toHaveLength(20);
    expect(p.refusal).toEqual({ error: null, split: ['holding 0+11 (read point by point: 10 requests)'] });
    expect(p.values.p6).toMatchObject(good(u32(6)));
    expect(p.values.energy).toMatchObject(good(u32(0)));
    expect((await poll(m, d)).asked).toHaveLength(11);
  });
});

describe('exception 1 (illegal function) to a block', () => {
  it('is not split: the block bad, the other blocks read', async () => {
    const d = inlineDevice(withEnergy);
    const m = await meter((r) => (r.fc === 3 ? 1 : null));
    for (let i = 0; i < 2; i++) {
      const p = await poll(m, d);
      expect(p.asked).toEqual(['3 0+11', '4 0+2']);
      expect(p.values.energy).toMatchObject(good(u32(0)));
      for (const id of ['p0', 'p6', 'p9', 'bit0']) {
        expect(p.values[id]).toMatchObject({ value: null, quality: 'bad' });
        expect(p.values[id]!.status).toContain('exception 1 (illegal function)');
      }
      expect(p.refusal.error?.exceptionCode).toBe(1);
      expect(p.refusal.split).toBeUndefined();
    }
  });
});

/** Registers the SDM630's plan reads, in all its requests. */
function d630Registers(): number {
  return driverDevice('eastron-sdm630').classes.flatMap((c) => c.requests).reduce((n, r) => n + r.count, 0);
}

/** A device of a catalogue driver, unit 1 (read through a bus made apart). */
describe('halveRequest: a refused run in halves', () => {
  it('cuts between points near the middle of the registers, bits of one register together, down to single points into the same slots', () => {
    const d = inlineDevice(runLines);
    const plan = compilePollPlan(d.source.points, d.classes);
    const block = plan.requests[0]!;
    const show = (r: CompiledRequest) => [r.request.address, r.request.count, r.request.points.map((p) => p.id)];
    expect(halveRequest(block).map(show)).toEqual([
      [0, 6, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5']], [6, 5, ['p6', 'p8', 'p9', 'bit0', 'bit3']],
    ]);
    // Halving until nothing halves: each point's own registers.
    const leaves = (r: CompiledRequest): CompiledRequest[] => {
      const halves = halveRequest(r);
      return halves.length === 1 ? halves : halves.flatMap(leaves);
    };
    const points = leaves(block);
    expect(points.map(show)).toEqual([
      [0, 1, ['p0']], [1, 1, ['p1']], [2, 1, ['p2']], [3, 1, ['p3']], [4, 1, ['p4']], [5, 1, ['p5']],
      [6, 2, ['p6']], [8, 1, ['p8']], [9, 1, ['p9']], [10, 1, ['bit0', 'bit3']],
    ]);
    // Decoded from their own words, the points land where the block's would.
    const image = Array.from({ length: 11 }, (_, a) => word(a));
    const whole = { values: [] as Array<Decoded['value']>, qualities: [] as Quality[] };
    decodeInto(block, image, whole.values, whole.qualities);
    const apart = { values: [] as Array<Decoded['value']>, qualities: [] as Quality[] };
    for (const r of points) decodeInto(r, image.slice(r.request.address, r.request.address + r.request.count), apart.values, apart.qualities);
    expect(apart).toEqual(whole);
    expect(whole.values[plan.ids.indexOf('p6')]).toBe(u32(6));
    // A request for one point's registers comes back as it is.
    expect(halveRequest(points[9]!)).toEqual([points[9]]);
  });
});

describe('a meter that ignores reads longer than it serves (no exception: silence)', () => {
  const lines = [
    '      - { id: status, address: 100, function: holding, type: uint16 }',
    ...Array.from({ length: 12 }, (_, i) => `      - { id: v${i}, address: ${i}, function: input, type: uint16 }`),
  ].join('\n');

  it('reads the long block in halves after answering the short one (long-reads.test.ts has more)', async () => {
    const d = inlineDevice(lines);
    expect(d.classes.flatMap((c) => c.requests).map((r) => `${r.function} ${r.address}+${r.count}`)).toEqual(['holding 100+1', 'input 0+12']);
    const m = await meter((r) => (r.count > 8 ? 'silent' : null));
    const first = await poll(m, d);
    for (let i = 0; i < 12; i++) expect(first.values[`v${i}`]).toMatchObject(good(word(i)));
    expect(first.asked).toEqual(['3 100+1', '4 0+12', '4 0+6', '4 6+6']);
    expect(first.refusal.shortened).toEqual(['input 0+12 (read in 2 pieces)']);
    expect((await poll(m, d)).asked).toEqual(['3 100+1', '4 0+6', '4 6+6']);
  });

  it('gives no hint and asks nothing shorter when the first request, a single point, times out (the meter may just be gone)', async () => {
    const d = inlineDevice(lines);
    const m = await meter(() => 'silent');
    const r = await settle(poll(m, d));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect((r.error as TransportError).kind).toBe('timeout');
      expect((r.error as TransportError).message).not.toContain('max_registers');
    }
    expect(m.server.requests.map(show)).toEqual(['3 100+1']);
  });
});

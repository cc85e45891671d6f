// The precompiled poll path must publish exactly what the reference codec (decodeValue per
// point, then applyDerived) publishes: same values bit for bit, same qualities, same keys in
// the same order, for every type, word order, scale, offset and sentinel, and for responses
// that are short or hold things that are not register words.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyDerived } from '../../../src/profiles/derive.js';
import { ORDERS } from '../../../src/profiles/order.js';
import { planProfile, type PollClass } from '../../../src/profiles/planner.js';
import { resolvePoint, type ModbusPoint, type Sentinel, type ValueType } from '../../../src/profiles/schema.js';
import { decodeValue, registerCount, type Decoded } from '../../../src/protocols/modbus/decode.js';
import { compilePollPlan, compileRequest, decodeInto, publishValues, splitRequest } from '../../../src/protocols/modbus/plan.js';
import type { Quality } from '../../../src/core/sample.js';

const TYPES: ValueType[] = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'bcd16', 'bcd32', 'bool', 'bit', 'string'];
// Edge words (all ones, sign bit, BCD-invalid nibbles, NaN/∞ halves) come up often.
const word = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 0xffff, 0x8000, 0x7fff, 0x7f80, 0xff80, 0x7fc0, 0x9999, 0x0001));

/** Sentinels as profiles write them, plus patterns taken from the words themselves. */
const sentinel: fc.Arbitrary<Sentinel> = fc.oneof(
  fc.constantFrom<Sentinel>(0xffff, 0x7fff, -1, 0, -0, 0xffffffff, 0x7fffffff, -32768, Number.NaN, 0.5, 1e20, 0xffffffffffffffffn, 0x8000n, -1n, 9999, 99999999),
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
  fc.double({ noNaN: true }),
);

/** Same in value and quality, and -0/+0 and NaN told apart as Object.is does. */
function expectSame(actual: { value: unknown; quality: Quality }, expected: Decoded): void {
  expect(actual.quality).toBe(expected.quality);
  expect(Object.is(actual.value, expected.value) || actual.value === expected.value).toBe(true);
}

describe('precompiled decoder = reference decoder', () => {
  it('every type, order, scale, offset and sentinel, on random words', () => {
    fc.assert(fc.property(
      fc.constantFrom(...TYPES), fc.constantFrom(...ORDERS),
      fc.constantFrom(1, 0.1, 0.01, 0.001, 10, 2.5, -0.1, 0, 1 / 3),
      fc.constantFrom(0, -40, 273.15, 0.5),
      fc.array(sentinel, { maxLength: 3 }),
      fc.array(word, { minLength: 10, maxLength: 10 }),
      fc.integer({ min: 0, max: 15 }),
      fc.integer({ min: 0, max: 127 }),
      (type, order, scale, offset, invalid, words, bit, pick) => {
        // Some of the words' own patterns (unsigned and signed, both word orders) are
        // sentinels too, so that every way of matching is exercised on its own.
        const [a, b] = [words[2]!, words[3]!];
        const patterns = [a, (a << 16) >> 16, (a * 65536 + b) >>> 0, (a * 65536 + b) | 0, (b * 65536 + a) >>> 0, (b * 65536 + a) | 0];
        const own: Sentinel[] = patterns.filter((_, i) => (pick >> i) & 1);
        // And the decoded value itself (a float or BCD sentinel matches by value, not pattern).
        const bare = { id: 'p', address: 2, function: 'holding' as const, type, order, bit, length: 3 };
        const rawValue = decodeValue(bare, words.slice(2, 2 + registerCount(bare))).value;
        if (pick & 64 && typeof rawValue === 'number') own.push(rawValue);
        const point = { ...bare, scale, offset, invalid: [...invalid, ...own] };
        const request = { function: 'holding' as const, address: 0, count: 10, points: [point] };
        const c = compileRequest(request, () => 0);
        const values: Array<Decoded['value']> = [];
        const qualities: Quality[] = [];
        decodeInto(c, words, values, qualities);
        const expected = decodeValue(point, words.slice(2, 2 + registerCount(point)));
        expectSame({ value: values[0], quality: qualities[0]! }, expected);
      },
    ), { numRuns: 3000 });
  });

  it('a float32 sentinel written as a decimal (-9999.9) matches the float32 the device sends', () => {
    const bytes = Buffer.alloc(4);
    bytes.writeFloatBE(-9999.9);
    const words = [bytes.readUInt16BE(0), bytes.readUInt16BE(2)];
    const point = { id: 'p', address: 0, function: 'input' as const, type: 'float32' as const, order: 'ABCD' as const, invalid: [-9999.9] };
    const c = compileRequest({ function: 'input', address: 0, count: 2, points: [point] }, () => 0);
    const values: Array<Decoded['value']> = [];
    const qualities: Quality[] = [];
    decodeInto(c, words, values, qualities);
    expect({ value: values[0], quality: qualities[0] }).toEqual({ value: null, quality: 'invalid' });
    expect(decodeValue(point, words)).toEqual({ value: null, quality: 'invalid' });
  });

  it('short responses and non-words are bad, exactly where the reference says so', () => {
    const junk = fc.oneof(word, fc.constantFrom<unknown>(-1, 65536, 1.5, Number.NaN, true, '7', null, undefined, 3n));
    fc.assert(fc.property(
      fc.constantFrom(...TYPES), fc.constantFrom(...ORDERS), fc.array(junk, { maxLength: 6 }),
      (type, order, words) => {
        const point = { id: 'p', address: 1, function: 'input' as const, type, order, length: 2 };
        const c = compileRequest({ function: 'input', address: 0, count: 6, points: [point] }, () => 0);
        const values: Array<Decoded['value']> = [];
        const qualities: Quality[] = [];
        decodeInto(c, words as number[], values, qualities);
        const expected = decodeValue(point, (words as number[]).slice(1, 1 + registerCount(point)));
        expectSame({ value: values[0], quality: qualities[0]! }, expected);
      },
    ));
  });

  it('coils and discrete inputs decode as the reference does', () => {
    fc.assert(fc.property(fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), (bits) => {
      const points = [0, 1, 2, 3].map((i) => ({ id: `c${i}`, address: i, function: 'coil' as const, type: 'bool' as const }));
      const c = compileRequest({ function: 'coil', address: 0, count: 4, points }, (id) => Number(id.slice(1)));
      const values: Array<Decoded['value']> = [];
      const qualities: Quality[] = [];
      decodeInto(c, bits, values, qualities);
      points.forEach((p, i) => expectSame({ value: values[i], quality: qualities[i]! }, decodeValue(p, [bits[i]!])));
    }));
  });
});

/** A profile's worth of points: numbers in every order, a ratio register, a scale register, an internal point. */
function profilePoints(): ModbusPoint[] {
  const raw = [
    { id: 'voltage_l1', address: 0, type: 'float32', unit: 'V' },
    { id: 'current_l1', address: 2, type: 'int32', order: 'CDAB', scale: 0.001, unit: 'A', multiply_by: ['ct_ratio'] },
    { id: 'frequency', address: 4, type: 'uint16', scale: 0.01, unit: 'Hz', invalid: [0xffff] },
    { id: 'active_power_total', address: 5, type: 'int16', unit: 'W', scale_register: 'power_exp', multiply_by: ['ct_ratio', 'pt_ratio'] },
    { id: 'power_exp', address: 6, type: 'int16', unit: '1', internal: true },
    { id: 'ct_ratio', address: 7, type: 'uint16', unit: '1', internal: true, invalid: [0] },
    { id: 'active_energy_import_total', address: 20, type: 'uint64', order: 'DCBA', scale: 0.01, unit: 'kWh' },
    { id: 'serial', address: 30, type: 'string', length: 2, unit: '' },
    { id: 'temperature', address: 32, type: 'bcd16', offset: -40, unit: 'degC' },
  ];
  return raw.map((p) => resolvePoint(p as Parameters<typeof resolvePoint>[0], { function: 'holding' }));
}

function reference(points: ModbusPoint[], classes: PollClass[], words: Map<number, number[]>, settings: Record<string, number>) {
  const decoded: Record<string, Decoded> = {};
  for (const c of classes) {
    for (const req of c.requests) {
      const data = words.get(req.address)!;
      for (const p of req.points) decoded[p.id] = decodeValue(p, data.slice(p.address - req.address, p.address - req.address + registerCount(p)));
    }
  }
  return applyDerived({ points, settings: { pt_ratio: { default: 1 } } as never }, decoded, settings);
}

describe('precompiled poll plan = decodeValue + applyDerived', () => {
  const points = profilePoints();
  const classes = planProfile({ points, read: { max_registers: 16, max_gap: 2 }, unreadable: [] }, 1000);

  it('publishes the same values, qualities and key order', () => {
    fc.assert(fc.property(fc.array(word, { minLength: 40, maxLength: 40 }), fc.constantFrom<Record<string, number>>({}, { pt_ratio: 100 }), (image, settings) => {
      const words = new Map(classes.flatMap((c) => c.requests).map((r) => [r.address, image.slice(r.address, r.address + r.count)]));
      const plan = compilePollPlan(points, classes);
      const values: Array<Decoded['value']> = [];
      const qualities: Quality[] = [];
      for (const c of plan.requests) decodeInto(c, words.get(c.request.address)!, values, qualities);
      const source = { points, settings: { pt_ratio: { default: 1 } } as never };
      const actual = publishValues(plan, values, qualities, source, settings);
      const expected = reference(points, classes, words, settings);
      expect(Object.keys(actual)).toEqual(Object.keys(expected));
      for (const id of Object.keys(expected)) {
        expect(actual[id]!.unit).toBe(expected[id]!.unit);
        expectSame(actual[id]!, expected[id]!);
      }
    }));
  });

  it('without ratio or scale registers, builds the values itself, still identical', () => {
    const plain = points.filter((p) => p.multiply_by.length === 0 && p.scale_register === undefined);
    const plainClasses = planProfile({ points: plain, read: { max_registers: 16, max_gap: 2 }, unreadable: [] }, 1000);
    const plan = compilePollPlan(plain, plainClasses);
    expect(plan.derived).toBe(false);
    fc.assert(fc.property(fc.array(word, { minLength: 40, maxLength: 40 }), (image) => {
      const words = new Map(plainClasses.flatMap((c) => c.requests).map((r) => [r.address, image.slice(r.address, r.address + r.count)]));
      const values: Array<Decoded['value']> = [];
      const qualities: Quality[] = [];
      for (const c of plan.requests) decodeInto(c, words.get(c.request.address)!, values, qualities);
      const actual = publishValues(plan, values, qualities, { points: plain }, {});
      const expected = reference(plain, plainClasses, words, {});
      expect(Object.keys(actual)).toEqual(Object.keys(expected));
      for (const id of Object.keys(expected)) expectSame(actual[id]!, expected[id]!);
    }));
  });
});

describe('splitRequest: a refused block read without its gaps', () => {
  // A block over a hole in a strict device's map (0x0004-0x0005 and 0x0007-0x0009 below) is
  // refused whole with exception 2; its points can still be read in gap-free runs.
  const points = [
    resolvePoint({ id: 'a', address: 0, type: 'float32', unit: '' }),
    resolvePoint({ id: 'b', address: 2, type: 'float32', unit: '' }),
    resolvePoint({ id: 'c', address: 6, type: 'int16', unit: '' }),
    resolvePoint({ id: 'd', address: 10, type: 'bit', bit: 0, unit: '' }),
    resolvePoint({ id: 'e', address: 10, type: 'bit', bit: 3, unit: '' }),
  ];
  const block = { function: 'holding' as const, address: 0, count: 11, points };
  const slots = new Map(points.map((p, i) => [p.id, 10 - i]));
  const compiled = compileRequest(block, (id) => slots.get(id)!);

  it('reads each run of touching points once, and no register outside a point', () => {
    const runs = splitRequest(compiled);
    expect(runs.map((r) => [r.request.function, r.request.address, r.request.count, r.request.points.map((p) => p.id)]))
      .toEqual([['holding', 0, 4, ['a', 'b']], ['holding', 6, 1, ['c']], ['holding', 10, 1, ['d', 'e']]]);
  });

  it('decodes into the same slots as the whole block would', () => {
    // 230.5 (0x43668000), -1.5 (0xBFC00000), -2, bits 0 and 3 of 0x0009.
    const image = [0x4366, 0x8000, 0xbfc0, 0x0000, 0, 0, 0xfffe, 0, 0, 0, 0x0009];
    const whole = { values: [] as Array<Decoded['value']>, qualities: [] as Quality[] };
    decodeInto(compiled, image, whole.values, whole.qualities);
    const split = { values: [] as Array<Decoded['value']>, qualities: [] as Quality[] };
    for (const r of splitRequest(compiled)) {
      decodeInto(r, image.slice(r.request.address, r.request.address + r.request.count), split.values, split.qualities);
    }
    expect(split).toEqual(whole);
    expect(split.values[slots.get('a')!]).toBe(230.5);
    expect(split.values[slots.get('b')!]).toBe(-1.5);
    expect(split.values[slots.get('c')!]).toBe(-2);
    expect([split.values[slots.get('d')!], split.values[slots.get('e')!]]).toEqual([true, true]);
  });

  it('leaves a block without gaps as it is', () => {
    const tight = compileRequest({ function: 'holding', address: 0, count: 4, points: points.slice(0, 2) }, (id) => slots.get(id)!);
    expect(splitRequest(tight)).toEqual([tight]);
  });
});

import { describe, expect, it } from 'vitest';
import { ORDERS, normaliseOrder, type Order } from '../../../src/profiles/order.js';
import type { ValueType } from '../../../src/profiles/schema.js';
import { applyScale } from '../../../src/profiles/scale.js';
import { decodeResponse, decodeValue, encodeValue, probeDecodings, registerCount, type CodecPoint } from '../../../src/protocols/modbus/decode.js';

const reg = (type: ValueType, order: Order, extra: Partial<CodecPoint> = {}): CodecPoint => ({ function: 'holding', type, order, ...extra });

// Each value's on-wire words, written out by hand from its big-endian bytes for every order:
// ABCD as is, CDAB low word first, BADC bytes swapped in each word, DCBA fully reversed.
const MATRIX: { type: ValueType; value: number | string; extra?: Partial<CodecPoint>; words: Record<Order, number[]> }[] = [
  { type: 'int16', value: -2, words: { ABCD: [0xfffe], CDAB: [0xfffe], BADC: [0xfeff], DCBA: [0xfeff] } },
  { type: 'uint16', value: 4660, words: { ABCD: [0x1234], CDAB: [0x1234], BADC: [0x3412], DCBA: [0x3412] } },
  {
    type: 'int32', value: -123456, // 0xFFFE1DC0
    words: { ABCD: [0xfffe, 0x1dc0], CDAB: [0x1dc0, 0xfffe], BADC: [0xfeff, 0xc01d], DCBA: [0xc01d, 0xfeff] },
  },
  {
    type: 'uint32', value: 305419896, // 0x12345678
    words: { ABCD: [0x1234, 0x5678], CDAB: [0x5678, 0x1234], BADC: [0x3412, 0x7856], DCBA: [0x7856, 0x3412] },
  },
  {
    type: 'int64', value: -2,
    words: {
      ABCD: [0xffff, 0xffff, 0xffff, 0xfffe], CDAB: [0xfffe, 0xffff, 0xffff, 0xffff],
      BADC: [0xffff, 0xffff, 0xffff, 0xfeff], DCBA: [0xfeff, 0xffff, 0xffff, 0xffff],
    },
  },
  {
    type: 'uint64', value: 283686952306183, // 0x0001020304050607
    words: {
      ABCD: [0x0001, 0x0203, 0x0405, 0x0607], CDAB: [0x0607, 0x0405, 0x0203, 0x0001],
      BADC: [0x0100, 0x0302, 0x0504, 0x0706], DCBA: [0x0706, 0x0504, 0x0302, 0x0100],
    },
  },
  {
    type: 'float32', value: 230.5, // 0x43668000
    words: { ABCD: [0x4366, 0x8000], CDAB: [0x8000, 0x4366], BADC: [0x6643, 0x0080], DCBA: [0x0080, 0x6643] },
  },
  {
    type: 'float64', value: 230.5, // 0x406CD00000000000
    words: {
      ABCD: [0x406c, 0xd000, 0x0000, 0x0000], CDAB: [0x0000, 0x0000, 0xd000, 0x406c],
      BADC: [0x6c40, 0x00d0, 0x0000, 0x0000], DCBA: [0x0000, 0x0000, 0x00d0, 0x6c40],
    },
  },
  { type: 'bcd16', value: 1234, words: { ABCD: [0x1234], CDAB: [0x1234], BADC: [0x3412], DCBA: [0x3412] } },
  {
    type: 'bcd32', value: 12345678,
    words: { ABCD: [0x1234, 0x5678], CDAB: [0x5678, 0x1234], BADC: [0x3412, 0x7856], DCBA: [0x7856, 0x3412] },
  },
  {
    // Strings keep their register order; only the bytes inside a register may be swapped.
    type: 'string', value: 'SDM630', extra: { length: 3 },
    words: { ABCD: [0x5344, 0x4d36, 0x3330], CDAB: [0x5344, 0x4d36, 0x3330], BADC: [0x4453, 0x364d, 0x3033], DCBA: [0x4453, 0x364d, 0x3033] },
  },
];

describe('decodeValue / encodeValue: every type in every order', () => {
  for (const row of MATRIX) {
    for (const order of ORDERS) {
      const point = reg(row.type, order, row.extra);
      const words = row.words[order];
      it(`${row.type} ${order}: [${words.map((w) => w.toString(16)).join(' ')}] is ${String(row.value)}`, () => {
        expect(registerCount(point)).toBe(words.length);
        expect(decodeValue(point, words)).toEqual({ value: row.value, quality: 'good' });
        expect(encodeValue(point, row.value)).toEqual(words);
      });
    }
  }
});

describe('booleans and bits', () => {
  it('coils and discrete inputs pass their state through', () => {
    expect(decodeValue({ function: 'coil', type: 'bool' }, [true])).toEqual({ value: true, quality: 'good' });
    expect(decodeValue({ function: 'discrete', type: 'bool' }, [false])).toEqual({ value: false, quality: 'good' });
    expect(encodeValue({ function: 'coil', type: 'bool' }, true)).toEqual([true]);
  });
  it('a bool register is true when non-zero', () => {
    expect(decodeValue(reg('bool', 'ABCD'), [0])).toEqual({ value: false, quality: 'good' });
    expect(decodeValue(reg('bool', 'ABCD'), [0x0100])).toEqual({ value: true, quality: 'good' });
  });
  it.each([
    { word: 0x0004, bit: 2, order: 'ABCD' as Order, value: true },
    { word: 0x0004, bit: 1, order: 'ABCD' as Order, value: false },
    { word: 0x8000, bit: 15, order: 'ABCD' as Order, value: true },
    { word: 0x0400, bit: 2, order: 'BADC' as Order, value: true }, // bytes swapped on the wire
  ])('bit $bit of $word ($order) is $value', ({ word, bit, order, value }) => {
    expect(decodeValue(reg('bit', order, { bit }), [word]).value).toBe(value);
  });
});

describe('scale and offset', () => {
  it.each([
    { type: 'uint16' as ValueType, words: [2305], scale: 0.1, offset: 0, value: 230.5 },
    { type: 'int32' as ValueType, words: [0x0001, 0xe240], scale: 0.001, offset: 0, value: 123.456 }, // 123456
    { type: 'int16' as ValueType, words: [0xff38], scale: 0.1, offset: 0, value: -20 }, // -200
    { type: 'uint16' as ValueType, words: [2000], scale: 0.01, offset: 273.15, value: 293.15 },
    { type: 'uint32' as ValueType, words: [0x0000, 0x0007], scale: 1000, offset: 0, value: 7000 }, // kWh → W-style up-scaling
  ])('$type $words × $scale + $offset = $value', ({ type, words, scale, offset, value }) => {
    const point = reg(type, 'ABCD', { scale, offset });
    expect(decodeValue(point, words)).toEqual({ value, quality: 'good' });
    expect(encodeValue(point, value)).toEqual(words);
  });
  it('decimal scales divide, so readings have no binary noise', () => {
    expect(applyScale(2305, 0.1)).toBe(230.5);
    expect(applyScale(1234567, 0.001)).toBe(1234.567);
    expect(applyScale(7, 0.01)).toBe(0.07);
  });
});

describe('sentinels become invalid, never a number', () => {
  it.each([
    { what: 'float32 NaN', point: reg('float32', 'ABCD'), words: [0x7fc0, 0x0000] },
    { what: 'float32 +infinity', point: reg('float32', 'ABCD'), words: [0x7f80, 0x0000] },
    { what: 'float64 NaN', point: reg('float64', 'ABCD'), words: [0x7ff8, 0, 0, 0] },
    { what: 'uint16 0xFFFF when declared', point: reg('uint16', 'ABCD', { invalid: [0xffff] }), words: [0xffff] },
    { what: 'int16 0x8000 declared as a pattern', point: reg('int16', 'ABCD', { invalid: [0x8000] }), words: [0x8000] },
    { what: 'int16 0x8000 declared as -32768', point: reg('int16', 'ABCD', { invalid: [-32768] }), words: [0x8000] },
    { what: 'int32 0x80000000 in CDAB', point: reg('int32', 'CDAB', { invalid: [0x80000000] }), words: [0x0000, 0x8000] },
    { what: 'uint64 all ones', point: reg('uint64', 'ABCD', { invalid: [0xffffffffffffffffn] }), words: [0xffff, 0xffff, 0xffff, 0xffff] },
    { what: 'int64 0x8000000000000000', point: reg('int64', 'ABCD', { invalid: [0x8000000000000000n] }), words: [0x8000, 0, 0, 0] },
    { what: 'float32 sentinel value', point: reg('float32', 'ABCD', { invalid: [-1] }), words: [0xbf80, 0x0000] },
    // -9999.9 as a float32 is 0xC61C3F9A = -9999.900390625: the manual's decimal still matches.
    { what: 'float32 sentinel written as a decimal', point: reg('float32', 'CDAB', { invalid: [-9999.9] }), words: [0x3f9a, 0xc61c] },
    { what: 'bcd16 with a non-decimal nibble', point: reg('bcd16', 'ABCD'), words: [0x12a4] },
  ])('$what', ({ point, words }) => {
    expect(decodeValue(point, words)).toEqual({ value: null, quality: 'invalid' });
  });
  it('a 64-bit sentinel matches its one pattern, not its neighbours a double cannot tell apart', () => {
    const point = reg('int64', 'ABCD', { invalid: [0x8000000000000000n] });
    // -2^63 + 1 is the same double as -2^63; its bit pattern is not the sentinel.
    expect(decodeValue(point, [0x8000, 0, 0, 1])).toEqual({ value: -9223372036854775807, quality: 'good' });
  });
  it('0xFFFF is an ordinary reading unless the profile says otherwise', () => {
    expect(decodeValue(reg('uint16', 'ABCD'), [0xffff])).toEqual({ value: 65535, quality: 'good' });
  });
});

describe('malformed responses are bad, not exceptions', () => {
  it.each([
    { what: 'too few words', words: [0x4366] },
    { what: 'too many words', words: [0x4366, 0, 0] },
    { what: 'a word out of range', words: [0x4366, 70000] },
    { what: 'booleans for registers', words: [true, false] },
  ])('$what', ({ words }) => {
    expect(decodeValue(reg('float32', 'ABCD'), words as number[])).toEqual({ value: null, quality: 'bad' });
  });
});

describe('decodeResponse', () => {
  it('slices one response into its points', () => {
    const request = {
      function: 'input' as const, address: 10, count: 5,
      points: [
        { id: 'a', address: 10, function: 'input' as const, type: 'float32' as const, order: 'ABCD' as const },
        { id: 'b', address: 13, function: 'input' as const, type: 'uint16' as const, order: 'ABCD' as const, scale: 0.1 },
        { id: 'c', address: 14, function: 'input' as const, type: 'uint16' as const },
      ],
    };
    expect(decodeResponse(request, [0x4366, 0x8000, 0xdead, 2305, 7])).toEqual({
      a: { value: 230.5, quality: 'good' },
      b: { value: 230.5, quality: 'good' },
      c: { value: 7, quality: 'good' },
    });
  });
  it('a short response leaves the uncovered points bad', () => {
    const request = {
      function: 'holding' as const, address: 0, count: 2,
      points: [
        { id: 'a', address: 0, function: 'holding' as const, type: 'uint16' as const },
        { id: 'b', address: 1, function: 'holding' as const, type: 'uint16' as const },
      ],
    };
    expect(decodeResponse(request, [5])).toEqual({ a: { value: 5, quality: 'good' }, b: { value: null, quality: 'bad' } });
  });
});

describe('order vocabulary', () => {
  it.each([
    ['ABCD', 'ABCD'], ['big', 'ABCD'], ['Big-Endian', 'ABCD'], ['AB', 'ABCD'], ['ABCDEFGH', 'ABCD'],
    ['CDAB', 'CDAB'], ['word-swap', 'CDAB'], ['little-endian word', 'CDAB'], ['GHEFCDAB', 'CDAB'], ['word', 'CDAB'],
    ['BADC', 'BADC'], ['byte_swap', 'BADC'], ['BA', 'BADC'], ['BADCFEHG', 'BADC'],
    ['DCBA', 'DCBA'], ['little', 'DCBA'], ['little-endian', 'DCBA'], ['HGFEDCBA', 'DCBA'], ['word_byte', 'DCBA'],
  ])('%s means %s', (alias, order) => {
    expect(normaliseOrder(alias)).toBe(order);
  });
  // Modbus Poll and Apache PLC4X: big-endian = ABCD, little-endian = DCBA; a word swap
  // reverses the registers, a byte swap the bytes inside each register.
  it.each([
    ['Big-endian byte swap', 'BADC'], ['Little-endian byte swap', 'CDAB'],
    ['big endian word swap', 'CDAB'], ['little-endian word swap', 'BADC'], ['LITTLE_ENDIAN_WORD_SWAP', 'BADC'],
    ['BIG_ENDIAN_WORD_SWAP_BYTE_SWAP', 'DCBA'], ['little endian, word swapped', 'BADC'], ['big-endian + swap bytes', 'BADC'],
    ['mid-little endian', 'CDAB'], ['Mid-Big Endian', 'BADC'],
  ])('%s means %s', (alias, order) => {
    expect(normaliseOrder(alias)).toBe(order);
  });
  it('composed names decode the bytes they describe', () => {
    // 0x11223344 as bytes A B C D; each spelling puts them on the wire in its own way.
    const onWire: Record<string, number[]> = {
      'little-endian word swap': [0x2211, 0x4433], 'little-endian byte swap': [0x3344, 0x1122],
      'big-endian word swap': [0x3344, 0x1122], 'big-endian byte swap': [0x2211, 0x4433],
    };
    for (const [name, words] of Object.entries(onWire)) {
      const order = normaliseOrder(name)!;
      expect(decodeValue({ function: 'holding', type: 'uint32', order }, words).value, name).toBe(0x11223344);
    }
  });
  it('rejects spellings it does not know', () => {
    expect(normaliseOrder('middle')).toBeUndefined();
    expect(normaliseOrder('big endian byte swap byte swap')).toBeUndefined();
    expect(normaliseOrder('bigfoo')).toBeUndefined();
  });
});

describe('probeDecodings', () => {
  it('shows a commissioning engineer which order turns the words into a sensible voltage', () => {
    // A meter sending 230.5 V low word first: only float32 CDAB reads 230.5.
    const rows = probeDecodings([0x8000, 0x4366]);
    const floats = rows.filter((r) => r.type === 'float32');
    expect(floats.map((r) => r.order)).toEqual(['ABCD', 'CDAB', 'BADC', 'DCBA']);
    expect(floats.filter((r) => r.value === 230.5).map((r) => r.order)).toEqual(['CDAB']);
  });
  it('lists only the types the words can fill', () => {
    expect(new Set(probeDecodings([0x0102]).map((r) => r.type))).toEqual(new Set(['uint16', 'int16']));
    expect(probeDecodings([0x0102]).find((r) => r.type === 'uint16' && r.order === 'BADC')?.value).toBe(0x0201);
  });
});

// Property: whatever a device may send, decoding never throws, and every value the encoder
// produces decodes back to itself in every order (the simulator and fixtures rely on it).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ORDERS } from '../../../src/profiles/order.js';
import type { ValueType } from '../../../src/profiles/schema.js';
import { decodeValue, encodeValue, registerCount, type CodecPoint } from '../../../src/protocols/modbus/decode.js';

const order = fc.constantFrom(...ORDERS);
const INT_RANGES: [ValueType, number, number][] = [
  ['int16', -32768, 32767], ['uint16', 0, 65535], ['int32', -(2 ** 31), 2 ** 31 - 1], ['uint32', 0, 2 ** 32 - 1],
  ['int64', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], ['uint64', 0, Number.MAX_SAFE_INTEGER],
  ['bcd16', 0, 9999], ['bcd32', 0, 99_999_999],
];

describe('codec round trip', () => {
  for (const [type, min, max] of INT_RANGES) {
    it(`${type}: every integer in range survives encode → decode`, () => {
      fc.assert(fc.property(fc.integer({ min, max }), order, (value, o) => {
        const point: CodecPoint = { function: 'holding', type, order: o };
        expect(decodeValue(point, encodeValue(point, value))).toEqual({ value, quality: 'good' });
      }));
    });
  }

  it('float32 and float64 survive encode → decode', () => {
    fc.assert(fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), order, (value, o) => {
      const point: CodecPoint = { function: 'input', type: 'float32', order: o };
      expect(decodeValue(point, encodeValue(point, value)).value === Math.fround(value)).toBe(true);
    }));
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), order, (value, o) => {
      const point: CodecPoint = { function: 'input', type: 'float64', order: o };
      expect(decodeValue(point, encodeValue(point, value)).value === value).toBe(true);
    }));
  });

  it('any words of the right count decode without throwing, to a number or to invalid', () => {
    const types: ValueType[] = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'bcd16', 'bcd32'];
    fc.assert(fc.property(fc.constantFrom(...types), order, fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 }), (type, o, pool) => {
      const point: CodecPoint = { function: 'holding', type, order: o, scale: 0.1 };
      const decoded = decodeValue(point, pool.slice(0, registerCount(point)));
      if (decoded.quality === 'good') expect(Number.isFinite(decoded.value)).toBe(true);
      else expect(decoded).toEqual({ value: null, quality: 'invalid' });
    }));
  });
});

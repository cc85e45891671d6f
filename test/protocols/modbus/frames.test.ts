import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crc16, expectationFor, judgePdu, mbapReadRequest, rtuReadRequest, rtuSilenceMs, scanMbap, scanRtu, toMbap, withCrc, type Expectation,
} from '../../../src/protocols/modbus/frames.js';

// modbus-serial's own CRC, as an independent reference.
const referenceCrc = createRequire(import.meta.url)('modbus-serial/utils/crc16') as (b: Buffer) => number;

function answer(unit: number, fn: number, words: number[]): Buffer {
  const pdu = Buffer.alloc(3 + words.length * 2);
  pdu[0] = unit;
  pdu[1] = fn;
  pdu[2] = words.length * 2;
  words.forEach((w, i) => pdu.writeUInt16BE(w, 3 + i * 2));
  return withCrc(pdu);
}

const expect4x2: Expectation = expectationFor(rtuReadRequest(7, 4, 0x48, 2));

describe('CRC and request frames', () => {
  it('computes the Modbus CRC like modbus-serial, and the spec example (01 03 00 00 00 0A → C5 CD)', () => {
    const req = rtuReadRequest(1, 3, 0, 10);
    expect([...req.subarray(6)]).toEqual([0xc5, 0xcd]);
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
      expect(crc16(bytes)).toBe(referenceCrc(Buffer.from(bytes)));
    }));
  });

  it('knows what a read request expects back', () => {
    expect(expectationFor(rtuReadRequest(3, 3, 100, 80))).toEqual({ unit: 3, fc: 3, dataBytes: 160 });
    expect(expectationFor(rtuReadRequest(3, 1, 0, 9))).toEqual({ unit: 3, fc: 1, dataBytes: 2 });
  });

  it('puts the RTU silence at 3.5 characters, fixed 1.75 ms above 19200 baud', () => {
    expect(rtuSilenceMs(9600, 11)).toBeCloseTo(4.01, 2);
    expect(rtuSilenceMs(115_200, 11)).toBe(1.75);
  });
});

describe('judging a PDU against the request in flight', () => {
  const pdu = (b: Buffer) => b.subarray(0, b.length - 2);
  it.each([
    ['the answer', answer(7, 4, [1, 2]), 'answer'],
    ['an exception for the same function', withCrc(Buffer.from([7, 0x84, 2])), 'exception'],
    ['another unit', answer(8, 4, [1, 2]), 'foreign'],
    ['another function', answer(7, 3, [1, 2]), 'foreign'],
    ['too few registers', answer(7, 4, [1]), 'foreign'],
    ['too many registers', answer(7, 4, [1, 2, 3]), 'foreign'],
    ['an exception for another function', withCrc(Buffer.from([7, 0x83, 2])), 'foreign'],
  ] as const)('%s → %s', (_name, frame, verdict) => {
    const p = pdu(frame);
    expect(judgePdu(p, 0, p.length, expect4x2)).toBe(verdict);
  });
});

describe('finding the answer on an RTU line', () => {
  it('skips garbage before the answer and leaves nothing behind', () => {
    const a = answer(7, 4, [0x4366, 0x8000]);
    const buf = Buffer.concat([Buffer.from([0x07, 0x04, 0x99, 0x07, 0x42]), a]);
    const r = scanRtu(buf, expect4x2);
    expect(r.frame && [...r.frame]).toEqual([...a]);
    expect(r.consumed).toBe(buf.length);
  });

  it('waits for an answer that is not complete yet', () => {
    const a = answer(7, 4, [1, 2]);
    const r = scanRtu(a.subarray(0, 6), expect4x2);
    expect(r.frame).toBeUndefined();
    expect(r.consumed).toBe(0);
    expect(scanRtu(a, expect4x2).frame).toBeDefined();
  });

  it('rejects a frame with a bad CRC, another unit or another length', () => {
    const bad = answer(7, 4, [1, 2]);
    bad[bad.length - 1]! ^= 0xff;
    expect(scanRtu(bad, expect4x2).frame).toBeUndefined();
    expect(scanRtu(answer(9, 4, [1, 2]), expect4x2).frame).toBeUndefined();
    expect(scanRtu(answer(7, 4, [1, 2, 3]), expect4x2).frame).toBeUndefined();
  });

  it('accepts an exception answer', () => {
    const ex = withCrc(Buffer.from([7, 0x84, 0x0b]));
    expect(scanRtu(ex, expect4x2).frame && [...scanRtu(ex, expect4x2).frame!]).toEqual([...ex]);
  });

  it('random bytes never pass for an answer; random bytes before the answer never hide it', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 2, maxLength: 2 }), (noise, words) => {
      const junk = Buffer.from(noise);
      const alone = scanRtu(junk, expect4x2);
      // A random frame passes only if unit, function, byte count and a 16-bit CRC all happen to match.
      if (alone.frame) expect(judgePdu(alone.frame, 0, alone.frame.length - 2, expect4x2)).not.toBe('foreign');
      const a = answer(7, 4, words);
      const r = scanRtu(Buffer.concat([junk, a]), expect4x2);
      expect(r.frame).toBeDefined();
      if (!alone.frame) expect([...r.frame!]).toEqual([...a]);
    }), { numRuns: 2000 });
  });
});

describe('Modbus TCP frames', () => {
  it('splits a stream into frames and keeps a partial one', () => {
    const one = toMbap(5, rtuReadRequest(1, 3, 0, 2));
    const two = toMbap(6, rtuReadRequest(2, 3, 0, 2));
    const r = scanMbap(Buffer.concat([one, two.subarray(0, 4)]));
    expect(r.frames.map((f) => f.tid)).toEqual([5]);
    expect([...r.frames[0]!.pdu]).toEqual([1, 3, 0, 0, 0, 2]);
    expect(r.consumed).toBe(one.length);
    expect(r.desync).toBe(false);
  });

  it('builds a read request as the RTU frame would be wrapped, CRC dropped', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0x1ffff }), fc.integer({ min: 0, max: 255 }), fc.constantFrom(1, 2, 3, 4), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 2000 }), (tid, unit, fnCode, address, count) => {
      expect([...mbapReadRequest(tid, unit, fnCode, address, count)]).toEqual([...toMbap(tid, rtuReadRequest(unit, fnCode, address, count))]);
    }));
  });

  it('says so when the stream is not Modbus TCP', () => {
    expect(scanMbap(Buffer.from([0, 1, 0, 7, 0, 5, 1, 3, 0, 0, 0])).desync).toBe(true);
    expect(scanMbap(Buffer.from([0, 1, 0, 0, 0xff, 0xff, 1])).desync).toBe(true);
  });

  it('survives any bytes without throwing', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const r = scanMbap(Buffer.from(bytes));
      expect(r.consumed).toBeLessThanOrEqual(bytes.length);
    }));
  });
});

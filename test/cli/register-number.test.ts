import { describe, expect, it } from 'vitest';
import { manualNumber, manualNumberMeaning, manualRange } from '../../src/cli/register-number.js';

describe('manual register numbers', () => {
  it('uses the five-digit form while it can hold the register', () => {
    expect(manualNumber('input', 0)).toBe('30001');
    expect(manualNumber('holding', 0x48)).toBe('40073');
    expect(manualNumber('coil', 4)).toBe('00005');
    expect(manualNumber('discrete', 9998)).toBe('19999');
    expect(manualRange('input', 0, 80)).toEqual(['30001', '30080']);
  });
  it('switches to six digits past register 9999, for both ends of a range', () => {
    expect(manualNumber('holding', 9999)).toBe('410000');
    expect(manualNumber('holding', 0x401e)).toBe('416415');
    expect(manualNumber('input', 65535)).toBe('365536');
    expect(manualRange('holding', 9990, 20)).toEqual(['409991', '410010']);
  });

  it('reads 3xxxx(x) and 4xxxx(x) numbers back as input and holding addresses, nothing else', () => {
    expect(manualNumberMeaning(30001)).toEqual({ fn: 'input', address: 0 });
    expect(manualNumberMeaning(39999)).toEqual({ fn: 'input', address: 9998 });
    expect(manualNumberMeaning(40073)).toEqual({ fn: 'holding', address: 0x48 });
    expect(manualNumberMeaning(416415)).toEqual({ fn: 'holding', address: 16414 });
    expect(manualNumberMeaning(365536)).toEqual({ fn: 'input', address: 65535 });
    for (const a of [0, 30000, 40000, 50000, 65535, 300000, 365537, 465537]) expect(manualNumberMeaning(a)).toBeUndefined();
    // The round trip of manualNumber for every five-digit register of both tables.
    for (const fn of ['input', 'holding'] as const) {
      for (const a of [0, 1, 500, 9998, 9999, 16414, 65535]) expect(manualNumberMeaning(Number(manualNumber(fn, a)))).toEqual({ fn, address: a });
    }
  });
});

import { describe, expect, it } from 'vitest';
import { manualNumber, manualRange } from '../../src/cli/register-number.js';

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
});

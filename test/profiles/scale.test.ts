import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyScale, decimalPlaces, multiplyDecimals, powerOfTen } from '../../src/profiles/scale.js';

/** The double nearest to digits × 10^-places, by JavaScript's (correctly rounded) decimal parser. */
const nearest = (digits: bigint, places: number) => Number(`${digits}e-${places}`);

describe('multiplyDecimals (ratios multiplied into decimal values)', () => {
  it('gives the decimal product, not the double product with its artefact', () => {
    // Each of these came out as the right-hand comment before (value × ratio, or value / n for 0.1-style ratios).
    expect(multiplyDecimals(4580.52, 10)).toBe(45805.2);        // 45805.200000000004
    expect(multiplyDecimals(12.3, 3)).toBe(36.9);               // 36.900000000000006
    expect(multiplyDecimals(0.1, 3)).toBe(0.3);                 // 0.30000000000000004
    expect(multiplyDecimals(4580.52, 2.5)).toBe(11451.3);       // 11451.300000000001
    expect(multiplyDecimals(0.7, 0.1)).toBe(0.07);              // 0.06999999999999999
    expect(multiplyDecimals(230.1, 0.25)).toBe(57.525);
    expect(multiplyDecimals(-12.3, 3)).toBe(-36.9);
    expect(multiplyDecimals(42949672.95, 2000)).toBe(85899345900);
  });

  it('multiplies a binary float (as a float32 register decodes) as the double it is', () => {
    const f = Math.fround(230.1); // 230.10000610351562, what the meter sent
    expect(decimalPlaces(f)).toBe(-1);
    expect(multiplyDecimals(f, 40, false, true)).toBe(f * 40);
    expect(multiplyDecimals(f, 2.5, false, true)).toBe((f * 25) / 10);
    expect(multiplyDecimals(Math.fround(1.5), 3, false, true)).toBe(4.5);
  });

  it('keeps dividing by n for a ratio that is 1/n but no short decimal', () => {
    expect(multiplyDecimals(12, 1 / 3)).toBe(4);
  });

  it('is the double nearest the exact decimal product of decimal-scaled integers', () => {
    fc.assert(fc.property(
      fc.integer({ min: -999_999_999, max: 999_999_999 }), fc.integer({ min: 0, max: 6 }),
      fc.integer({ min: -999_999_999, max: 999_999_999 }), fc.integer({ min: 0, max: 6 }),
      (a, k, b, m) => {
        // As the decoder publishes them: raw × scale with the scale 10^-k.
        const x = applyScale(a, powerOfTen(-k));
        const y = applyScale(b, powerOfTen(-m));
        // (+ 0: 0 × -1 is -0, as the double product is; the parser says 0.)
        expect(multiplyDecimals(x, y) + 0).toBe(nearest(BigInt(a) * BigInt(b), k + m));
      },
    ), { numRuns: 2000 });
  });

  it('keeps energy counters exact: uint32 × 0.01 kWh × integer CT × integer PT', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 1_000 }),
      (raw, ct, pt) => {
        const kwh = applyScale(raw, 0.01);
        const primary = multiplyDecimals(multiplyDecimals(kwh, pt), ct);
        expect(primary).toBe(nearest(BigInt(raw) * BigInt(ct) * BigInt(pt), 2));
      },
    ), { numRuns: 2000 });
  });

  it('leaves a float32 times an integer ratio at the one double multiplication', () => {
    fc.assert(fc.property(
      fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }), fc.integer({ min: 1, max: 10_000 }),
      (f, ratio) => {
        expect(Object.is(multiplyDecimals(f, ratio, false, true), f * ratio)).toBe(true);
      },
    ));
  });
});

describe('decimalPlaces and powerOfTen', () => {
  it('find the short decimal a double stands for, and only one of at most 15 digits', () => {
    expect(decimalPlaces(45805.2)).toBe(1);
    expect(decimalPlaces(0.07)).toBe(2);
    expect(decimalPlaces(40)).toBe(0);
    expect(decimalPlaces(0.1 + 0.2)).toBe(-1);
    expect(decimalPlaces(1 / 3)).toBe(-1);
    expect(decimalPlaces(Number.NaN)).toBe(-1);
    expect(decimalPlaces(1e300)).toBe(-1);
  });

  it('10^e is the nearest double, which V8\'s 10 ** -4 is not', () => {
    for (let e = -22; e <= 22; e++) expect(powerOfTen(e)).toBe(Number(`1e${e}`));
  });
});

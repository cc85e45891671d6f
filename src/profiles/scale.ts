// How a profile's `scale` and `offset` turn a raw value into the published one, for every
// protocol, and how ratios (multiply_by, scale registers) multiply it in without float
// artefacts. Pure.

/**
 * The whole number a scale like 0.1 or 0.001 stands for (10, 1000), or 0. Dividing by it
 * instead of multiplying keeps decimals exact: 2305 × 0.1 is 230.50000000000003, 2305 / 10
 * is 230.5.
 */
export function exactDivisor(scale: number): number {
  if (Math.abs(scale) >= 1) return 0;
  const divisor = Math.round(1 / scale);
  return divisor !== 0 && Math.abs(1 / scale - divisor) < 1e-9 * Math.abs(divisor) ? divisor : 0;
}

/** Raw × scale + offset, dividing where the scale is the inverse of a whole number. */
export function applyScale(raw: number, scale = 1, offset = 0): number {
  const divisor = exactDivisor(scale);
  const value = divisor !== 0 ? raw / divisor : raw * scale;
  return offset === 0 ? value : value + offset;
}

/** 10^0 … 10^22: every one an exact double, so dividing by one rounds once. */
const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => 10 ** i);
const TWO_53 = 2 ** 53;

/**
 * 10^e as the double nearest to it. V8's 10 ** -4 is 0.00009999999999999999, not 0.0001;
 * 1 / 10^4 rounds once, from two exact doubles.
 */
export function powerOfTen(e: number): number {
  if (Number.isInteger(e) && Math.abs(e) < POW10.length) return e >= 0 ? POW10[e]! : 1 / POW10[-e]!;
  return 10 ** e;
}

/**
 * Decimal places of the decimal of at most 15 significant digits whose nearest double is x
 * (45805.2 → 1, 0.07 → 2, 40 → 0), or -1 when there is none (230.10000610351562, 1/3, NaN).
 * Fifteen digits is what a double always gives back: no two such decimals share a double,
 * so the answer is never ambiguous. x × 10^places rounded is then that decimal's digits.
 */
export function decimalPlaces(x: number): number {
  if (!Number.isFinite(x)) return -1;
  for (let places = 0; places < POW10.length; places++) {
    const scaled = x * POW10[places]!;
    if (Math.abs(scaled) >= 1e15) return -1;
    if (Math.round(scaled) / POW10[places]! === x) return places;
  }
  return -1;
}

/**
 * a × b, for a value and a ratio (CT/PT ratio, multiply_by setting, 10^exponent of a scale
 * register). `aDecimal`/`bDecimal` say whether an operand stands for a decimal (an integer
 * register times a decimal scale, a configured setting) or is a binary float as decoded
 * (float32/float64 registers: 230.10000610351562 is what the meter sent, not 230.1).
 *
 * - Both decimals (of at most 15 significant digits each): the double nearest the exact decimal
 *   product, computed in scaled integers, (a·10^k × b·10^m) / 10^(k+m). Below 2^53 the integer
 *   product is exact and the one division rounds once; above, it is taken as a bigint:
 *   4580.52 × 10 is 45805.2, not 45805.200000000004; 0.7 × 0.1 is 0.07, not 0.06999999999999999.
 * - A ratio like 0.1 or 1/3 that is the inverse of a whole number: divide by that number.
 * - One binary operand times a decimal: multiply by the decimal's digits and divide by its power
 *   of ten (a float32 × 2.5 is f × 25 / 10, exact up to the one division).
 * - Otherwise the plain double product (a float32 × an integer ratio is exact that way).
 */
export function multiplyDecimals(a: number, b: number, aDecimal = true, bDecimal = true): number {
  const pa = aDecimal ? decimalPlaces(a) : -1;
  const pb = bDecimal ? decimalPlaces(b) : -1;
  if (pa >= 0 && pb >= 0) {
    const da = Math.round(a * POW10[pa]!);
    const db = Math.round(b * POW10[pb]!);
    const product = da * db;
    if (Math.abs(product) < TWO_53 && pa + pb < POW10.length) return product / POW10[pa + pb]!;
    // Past 2^53 the integer product is exact only as a bigint; the decimal parser rounds it once.
    if (product !== 0) return Number(`${BigInt(da) * BigInt(db)}e-${pa + pb}`);
  }
  const divisor = exactDivisor(b);
  if (divisor !== 0) return a / divisor;
  if (pb > 0) return (a * Math.round(b * POW10[pb]!)) / POW10[pb]!;
  if (pa > 0) return (b * Math.round(a * POW10[pa]!)) / POW10[pa]!;
  return a * b;
}

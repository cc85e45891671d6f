// How a profile's `scale` and `offset` turn a raw value into the published one, for every
// protocol. Pure.

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

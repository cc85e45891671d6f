// Exact arithmetic for energy totals.
//
// Why integers: window totals must add up to the meter's own difference to the last
// digit (an energy manager checks the daily sum against the meter). Float sums drift
// (0.1 + 0.2), so every physical quantity inside the core is an integer number of
// micro-units (1e-6 of its unit) held in a JS number. Integers below 2^53 add exactly;
// 2^53 micro-units is 9.0e9 units, far above a month of a site's energy in kWh, and
// above a uint32 raw count register. Values are converted back to floats only when a
// record leaves the core.

export const MICRO = 1_000_000;

/** A reading in its unit → integer micro-units; undefined when it cannot be held exactly. */
export function toMicro(value: number): number | undefined {
  if (!Number.isFinite(value)) return undefined;
  const micro = Math.round(value * MICRO);
  return Number.isSafeInteger(micro) ? micro : undefined;
}

/** Integer micro-units → a float in the unit (for records; never summed again inside). */
export function fromMicro(micro: number): number {
  return micro / MICRO;
}

/** micro × a rational multiplier, rounded half away from zero to an integer. */
export function scaleMicro(micro: number, multiplier: number): number {
  if (multiplier === 1) return micro;
  const scaled = Math.round(Math.abs(micro) * multiplier);
  return micro < 0 ? -scaled : scaled;
}

/**
 * Splits an integer total into integer parts proportional to integer weights, exactly
 * (largest-remainder method in BigInt, so sum(parts) === total always). Used when one
 * counter delta spans several windows.
 */
export function splitProRata(total: number, weights: readonly number[]): number[] {
  if (weights.length === 0) return [];
  if (weights.length === 1) return [total];
  const sumW = weights.reduce((a, b) => a + b, 0);
  if (sumW <= 0) {
    // No time to weigh by (zero-length span): everything goes to the last part.
    return weights.map((_, i) => (i === weights.length - 1 ? total : 0));
  }
  const sign = total < 0 ? -1n : 1n;
  const abs = BigInt(Math.abs(total));
  const W = BigInt(sumW);
  const parts = weights.map((w) => (abs * BigInt(w)) / W);
  const rems = weights.map((w, i) => ({ i, rem: (abs * BigInt(w)) % W }));
  let left = abs - parts.reduce((a, b) => a + b, 0n);
  // Hand out the leftover micro-units to the largest remainders (earliest first on ties).
  rems.sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  for (const r of rems) {
    if (left === 0n) break;
    parts[r.i] = (parts[r.i] as bigint) + 1n;
    left -= 1n;
  }
  return parts.map((p) => Number(p * sign));
}

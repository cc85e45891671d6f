// Power-only channels (no energy register): energy is the trapezoidal integral of the
// sampled rate. It is an estimate by nature and always flagged estimated_value.
import { toMicro } from './exact.js';

export interface PowerSample {
  tsMs: number;
  /** Rate in the canonical quantity unit per hour (kW for electricity, m3/h …). */
  ratePerHour: number;
}

/** ∫ rate dt over [a, b] by the trapezoid rule, in integer micro-units; undefined if not finite. */
export function integrateTrapezoid(a: PowerSample, b: PowerSample): number | undefined {
  const hours = (b.tsMs - a.tsMs) / 3_600_000;
  if (!(hours > 0)) return undefined;
  return toMicro(((a.ratePerHour + b.ratePerHour) / 2) * hours);
}

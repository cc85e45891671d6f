import type { PointValue, Quality } from '../core/sample.js';
import type { Decoded } from '../protocols/modbus/decode.js';
import type { DriverProfile, ModbusPoint, ProfileSetting } from './schema.js';

/** Worse qualities win when a value is built from several inputs. */
const RANK: Record<Quality, number> = { good: 0, uncertain: 1, stale: 2, invalid: 3, bad: 4 };

function worse(a: Quality, b: Quality): Quality {
  return RANK[b] > RANK[a] ? b : a;
}

export interface DeriveSource {
  points: readonly ModbusPoint[];
  settings?: Readonly<Record<string, ProfileSetting>>;
}

interface Factor {
  value: number | null;
  quality: Quality;
}

/**
 * Turns decoded registers into published values on the primary side: applies multiply_by
 * (ratio registers or device settings) and scale_register (power-of-ten exponents), and drops
 * internal points. Points that were not read in this poll are absent from the result.
 * A missing or non-numeric factor makes the value `bad`; an invalid one makes it `invalid`.
 */
export function applyDerived(
  profile: DeriveSource | Pick<DriverProfile, 'points' | 'settings'>,
  decoded: Readonly<Record<string, Decoded>>,
  settings: Readonly<Record<string, number>> = {},
  /** The object to fill (a copy of a read plan's fast-layout object holding the same keys in the same order). */
  out: Record<string, PointValue> = {},
): Record<string, PointValue> {
  const factor = (name: string): Factor => {
    const reading = decoded[name];
    if (reading) {
      if (typeof reading.value === 'number') return { value: reading.value, quality: reading.quality };
      // A sentinel stays `invalid`; a factor that is present but not a number is `bad`.
      return { value: null, quality: reading.quality === 'invalid' ? 'invalid' : worse(reading.quality, 'bad') };
    }
    if (profile.points.some((p) => p.id === name)) return { value: null, quality: 'bad' };
    const setting = settings[name] ?? profile.settings?.[name]?.default;
    return setting === undefined ? { value: null, quality: 'bad' } : { value: setting, quality: 'good' };
  };

  for (const point of profile.points) {
    const reading = decoded[point.id];
    if (!reading || point.internal) continue;
    let { value, quality } = reading;

    if (typeof value === 'number') {
      const factors: Factor[] = point.multiply_by.map(factor);
      if (point.scale_register !== undefined) {
        const exponent = factor(point.scale_register);
        factors.push({
          value: exponent.value === null ? null : 10 ** exponent.value,
          quality: exponent.quality,
        });
      }
      for (const f of factors) {
        quality = worse(quality, f.quality);
        value = f.value === null || value === null ? null : multiplyExact(value, f.value);
      }
      if (value === null && quality === 'good') quality = 'bad';
    }
    out[point.id] = { value: quality === 'invalid' || quality === 'bad' ? null : value, unit: point.unit, quality };
  }
  return out;
}

/** 10 ** -2 is 0.01 but 1234 * 0.01 is 12.340000000000002; divide by 100 instead. */
function multiplyExact(value: number, factor: number): number {
  if (factor !== 0 && Math.abs(factor) < 1) {
    const divisor = Math.round(1 / factor);
    if (Math.abs(1 / factor - divisor) < 1e-9 * Math.abs(divisor)) return value / divisor;
  }
  return value * factor;
}

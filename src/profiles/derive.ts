import type { PointValue, Quality } from '../core/sample.js';
import type { Decoded } from '../protocols/modbus/decode.js';
import { multiplyDecimals, powerOfTen } from './scale.js';
import type { DriverProfile, ModbusPoint, ProfileSetting } from './schema.js';

/** Worse qualities win when a value is built from several inputs. */
/** The widest scale-factor exponent SunSpec allows (sunssf: -10..10). */
const MAX_EXPONENT = 10;

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
  /** Stands for a decimal (a setting, an integer register × its scale), not a binary float. */
  decimal: boolean;
}

/**
 * Ids of the points whose values are binary floats as the device sent them (float32/float64
 * registers), by point list: their values are not decimals, so ratios multiply them as
 * doubles. Everything else numeric (integer and BCD registers times a decimal scale,
 * settings, 10^exponent) stands for a decimal.
 */
const binaryIds = new WeakMap<readonly ModbusPoint[], ReadonlySet<string>>();

function binaryPointIds(points: readonly ModbusPoint[]): ReadonlySet<string> {
  let ids = binaryIds.get(points);
  if (!ids) {
    ids = new Set(points.filter((p) => p.type === 'float32' || p.type === 'float64').map((p) => p.id));
    binaryIds.set(points, ids);
  }
  return ids;
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
  const binary = binaryPointIds(profile.points);
  const factor = (name: string): Factor => {
    const reading = decoded[name];
    if (reading) {
      if (typeof reading.value === 'number') {
        // A transformer ratio of 0 does not exist: a register holding it is unset or not yet
        // loaded by the meter, and times 0 every value (and counter) would read a good 0.
        if (reading.value === 0) return { value: null, quality: 'invalid', decimal: false };
        return { value: reading.value, quality: reading.quality, decimal: !binary.has(name) };
      }
      // A sentinel stays `invalid`; a factor that is present but not a number is `bad`.
      return { value: null, quality: reading.quality === 'invalid' ? 'invalid' : worse(reading.quality, 'bad'), decimal: false };
    }
    if (profile.points.some((p) => p.id === name)) return { value: null, quality: 'bad', decimal: false };
    const setting = settings[name] ?? profile.settings?.[name]?.default;
    return setting === undefined ? { value: null, quality: 'bad', decimal: false } : { value: setting, quality: 'good', decimal: true };
  };

  // A scale factor is an exponent, and 0 is a valid one (unlike a ratio). SunSpec defines
  // -10..10 and 0x8000 (-32768) as "not implemented"; anything outside the range is no
  // factor, so 10^-32768 must not turn the value into a good 0.
  const scaleExponent = (name: string): Factor => {
    const reading = decoded[name];
    if (reading && typeof reading.value === 'number') {
      const e = reading.value;
      if (!Number.isInteger(e) || Math.abs(e) > MAX_EXPONENT) return { value: null, quality: 'invalid', decimal: false };
      return { value: e, quality: reading.quality, decimal: true };
    }
    return factor(name);
  };

  for (const point of profile.points) {
    const reading = decoded[point.id];
    if (!reading || point.internal) continue;
    let { value, quality } = reading;

    if (typeof value === 'number') {
      const factors: Factor[] = point.multiply_by.map(factor);
      if (point.scale_register !== undefined) {
        const exponent = scaleExponent(point.scale_register);
        factors.push({
          value: exponent.value === null ? null : powerOfTen(exponent.value),
          quality: exponent.quality,
          // 10^-2 is the decimal 0.01; an exponent that is not a whole number gives no decimal.
          decimal: exponent.value !== null && Number.isInteger(exponent.value),
        });
      }
      let decimal = !binary.has(point.id);
      for (const f of factors) {
        quality = worse(quality, f.quality);
        value = f.value === null || value === null ? null : multiplyDecimals(value, f.value, decimal, f.decimal);
        decimal &&= f.decimal;
      }
      if (value === null && quality === 'good') quality = 'bad';
    }
    out[point.id] = { value: quality === 'invalid' || quality === 'bad' ? null : value, unit: point.unit, quality };
  }
  return out;
}

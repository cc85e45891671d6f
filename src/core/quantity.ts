// Canonical units of accumulated quantities. Meters report in many units (Wh, MWh,
// kg, MJ, L …); the core books every delta in one canonical unit per dimension so a
// signed sum of channels is meaningful. Rates (power, flow) map to the canonical
// quantity per hour, which is what trapezoidal integration needs.

export type Dimension = 'electric_energy' | 'volume' | 'mass' | 'heat' | 'count' | 'other';

interface UnitInfo {
  dimension: Dimension;
  canonical: string;
  /** Multiply a value in this unit by `scale` to get the canonical unit. */
  scale: number;
}

const QUANTITY_UNITS: Record<string, UnitInfo> = {
  Wh: { dimension: 'electric_energy', canonical: 'kWh', scale: 0.001 },
  kWh: { dimension: 'electric_energy', canonical: 'kWh', scale: 1 },
  MWh: { dimension: 'electric_energy', canonical: 'kWh', scale: 1000 },
  m3: { dimension: 'volume', canonical: 'm3', scale: 1 },
  Nm3: { dimension: 'volume', canonical: 'Nm3', scale: 1 },
  L: { dimension: 'volume', canonical: 'm3', scale: 0.001 },
  t: { dimension: 'mass', canonical: 't', scale: 1 },
  kg: { dimension: 'mass', canonical: 't', scale: 0.001 },
  GJ: { dimension: 'heat', canonical: 'GJ', scale: 1 },
  MJ: { dimension: 'heat', canonical: 'GJ', scale: 0.001 },
  kJ: { dimension: 'heat', canonical: 'GJ', scale: 0.000001 },
  MWh_th: { dimension: 'heat', canonical: 'GJ', scale: 3.6 },
  count: { dimension: 'count', canonical: 'count', scale: 1 },
};

/** Rate units: scale to the canonical quantity unit per hour. */
const RATE_UNITS: Record<string, UnitInfo> = {
  W: { dimension: 'electric_energy', canonical: 'kWh', scale: 0.001 },
  kW: { dimension: 'electric_energy', canonical: 'kWh', scale: 1 },
  MW: { dimension: 'electric_energy', canonical: 'kWh', scale: 1000 },
  'm3/h': { dimension: 'volume', canonical: 'm3', scale: 1 },
  'Nm3/h': { dimension: 'volume', canonical: 'Nm3', scale: 1 },
  'L/h': { dimension: 'volume', canonical: 'm3', scale: 0.001 },
  't/h': { dimension: 'mass', canonical: 't', scale: 1 },
  'kg/h': { dimension: 'mass', canonical: 't', scale: 0.001 },
  'GJ/h': { dimension: 'heat', canonical: 'GJ', scale: 1 },
  kW_th: { dimension: 'heat', canonical: 'GJ', scale: 0.0036 },
  MW_th: { dimension: 'heat', canonical: 'GJ', scale: 3.6 },
  'count/h': { dimension: 'count', canonical: 'count', scale: 1 },
};

/** Canonical form of a cumulative quantity unit; unknown units are kept as they are. */
export function quantityUnit(unit: string): UnitInfo {
  return QUANTITY_UNITS[unit] ?? { dimension: 'other', canonical: unit, scale: 1 };
}

/** Canonical form of a rate unit (per hour); undefined when the unit is not a rate. */
export function rateUnit(unit: string): UnitInfo | undefined {
  return RATE_UNITS[unit];
}

/** Conversion factor from unit `from` to unit `to` of the same dimension, else undefined. */
export function convertFactor(from: string, to: string): number | undefined {
  if (from === to) return 1;
  const a = QUANTITY_UNITS[from];
  const b = QUANTITY_UNITS[to];
  if (!a || !b || a.canonical !== b.canonical) return undefined;
  return a.scale / b.scale;
}

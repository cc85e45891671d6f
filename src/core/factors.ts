// Conversion coefficients (折标准煤系数) and emission factors are data, never code:
// every entry names its value, unit, source document, clause, effective period and
// confidence tag (reference §0). The core receives parsed sets; reading files belongs
// to src/energy-io/factors.ts.
import { convertFactor } from './quantity.js';

/** [C] confirmed in an official text, [S] secondary (public implementations), [M] unverified. */
export type Confidence = 'C' | 'S' | 'M';

export interface FactorEntry {
  /** What it converts: a carrier (electricity, natural_gas, steam, heat …) or a medium. */
  key: string;
  value: number;
  /** `<result>/<quantity>`: kgce/kWh, kgce/m3, kgCO2/kWh, kgCO2/GJ … */
  unit: string;
  source: string;
  clause?: string | undefined;
  /** ISO dates, inclusive; open when absent. */
  effective_from?: string | undefined;
  effective_to?: string | undefined;
  confidence: Confidence;
  /** Result flags to carry when this entry is used (e.g. default_coefficient). */
  flags?: string[] | undefined;
  note?: string | undefined;
}

export interface FactorSet {
  id: string;
  /** coal: kgce per unit; co2: kgCO2 per unit. */
  kind: 'coal' | 'co2';
  title: string;
  /** 当量值 / 等价值 for coal sets; location / administrative for CO2 sets. */
  basis?: string | undefined;
  entries: FactorEntry[];
}

export interface Coefficient {
  /** Result units (kgce or kgCO2) per one unit of the quantity asked for. */
  perUnit: number;
  entry: FactorEntry;
}

/**
 * Coefficient of `key` for a quantity measured in `quantityUnit`, converting the
 * denominator (e.g. kgce/kg for a quantity in t) when the dimensions match.
 */
export function coefficient(set: FactorSet | undefined, key: string, quantityUnit: string): Coefficient | undefined {
  if (!set) return undefined;
  for (const entry of set.entries) {
    if (entry.key !== key) continue;
    const denominator = entry.unit.split('/')[1];
    if (denominator === undefined) continue;
    const f = convertFactor(quantityUnit, denominator);
    if (f === undefined) continue;
    return { perUnit: entry.value * f, entry };
  }
  return undefined;
}

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

/** A set as written in a file: may extend another set and override its entries by key. */
export interface FactorSetDoc extends FactorSet {
  extends?: string | undefined;
  notes?: string | undefined;
}

/**
 * Resolves `extends` chains (child entries replace parent entries with the same key).
 * Unknown parents and cycles are reported, never thrown.
 */
export function resolveFactorSets(docs: readonly FactorSetDoc[]): { sets: Map<string, FactorSet>; errors: string[] } {
  const byId = new Map<string, FactorSetDoc>();
  const errors: string[] = [];
  for (const d of docs) {
    if (byId.has(d.id)) errors.push(`factor set "${d.id}" is defined twice`);
    byId.set(d.id, d);
  }
  const sets = new Map<string, FactorSet>();
  const resolve = (id: string, chain: string[]): FactorSet | undefined => {
    const done = sets.get(id);
    if (done) return done;
    const d = byId.get(id);
    if (!d) return undefined;
    if (chain.includes(id)) {
      errors.push(`factor sets extend each other in a cycle: ${[...chain, id].join(' → ')}`);
      return undefined;
    }
    let entries = d.entries;
    if (d.extends !== undefined) {
      const parent = resolve(d.extends, [...chain, id]);
      if (!parent) {
        if (!byId.has(d.extends)) errors.push(`factor set "${id}" extends unknown set "${d.extends}"`);
        return undefined;
      }
      if (parent.kind !== d.kind) errors.push(`factor set "${id}" (${d.kind}) extends "${parent.id}" of another kind (${parent.kind})`);
      const own = new Set(d.entries.map((e) => e.key));
      entries = [...d.entries, ...parent.entries.filter((e) => !own.has(e.key))];
    }
    const set: FactorSet = { id: d.id, kind: d.kind, title: d.title, basis: d.basis, entries };
    sets.set(id, set);
    return set;
  };
  for (const d of docs) resolve(d.id, []);
  return { sets, errors };
}

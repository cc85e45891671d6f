// Turns a finished window's exact sums into a record: physical quantity, kWh, kgce and
// kgCO2 on the named factor sets, coverage, flags; EnPIs divide by output.
import type { Model, SeriesModel } from './model.js';
import { CARRIER_UNITS } from './model.js';
import { fromMicro } from './exact.js';
import { coefficient, type FactorSet } from './factors.js';
import { shiftIdAt } from './calendar.js';
import type { EnergyRecord, EnpiRecord, FactorSetRefs } from './records.js';
import { recordId } from './records.js';

export interface OpenWindow {
  startMs: number;
  endMs: number;
  /** Integer micro-unit sums per bucket (q, use:fuel, a:<account>, out …). */
  sums: Record<string, number>;
  /** Milliseconds of the window covered by good consecutive readings, per channel. */
  coveredMs: Record<string, number>;
  flags: string[];
}

interface UnitsView {
  accountUnits: Record<string, string>;
}

const ESTIMATE_FLAGS = new Set(['estimated_distribution', 'estimated_value', 'late_carried', 'manual']);

/** Coefficient key for a carrier measured in unit: steam or hot water measured as heat use the heat coefficient. */
export function factorKey(carrier: string, unit: string): string {
  if ((carrier === 'steam' || carrier === 'hot_water') && (unit === 'GJ' || unit === 'MJ')) return 'heat';
  return carrier;
}

export interface Converted {
  kgce: number | null;
  kgco2: number | null;
  flags: string[];
}

/** Converts a quantity of a carrier into kgce and kgCO2 with the given sets. */
export function convert(coal: FactorSet | undefined, co2: FactorSet | undefined, carrier: string, unit: string, quantity: number): Converted {
  const key = factorKey(carrier, unit);
  const flags: string[] = [];
  if (quantity === 0) return { kgce: 0, kgco2: 0, flags };
  const c = coefficient(coal, key, unit);
  const e = coefficient(co2, key, unit);
  for (const x of [c, e]) for (const f of x?.entry.flags ?? []) if (!flags.includes(f)) flags.push(f);
  if (!c || !e) flags.push('no_factor');
  return { kgce: c ? quantity * c.perUnit : null, kgco2: e ? quantity * e.perUnit : null, flags };
}

/**
 * Converts an account's window sums. Steam metered by mass converts the part whose heat
 * is known (enthalpy mode, preferred) through the heat coefficient, and only the rest
 * through the steam table coefficient (a flagged legacy default).
 */
export function convertSums(coal: FactorSet | undefined, co2: FactorSet | undefined, carrier: string, unit: string, q: number, heatGj: number, qWithHeat: number): Converted {
  if (carrier !== 'steam' || unit !== 't' || qWithHeat === 0) return convert(coal, co2, carrier, unit, q);
  const heat = convert(coal, co2, 'heat', 'GJ', heatGj);
  const rest = convert(coal, co2, carrier, unit, q - qWithHeat);
  const add = (a: number | null, b: number | null) => (a === null || b === null ? null : a + b);
  return { kgce: add(heat.kgce, rest.kgce), kgco2: add(heat.kgco2, rest.kgco2), flags: [...new Set([...heat.flags, ...rest.flags])] };
}

function coverageOf(s: SeriesModel, w: OpenWindow): number {
  const len = w.endMs - w.startMs;
  if (len <= 0 || s.coverageChannels.length === 0) return 0;
  let min = 1;
  for (const key of s.coverageChannels) min = Math.min(min, Math.min(1, (w.coveredMs[key] ?? 0) / len));
  return min;
}

function factorRefs(model: Model): FactorSetRefs {
  return { coal: model.factors.coal?.id ?? null, co2: model.factors.co2?.id ?? null };
}

function round(x: number, digits = 9): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function closeWindow(model: Model, st: UnitsView, s: SeriesModel, w: OpenWindow): EnergyRecord | EnpiRecord {
  const coverage = round(coverageOf(s, w), 6);
  const flags = [...w.flags];
  if (coverage === 0 && Object.keys(w.sums).length === 0) flags.push('no_data');
  const shift = shiftIdAt(model.timezone, s.spec, w.startMs);
  const base = { window: s.windowId, start_ms: w.startMs, end_ms: w.endMs, ...(shift ? { shift } : {}) };
  if (s.kind === 'energy') {
    const a = s.account!;
    const unit = st.accountUnits[a.id] ?? CARRIER_UNITS[a.carrier] ?? '';
    const q = fromMicro(w.sums.q ?? 0);
    const heatGj = fromMicro(w.sums.heat ?? 0);
    const qHeat = fromMicro(w.sums.q_heat ?? 0);
    const feedstock = fromMicro(w.sums['use:feedstock'] ?? 0);
    const conv = convertSums(model.factors.coal, model.factors.co2, a.carrier, unit, q, heatGj, qHeat);
    // Feedstock share of the kgce, pro rata to quantity (a feedstock channel's heat is not split out).
    const convNoFeed = conv.kgce === null || q === 0 ? { kgce: conv.kgce } : { kgce: (conv.kgce * (q - feedstock)) / q };
    for (const f of conv.flags) if (!flags.includes(f)) flags.push(f);
    return {
      kind: 'energy',
      id: recordId('energy', a.id, s.windowId, w.startMs),
      account: a.id,
      carrier: a.carrier,
      level: a.level ?? 'line',
      ...base,
      quantity: q,
      unit,
      energy_kwh: a.carrier === 'electricity' && unit === 'kWh' ? q : null,
      kgce: conv.kgce === null ? null : round(conv.kgce),
      kgce_excl_feedstock: convNoFeed.kgce === null ? null : round(convNoFeed.kgce),
      kgco2: conv.kgco2 === null ? null : round(conv.kgco2),
      coverage,
      estimated: flags.some((f) => ESTIMATE_FLAGS.has(f)),
      flags,
      factor_sets: factorRefs(model),
      use_totals: {
        fuel: fromMicro(w.sums['use:fuel'] ?? 0),
        power: fromMicro(w.sums['use:power'] ?? 0),
        feedstock,
      },
      heat_gj: a.carrier === 'steam' && unit === 't' && qHeat !== 0 ? heatGj : null,
    };
  }
  const e = s.enpi!;
  let kwh: number | null = null;
  let kgce: number | null = 0;
  let kgco2: number | null = 0;
  for (const a of s.enpiAccounts ?? []) {
    const unit = st.accountUnits[a.id] ?? CARRIER_UNITS[a.carrier] ?? '';
    const q = fromMicro(w.sums[`a:${a.id}:q`] ?? 0);
    if (a.carrier === 'electricity' && unit === 'kWh') kwh = (kwh ?? 0) + q;
    const conv = convertSums(model.factors.coal, model.factors.co2, a.carrier, unit, q,
      fromMicro(w.sums[`a:${a.id}:heat`] ?? 0), fromMicro(w.sums[`a:${a.id}:q_heat`] ?? 0));
    for (const f of conv.flags) if (!flags.includes(f)) flags.push(f);
    kgce = kgce === null || conv.kgce === null ? null : kgce + conv.kgce;
    kgco2 = kgco2 === null || conv.kgco2 === null ? null : kgco2 + conv.kgco2;
  }
  const output = fromMicro(w.sums.out ?? 0);
  const status = coverage < e.min_coverage ? 'incomplete' : output <= 0 ? 'no_output' : 'ok';
  const per = (x: number | null) => (x === null || output <= 0 ? null : round(x / output));
  return {
    kind: 'enpi',
    id: recordId('enpi', e.id, s.windowId, w.startMs),
    enpi: e.id,
    ...base,
    output,
    output_unit: e.output.unit,
    energy_kwh: kwh,
    kgce: kgce === null ? null : round(kgce),
    kgco2: kgco2 === null ? null : round(kgco2),
    kwh_per_unit: per(kwh),
    kgce_per_unit: per(kgce),
    kgco2_per_unit: per(kgco2),
    status,
    coverage,
    estimated: flags.some((f) => ESTIMATE_FLAGS.has(f)),
    flags,
    factor_sets: factorRefs(model),
  };
}

// Records that leave the energy core. Field names are snake_case because they are
// published as-is (MQTT JSON, Influx fields). Every interval record carries `id`, a
// stable identity (kind/owner/window/start_ms), so a replay overwrites instead of
// duplicating.

/** Quality flags, lower snake_case as published (reference §6.3 plus our own). */
export const QUALITY_FLAGS = [
  'raw', 'valid', 'jitter_clamped', 'rollover', 'reset', 'replaced', 'spike_dropped', 'spike_confirmed',
  'estimated_distribution', 'estimated_value', 'manual',
  // Not in §6.3, added by the core:
  'late_carried', // part of a delta belonged to an already closed window and was booked here
  'no_data', // no reading touched this window
  'default_coefficient', // a flagged fallback coefficient was used (e.g. legacy steam 0.1286)
  'no_factor', // no coefficient for this carrier in the active factor sets
  'bad_quality', // a reading with quality other than good was skipped
  'incomplete_windows', // demand: a maximum includes minutes without full coverage
] as const;
export type QualityFlag = (typeof QUALITY_FLAGS)[number];

export interface UseTotals {
  fuel: number;
  power: number;
  feedstock: number;
}

export interface FactorSetRefs {
  coal: string | null;
  co2: string | null;
}

export interface EnergyRecord {
  kind: 'energy';
  /** Stable identity: `energy/<account>/<window>/<start_ms>`. */
  id: string;
  account: string;
  carrier: string;
  level: string;
  window: string;
  /** The shift id for `shift` windows. */
  shift?: string;
  start_ms: number;
  end_ms: number;
  /** Signed sum of the account's channels in `unit` (exports and sub-meters subtracted). */
  quantity: number;
  unit: string;
  /** Electricity only, else null. */
  energy_kwh: number | null;
  /** Comprehensive energy (综合能耗) on the factor set's basis; null without a coefficient. */
  kgce: number | null;
  /** Same, without energy used as feedstock (原料用能, 发改环资〔2022〕803号). */
  kgce_excl_feedstock: number | null;
  kgco2: number | null;
  /** Share of the window covered by good consecutive readings of every channel (0..1). */
  coverage: number;
  estimated: boolean;
  flags: string[];
  factor_sets: FactorSetRefs;
  /** Quantity per use tag (fuel / power / feedstock), same unit as `quantity`. */
  use_totals: UseTotals;
  /** Steam metered by mass: heat from pressure/temperature (IAPWS-IF97) above h_ref, GJ; else null. */
  heat_gj: number | null;
}

export type EnpiStatus = 'ok' | 'no_output' | 'incomplete';

export interface EnpiRecord {
  kind: 'enpi';
  /** Stable identity: `enpi/<enpi>/<window>/<start_ms>`. */
  id: string;
  enpi: string;
  window: string;
  shift?: string;
  start_ms: number;
  end_ms: number;
  output: number;
  output_unit: string;
  energy_kwh: number | null;
  kgce: number | null;
  kgco2: number | null;
  kwh_per_unit: number | null;
  kgce_per_unit: number | null;
  kgco2_per_unit: number | null;
  status: EnpiStatus;
  /** Lowest coverage of the energy accounts and the output channel. */
  coverage: number;
  estimated: boolean;
  flags: string[];
  factor_sets: FactorSetRefs;
}

export interface DemandRecord {
  kind: 'demand';
  /** Stable identity: `demand/<account>/<window>/<start_ms>`. */
  id: string;
  account: string;
  /** The billing period the maxima are taken over: `1d` or `month`. */
  window: string;
  start_ms: number;
  end_ms: number;
  /** Largest average power over fixed clock-aligned 15-minute blocks. */
  fixed_max_kw: number | null;
  fixed_max_start_ms: number | null;
  /** Largest average power over 15-minute windows sliding by 1 minute (滑差式). */
  sliding_max_kw: number | null;
  sliding_max_start_ms: number | null;
  period_ms: number;
  /** Share of the period's minutes that had full coverage. */
  coverage: number;
  flags: string[];
}

export type EventType =
  | 'reset' | 'replacement' | 'rollover' | 'spike_dropped' | 'spike_confirmed' | 'manual_output' | 'manual_quantity'
  | 'out_of_order';

export interface EventRecord {
  kind: 'event';
  /** Stable identity: `event/<type>/<device>/<point>/<ts_ms>`. */
  id: string;
  type: EventType;
  device: string;
  point: string;
  ts_ms: number;
  /** Readings involved, in the point's unit (before CT/PT). */
  previous_value: number | null;
  value: number | null;
  /** The delta credited because of this event, in the point's unit after CT/PT (null: none). */
  delta: number | null;
  message: string;
  details?: Record<string, string | number | null>;
}

export type EngineRecord = EnergyRecord | EnpiRecord | DemandRecord | EventRecord;

export function recordId(kind: string, owner: string, window: string, startMs: number): string {
  return `${kind}/${owner}/${window}/${startMs}`;
}

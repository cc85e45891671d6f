// Config sections of the energy core (accounts, EnPIs, channels, factor sets). Owned
// by the energy core; the root schema only places them.
import { z } from 'zod';
import { Duration } from './duration.js';

export const Carrier = z.enum([
  'electricity', 'natural_gas', 'steam', 'heat', 'hot_water', 'diesel', 'coal', 'lpg',
  'water', 'compressed_air',
]);
export type Carrier = z.infer<typeof Carrier>;

export const Window = z.string().regex(/^(\d+(s|m|h|d)|month|shift)$/, 'a window is a duration that divides a day (10s … 1d), "month" or "shift"');

export const MeterChannel = z.strictObject({
  device: z.string(),
  point: z.string().default('active_energy_import_total'),
  /** -1 subtracts a sub-meter or an export channel. */
  sign: z.union([z.literal(1), z.literal(-1)]).default(1),
  use: z.enum(['fuel', 'power', 'feedstock']).default('power'),
});
export type MeterChannel = z.infer<typeof MeterChannel>;

export const AccountConfig = z.strictObject({
  id: z.string().min(1),
  carrier: Carrier.default('electricity'),
  level: z.enum(['site', 'workshop', 'line', 'equipment']).default('line'),
  meters: z.array(MeterChannel).min(1),
  windows: z.array(Window).default(['15m', '1h', '1d']),
  /** Maximum demand (需量) per day and month; electricity only. */
  demand: z.boolean().default(false),
});
export type AccountConfig = z.infer<typeof AccountConfig>;

export const EnpiConfig = z.strictObject({
  id: z.string().min(1),
  accounts: z.array(z.string()).min(1),
  output: z.strictObject({ device: z.string().optional(), point: z.string().default('production_count'), unit: z.string().default('count') }),
  windows: z.array(Window).default(['15m', '1h', '1d']),
  min_coverage: z.number().min(0).max(1).default(0.9),
});
export type EnpiConfig = z.infer<typeof EnpiConfig>;

/** A CT or PT ratio written "300/5", or a plain number. */
const Ratio = z.union([
  z.number().positive(),
  z.string().regex(/^\s*\d+(\.\d+)?\s*\/\s*\d+(\.\d+)?\s*$/, 'write a ratio as "300/5"'),
]);

/** A CT/PT multiplier (倍率) valid from a date; applied to deltas, never to history. */
export const MultiplierConfig = z.strictObject({
  /** ISO date or date-time; a date is midnight in the site timezone. */
  from: z.string(),
  ct: Ratio.optional(),
  pt: Ratio.optional(),
  /** A plain multiplier, when the ratios are not known separately. */
  factor: z.number().positive().optional(),
});
export type MultiplierConfig = z.infer<typeof MultiplierConfig>;

/** How the core treats one device point (counter rules, plausibility, multipliers). */
export const ChannelConfig = z.strictObject({
  device: z.string(),
  point: z.string(),
  /** counter: a cumulative register; power: a rate (W, m3/h …) integrated by trapezoids. */
  kind: z.enum(['counter', 'power']).default('counter'),
  /** Unit of the values, when the poll does not carry one. */
  unit: z.string().optional(),
  /** Gap threshold for this channel (e.g. a PLC counter reported only on change), default energy.max_gap. */
  max_gap: Duration.optional(),
  counter: z.strictObject({
    /** Register modulus (wraps to 0 here), e.g. 100000000 for a 9-digit XXXXXXXX.X register. */
    modulus: z.number().positive().optional(),
    /** Largest value the register shows, e.g. 99999999.9; the modulus is max + resolution. */
    max: z.number().positive().optional(),
    /** Register resolution (one step), default from the decimals of max, else 0.01. */
    resolution: z.number().positive().optional(),
    /** A decrease at or below this is jitter (default 2 resolution steps). */
    jitter: z.number().nonnegative().optional(),
    /** Value the register restarts from after a reset (PLC part counters: 0). */
    reset_to: z.number().optional(),
    /** Top share of the range in which a wrap may be a rollover (default 0.1). */
    rollover_fraction: z.number().gt(0).lt(1).default(0.1),
  }).default({ rollover_fraction: 0.1 }),
  /** Largest plausible rate on the primary side in canonical units per hour (kW, m3/h, t/h, GJ/h, count/h). */
  max_rate: z.number().positive().optional(),
  /** Headroom k on max_rate (reference §6.3: 1.2–1.5). */
  rate_headroom: z.number().min(1).default(1.2),
  multipliers: z.array(MultiplierConfig).default([]),
  /** Steam mass meter: heat from pressure and temperature by IAPWS-IF97 (enthalpy mode, reference §1.6). */
  steam: z.strictObject({
    /** Point on the same device with the steam pressure. */
    pressure_point: z.string(),
    pressure_unit: z.enum(['MPa', 'kPa', 'bar']).default('MPa'),
    /** The pressure is gauge (表压): 0.101325 MPa is added. */
    gauge: z.boolean().default(false),
    /** Point with the steam temperature in °C; absent: dry saturated steam. */
    temperature_point: z.string().optional(),
    /** Reference enthalpy, kJ/kg (83.74 = water at 20 °C, Chinese GHG guideline convention [M]). */
    h_ref: z.number().default(83.74),
  }).optional(),
});
export type ChannelConfig = z.infer<typeof ChannelConfig>;

export const ShiftConfig = z.strictObject({
  id: z.string().min(1),
  /** Local wall-clock start, "HH:MM". */
  start: z.string().regex(/^\d{1,2}:\d{2}$/),
});
export type ShiftConfig = z.infer<typeof ShiftConfig>;

export const FactorSelection = z.strictObject({
  /** Directory of factor-set YAML files (default: the shipped config/factors). */
  dir: z.string().optional(),
  /** Standard-coal set (default GB/T 2589-2020 当量值). */
  coal: z.string().default('gbt2589-2020-dangliang'),
  /** CO2 set (default MEE/NBS national average of the newest data year). */
  co2: z.string().default('mee-nbs-2023-national'),
});
export type FactorSelection = z.infer<typeof FactorSelection>;

export const EnergySettings = z.strictObject({
  /** How long after its end a window waits for late readings before it is closed. */
  grace: Duration.default(5000),
  /** Readings further apart than this leave a gap: not covered, and distributed as an estimate. */
  max_gap: Duration.default(300_000),
  shifts: z.array(ShiftConfig).default([]),
  channels: z.array(ChannelConfig).default([]),
  factors: FactorSelection.default({ coal: 'gbt2589-2020-dangliang', co2: 'mee-nbs-2023-national' }),
});
export type EnergySettings = z.infer<typeof EnergySettings>;

// ---------------------------------------------------------------- evaluation (evaluate command)

/** One year's enterprise figures, as reported in the statistical forms (205-1 …). */
export const EvaluationYear = z.strictObject({
  /** 实缴税收, 万元 */
  tax_wan: z.number().nonnegative().optional(),
  /** 营业(销售)收入, 万元 */
  revenue_wan: z.number().nonnegative().optional(),
  /** 工业增加值, 万元 (base-year comparable prices for intensity tracking) */
  value_added_wan: z.number().nonnegative().optional(),
  /** 工业总产值, 万元 */
  output_value_wan: z.number().nonnegative().optional(),
  /** 综合能耗, tce (on the factor set's basis) */
  energy_tce: z.number().nonnegative().optional(),
  co2_t: z.number().nonnegative().optional(),
  /** 主要污染物排放当量, t */
  pollutant_eq_t: z.number().nonnegative().optional(),
  rd_wan: z.number().nonnegative().optional(),
  staff: z.number().nonnegative().optional(),
  electricity_kwh: z.number().nonnegative().optional(),
  /** Renewable electricity used on site (self-consumed PV, green power), kWh. */
  renewable_kwh: z.number().nonnegative().optional(),
  /** Other renewable energy, tce. */
  renewable_tce: z.number().nonnegative().optional(),
  fresh_water_m3: z.number().nonnegative().optional(),
  reused_water_m3: z.number().nonnegative().optional(),
});
export type EvaluationYear = z.infer<typeof EvaluationYear>;

export const MuSchemeConfig = z.strictObject({
  id: z.string(),
  /** Where the weights come from; Shandong provincial weights are not known (reference §5.4). */
  source: z.string(),
  terms: z.array(z.strictObject({
    indicator: z.enum(['tax_per_mu', 'revenue_per_mu', 'value_added_per_mu', 'revenue_per_tce', 'value_added_per_tce',
      'revenue_per_pollutant_t', 'value_added_per_pollutant_t', 'rd_intensity', 'labour_productivity', 'tax_per_10k_kwh']),
    weight: z.number(),
    benchmark: z.number().positive(),
    cap: z.number().positive().optional(),
  })).min(1),
});
export type MuSchemeConfig = z.infer<typeof MuSchemeConfig>;

export const MuCutoffsConfig = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('share'), A: z.number().min(0).max(1), B: z.number().min(0).max(1), D: z.number().min(0).max(1), base_includes_t: z.boolean().default(true) }),
  z.strictObject({ mode: z.literal('score'), A: z.number(), B: z.number(), C: z.number() }),
]);
export type MuCutoffsConfig = z.infer<typeof MuCutoffsConfig>;

export const GreenSchemeConfig = z.strictObject({
  id: z.string(),
  /** GB/T 36132-2025 weights conflict between public tools (reference §10 item 20): say which you use. */
  source: z.string(),
  terms: z.array(z.strictObject({
    indicator: z.enum(['energy_per_output_value', 'co2_per_output_value', 'renewable_share', 'water_reuse_rate', 'plot_ratio',
      'building_coverage', 'output_value_per_m2', 'output_value_per_mu']),
    weight: z.number(),
    direction: z.enum(['higher', 'lower']),
    /** 基准值 */
    base: z.number(),
    /** 引领值 */
    lead: z.number(),
    at_base: z.number().min(0).max(1).optional(),
    below_base: z.number().min(0).max(1).optional(),
  })).min(1),
});
export type GreenSchemeConfig = z.infer<typeof GreenSchemeConfig>;

export const EvaluationConfig = z.strictObject({
  /** Land area in m² (mu = m² × 0.0015). */
  land_m2: z.number().positive(),
  /** 建筑物 / 构筑物 footprint and 露天堆场, m² (建筑系数). */
  building_footprint_m2: z.number().nonnegative().default(0),
  structure_footprint_m2: z.number().nonnegative().default(0),
  open_yard_m2: z.number().nonnegative().default(0),
  /** Buildings for 容积率: a storey higher than 8 m counts double. */
  buildings: z.array(z.strictObject({ floor_area_m2: z.number().nonnegative(), storey_height_m: z.number().positive().optional() })).default([]),
  years: z.record(z.string().regex(/^\d{4}$/, 'years are written "2024"'), EvaluationYear),
  intensity_target: z.strictObject({
    /** −0.17 = −17 % vs the base year. */
    reduction: z.number().gt(-1).lt(0).default(-0.17),
    base_year: z.number().int().default(2020),
    target_year: z.number().int().default(2025),
    /** The −17 % figure's source document was not found (reference §5.6): keep this label unless you have one. */
    source: z.string().default('user-entered; source unverified (national comparator: −13.5 %, 工业能效提升行动计划)'),
  }).default({ reduction: -0.17, base_year: 2020, target_year: 2025, source: 'user-entered; source unverified (national comparator: −13.5 %, 工业能效提升行动计划)' }),
  mu_scheme: MuSchemeConfig.optional(),
  mu_cutoffs: MuCutoffsConfig.optional(),
  green_scheme: GreenSchemeConfig.optional(),
});
export type EvaluationConfig = z.infer<typeof EvaluationConfig>;

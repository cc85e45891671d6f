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

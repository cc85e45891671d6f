// Config sections of the energy core (accounts, EnPIs, factor sets). Owned by the
// energy core; the root schema only places them.
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

export const AccountConfig = z.strictObject({
  id: z.string().min(1),
  carrier: Carrier.default('electricity'),
  level: z.enum(['site', 'workshop', 'line', 'equipment']).default('line'),
  meters: z.array(MeterChannel).min(1),
  windows: z.array(Window).default(['15m', '1h', '1d']),
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

export const EnergySettings = z.strictObject({
  /** How long after its end a window waits for late readings before it is closed. */
  grace: Duration.default(5000),
});
export type EnergySettings = z.infer<typeof EnergySettings>;

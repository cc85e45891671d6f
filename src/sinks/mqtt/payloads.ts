// The public MQTT payload contract. Dashboards and the bridge depend on these shapes;
// a breaking change needs a version bump. Every payload the gateway emits in tests
// is checked against these schemas.
import { z } from 'zod';

const Quality = z.enum(['good', 'uncertain', 'invalid', 'bad', 'stale']);

export const StatusPayload = z.strictObject({
  state: z.enum(['online', 'offline']),
  version: z.string(),
  started_at: z.string().optional(),
  ts_ms: z.number().int(),
});
export type StatusPayload = z.infer<typeof StatusPayload>;

export const AvailabilityPayload = z.strictObject({
  state: z.enum(['online', 'degraded', 'offline']),
  reason: z.string().optional(),
  ts_ms: z.number().int(),
});
export type AvailabilityPayload = z.infer<typeof AvailabilityPayload>;

export const PointValuePayload = z.strictObject({
  value: z.union([z.number(), z.string(), z.boolean(), z.null()]),
  unit: z.string(),
  quality: Quality,
  source_ts_ms: z.number().int().optional(),
});

export const TelemetryPayload = z.strictObject({
  kind: z.literal('telemetry'),
  device: z.string(),
  model: z.string().nullable(),
  ts_ms: z.number().int(),
  values: z.record(z.string(), PointValuePayload),
  replayed: z.boolean().optional(),
});
export type TelemetryPayload = z.infer<typeof TelemetryPayload>;

/** Interval records come from the energy core; the contract fixes the fields dashboards use. */
export const EnergyPayload = z.looseObject({
  kind: z.literal('energy'),
  account: z.string(),
  carrier: z.string(),
  window: z.string(),
  start_ms: z.number().int(),
  end_ms: z.number().int(),
  quantity: z.number().nullable(),
  unit: z.string(),
  energy_kwh: z.number().nullable(),
  kgce: z.number().nullable(),
  kgco2: z.number().nullable(),
  coverage: z.number().min(0).max(1),
  estimated: z.boolean(),
  replayed: z.boolean().optional(),
});
export type EnergyPayload = z.infer<typeof EnergyPayload>;

export const EnpiPayload = z.looseObject({
  kind: z.literal('enpi'),
  enpi: z.string(),
  window: z.string(),
  start_ms: z.number().int(),
  end_ms: z.number().int(),
  output: z.number().nullable(),
  energy_kwh: z.number().nullable(),
  kgce: z.number().nullable(),
  kgco2: z.number().nullable(),
  kwh_per_unit: z.number().nullable(),
  kgce_per_unit: z.number().nullable(),
  kgco2_per_unit: z.number().nullable(),
  status: z.string(),
  replayed: z.boolean().optional(),
});
export type EnpiPayload = z.infer<typeof EnpiPayload>;

export const DemandPayload = z.looseObject({
  kind: z.literal('demand'),
  account: z.string(),
  window: z.string(),
  start_ms: z.number().int(),
  end_ms: z.number().int(),
});

/** Which schema a published topic's payload must satisfy, by the topic's shape. */
export function schemaForTopic(topic: string): z.ZodType | null {
  if (topic.endsWith('/status')) return StatusPayload;
  if (/\/devices\/[^/]+\/availability$/.test(topic)) return AvailabilityPayload;
  if (/\/devices\/[^/]+\/telemetry$/.test(topic)) return TelemetryPayload;
  if (/\/energy\/[^/]+\/[^/]+$/.test(topic)) return EnergyPayload;
  if (/\/enpi\/[^/]+\/[^/]+$/.test(topic)) return EnpiPayload;
  if (/\/demand\/[^/]+\/[^/]+$/.test(topic)) return DemandPayload;
  return null;
}

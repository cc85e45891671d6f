// The public MQTT payload contract. Dashboards and the bridge depend on these shapes;
// a breaking change needs a version bump. Every payload the gateway emits in tests is
// checked against these schemas, and docs/mqtt-payloads.schema.json is generated from
// them (a test keeps it current).
import { z } from 'zod';

const Quality = z.enum(['good', 'uncertain', 'invalid', 'bad', 'stale']);

/** Every record payload names the gateway that produced it, so a bridge can tag it whatever the topic layout. */
const Origin = {
  site: z.string().optional().describe('site of the gateway that produced the record (gateway.site)'),
  gateway: z.string().optional().describe('gateway that produced the record (gateway.id)'),
  replayed: z.boolean().optional().describe('true when the record was queued during an outage and is sent late'),
};

export const StatusPayload = z.strictObject({
  state: z.enum(['online', 'offline']),
  version: z.string().describe('gateway version'),
  started_at: z.string().optional().describe('ISO 8601 start time of the running process'),
  ts_ms: z.number().int(),
}).describe('retained; "offline" is also the last will');
export type StatusPayload = z.infer<typeof StatusPayload>;

export const AvailabilityPayload = z.strictObject({
  state: z.enum(['online', 'degraded', 'offline']),
  reason: z.string().optional(),
  ts_ms: z.number().int(),
}).describe('retained, per device');
export type AvailabilityPayload = z.infer<typeof AvailabilityPayload>;

export const PointValuePayload = z.strictObject({
  value: z.union([z.number(), z.string(), z.boolean(), z.null()]),
  unit: z.string(),
  quality: Quality,
  source_ts_ms: z.number().int().optional(),
  status: z.string().optional().describe('why the quality is not good, as the device reported it, e.g. the OPC UA status name BadNodeIdUnknown'),
});

export const TelemetryPayload = z.strictObject({
  kind: z.literal('telemetry'),
  device: z.string(),
  model: z.string().nullable(),
  ts_ms: z.number().int(),
  values: z.record(z.string(), PointValuePayload),
  ...Origin,
}).describe('one message per device poll');
export type TelemetryPayload = z.infer<typeof TelemetryPayload>;

const FactorSets = z.object({ coal: z.string().nullable(), co2: z.string().nullable() });

/** Interval records come from the energy core; the contract fixes the fields dashboards use. */
export const EnergyPayload = z.looseObject({
  kind: z.literal('energy'),
  id: z.string().optional().describe('stable identity energy/<account>/<window>/<start_ms>'),
  account: z.string(),
  carrier: z.string(),
  level: z.string().optional(),
  window: z.string(),
  shift: z.string().optional(),
  start_ms: z.number().int(),
  end_ms: z.number().int(),
  quantity: z.number().nullable(),
  unit: z.string(),
  energy_kwh: z.number().nullable(),
  kgce: z.number().nullable(),
  kgce_excl_feedstock: z.number().nullable().optional(),
  kgco2: z.number().nullable(),
  coverage: z.number().min(0).max(1),
  estimated: z.boolean(),
  flags: z.array(z.string()).optional(),
  factor_sets: FactorSets.optional(),
  ...Origin,
}).describe('a closed energy window of one account');
export type EnergyPayload = z.infer<typeof EnergyPayload>;

export const EnpiPayload = z.looseObject({
  kind: z.literal('enpi'),
  id: z.string().optional(),
  enpi: z.string(),
  window: z.string(),
  shift: z.string().optional(),
  start_ms: z.number().int(),
  end_ms: z.number().int(),
  output: z.number().nullable(),
  output_unit: z.string().optional(),
  energy_kwh: z.number().nullable(),
  kgce: z.number().nullable(),
  kgco2: z.number().nullable(),
  kwh_per_unit: z.number().nullable(),
  kgce_per_unit: z.number().nullable(),
  kgco2_per_unit: z.number().nullable(),
  status: z.string(),
  coverage: z.number().min(0).max(1).optional(),
  estimated: z.boolean().optional(),
  flags: z.array(z.string()).optional(),
  factor_sets: FactorSets.optional(),
  ...Origin,
}).describe('a closed EnPI window (energy per unit of output)');
export type EnpiPayload = z.infer<typeof EnpiPayload>;

export const DemandPayload = z.looseObject({
  kind: z.literal('demand'),
  id: z.string().optional(),
  account: z.string(),
  window: z.string(),
  start_ms: z.number().int(),
  end_ms: z.number().int(),
  fixed_max_kw: z.number().nullable().optional(),
  sliding_max_kw: z.number().nullable().optional(),
  coverage: z.number().min(0).max(1).optional(),
  ...Origin,
}).describe('maximum demand of a billing period');
export type DemandPayload = z.infer<typeof DemandPayload>;

export const EventPayload = z.looseObject({
  kind: z.literal('event'),
  id: z.string().optional(),
  type: z.string(),
  device: z.string(),
  point: z.string(),
  ts_ms: z.number().int(),
  message: z.string(),
  ...Origin,
}).describe('counter reset, meter replacement, rollover, spike, manual entry');
export type EventPayload = z.infer<typeof EventPayload>;

/** Every published topic (below the topic root), with the payload it carries. */
export const TOPIC_PAYLOADS: ReadonlyArray<{ name: string; topic: string; pattern: RegExp; schema: z.ZodType; retained: boolean }> = [
  { name: 'status', topic: '<root>/status', pattern: /\/status$/, schema: StatusPayload, retained: true },
  { name: 'availability', topic: '<root>/devices/<device>/availability', pattern: /\/devices\/[^/]+\/availability$/, schema: AvailabilityPayload, retained: true },
  { name: 'telemetry', topic: '<root>/devices/<device>/telemetry', pattern: /\/devices\/[^/]+\/telemetry$/, schema: TelemetryPayload, retained: false },
  { name: 'energy', topic: '<root>/energy/<account>/<window>', pattern: /\/energy\/[^/]+\/[^/]+$/, schema: EnergyPayload, retained: false },
  { name: 'enpi', topic: '<root>/enpi/<enpi>/<window>', pattern: /\/enpi\/[^/]+\/[^/]+$/, schema: EnpiPayload, retained: false },
  { name: 'demand', topic: '<root>/demand/<account>/<window>', pattern: /\/demand\/[^/]+\/[^/]+$/, schema: DemandPayload, retained: false },
  { name: 'event', topic: '<root>/events/<type>', pattern: /\/events\/[^/]+$/, schema: EventPayload, retained: false },
];

/** Which schema a published topic's payload must satisfy, by the topic's shape. */
export function schemaForTopic(topic: string): z.ZodType | null {
  return TOPIC_PAYLOADS.find((t) => t.pattern.test(topic))?.schema ?? null;
}

/** Record payloads by `kind` (what the bridge accepts). */
export const RECORD_PAYLOADS: Readonly<Record<string, z.ZodType>> = {
  telemetry: TelemetryPayload, energy: EnergyPayload, enpi: EnpiPayload, demand: DemandPayload, event: EventPayload,
};

/** docs/mqtt-payloads.schema.json: one definition per payload, each with its topic. */
export function mqttPayloadsJsonSchema(): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  for (const t of TOPIC_PAYLOADS) {
    const { $schema: _drop, ...schema } = z.toJSONSchema(t.schema, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
    defs[t.name] = { ...schema, 'x-topic': t.topic, 'x-retained': t.retained };
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'energy-gateway MQTT payloads',
    description: 'Payloads the gateway publishes, one definition per topic shape (x-topic; <root> is mqtt.topic_root, default energy/<site>/<gateway>). Generated from src/sinks/mqtt/payloads.ts.',
    oneOf: TOPIC_PAYLOADS.map((t) => ({ $ref: `#/$defs/${t.name}` })),
    $defs: defs,
  };
}

export function mqttPayloadsJsonSchemaText(): string {
  return `${JSON.stringify(mqttPayloadsJsonSchema(), null, 2)}\n`;
}

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mqttPayloadsJsonSchema, mqttPayloadsJsonSchemaText, schemaForTopic, TelemetryPayload } from '../../src/sinks/mqtt/payloads.js';
import { createTopics } from '../../src/sinks/mqtt/topics.js';
import { ROOT } from '../support/cli.js';

const file = join(ROOT, 'docs', 'mqtt-payloads.schema.json');

describe('MQTT payload contract', () => {
  it('docs/mqtt-payloads.schema.json is generated from the zod schemas and current (UPDATE_MQTT_SCHEMA=1 rewrites it)', () => {
    const text = mqttPayloadsJsonSchemaText();
    if (process.env.UPDATE_MQTT_SCHEMA === '1') writeFileSync(file, text);
    expect(readFileSync(file, 'utf8'), 'run: UPDATE_MQTT_SCHEMA=1 npx vitest run test/sinks/payloads.test.ts').toBe(text);
  });

  it('documents every topic with its payload, retained flag and required fields', () => {
    const schema = mqttPayloadsJsonSchema() as { $defs: Record<string, { 'x-topic': string; 'x-retained': boolean; required: string[] }> };
    expect(Object.keys(schema.$defs)).toEqual(['status', 'availability', 'telemetry', 'energy', 'enpi', 'demand', 'event']);
    expect(schema.$defs.status).toMatchObject({ 'x-topic': '<root>/status', 'x-retained': true });
    expect(schema.$defs.energy!.required).toEqual(expect.arrayContaining(['account', 'window', 'start_ms', 'end_ms', 'quantity', 'unit', 'coverage']));
    expect(schema.$defs.telemetry!.required).not.toContain('replayed');
  });

  it('finds the schema of every topic the gateway builds', () => {
    const t = createTopics('energy/一号车间/edge-01');
    for (const topic of [t.status(), t.availability('m1'), t.telemetry('m1'), t.energy('line1', '15m'), t.enpi('e1', '1h'), t.demand('line1', '1d'), t.event('reset')]) {
      expect(schemaForTopic(topic), topic).not.toBeNull();
    }
    expect(schemaForTopic(t.telemetry('m1'))).toBe(TelemetryPayload);
  });

  it('accepts a replayed telemetry payload with its origin and refuses unknown fields', () => {
    const base = { kind: 'telemetry', device: 'm1', model: 'eastron-sdm630', ts_ms: 1, values: { active_power_total: { value: 1.5, unit: 'W', quality: 'good' } } };
    expect(TelemetryPayload.safeParse({ ...base, site: 'a', gateway: 'b', replayed: true }).success).toBe(true);
    expect(TelemetryPayload.safeParse(base).success).toBe(true);
    expect(TelemetryPayload.safeParse({ ...base, extra: 1 }).success).toBe(false);
  });
});

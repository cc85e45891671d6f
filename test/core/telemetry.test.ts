// A device poll → the telemetry record MQTT and InfluxDB receive.
import { describe, expect, it } from 'vitest';
import { telemetryFromPoll } from '../../src/core/telemetry.js';
import { TelemetryPayload } from '../../src/sinks/mqtt/payloads.js';

describe('telemetryFromPoll', () => {
  it('carries value, unit, quality, the source timestamp and, where the source gave one, the status name', () => {
    const record = telemetryFromPoll({
      device: 'press-1', tsMs: 1_000,
      values: {
        active_power_total: { value: 12_500, unit: 'W', quality: 'good', sourceTsMs: 990 },
        active_energy_export_total: { value: null, unit: 'kWh', quality: 'bad', status: 'BadSensorFailure' },
        frequency: { value: 50, unit: 'Hz', quality: 'good' },
      },
    }, 'opc-34100-energy-profile-e2');
    expect(record).toEqual({
      kind: 'telemetry', device: 'press-1', model: 'opc-34100-energy-profile-e2', ts_ms: 1_000,
      values: {
        active_power_total: { value: 12_500, unit: 'W', quality: 'good', source_ts_ms: 990 },
        active_energy_export_total: { value: null, unit: 'kWh', quality: 'bad', status: 'BadSensorFailure' },
        frequency: { value: 50, unit: 'Hz', quality: 'good' },
      },
    });
    // What MQTT publishes (the record plus site and gateway) fits the payload contract.
    expect(TelemetryPayload.safeParse({ ...record, site: 'plant-a', gateway: 'edge-01' }).success).toBe(true);
  });
});

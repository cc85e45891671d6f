import type { DevicePoll, Quality } from './sample.js';

export interface TelemetryValue {
  value: number | string | boolean | null;
  unit: string;
  quality: Quality;
  source_ts_ms?: number;
}

/** One device poll as it leaves the gateway: MQTT telemetry and the Influx `reading` row. */
export interface TelemetryRecord {
  kind: 'telemetry';
  device: string;
  model: string | null;
  ts_ms: number;
  values: Record<string, TelemetryValue>;
}

export function telemetryFromPoll(poll: DevicePoll, model: string | null): TelemetryRecord {
  const values: Record<string, TelemetryValue> = {};
  // for…in rather than Object.entries: no [key, value] array per value, same order.
  for (const id in poll.values) {
    const v = poll.values[id]!;
    values[id] = v.sourceTsMs === undefined
      ? { value: v.value, unit: v.unit, quality: v.quality }
      : { value: v.value, unit: v.unit, quality: v.quality, source_ts_ms: v.sourceTsMs };
  }
  return { kind: 'telemetry', device: poll.device, model, ts_ms: poll.tsMs, values };
}

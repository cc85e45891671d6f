import type { DevicePoll, Quality } from './sample.js';

export interface TelemetryValue {
  value: number | string | boolean | null;
  unit: string;
  quality: Quality;
  source_ts_ms?: number;
  /** Why a value is not good, in the source's words (an OPC UA status name such as BadNoMatch). */
  status?: string;
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
    const out: TelemetryValue = v.sourceTsMs === undefined
      ? { value: v.value, unit: v.unit, quality: v.quality }
      : { value: v.value, unit: v.unit, quality: v.quality, source_ts_ms: v.sourceTsMs };
    if (v.status !== undefined) out.status = v.status;
    values[id] = out;
  }
  return { kind: 'telemetry', device: poll.device, model, ts_ms: poll.tsMs, values };
}

// Inline config points → OpcuaDeviceSpec, for the composition root. Profiles with
// `protocol: opcua` resolve to the same point shape (id, node_id, unit, counter).
import type { OpcuaDeadband } from '../../config/opcua.js';
import type { OpcuaDeviceSpec, OpcuaPointSpec } from './points.js';

/** The fields of a parsed inline point this adapter reads (durations already in ms). */
export interface OpcuaInlinePoint {
  id: string;
  unit: string;
  node_id?: string | undefined;
  mode?: 'subscribe' | 'poll' | undefined;
  counter?: { max?: number | undefined } | undefined;
  sampling_interval?: number | undefined;
  queue_size?: number | undefined;
  deadband?: OpcuaDeadband | undefined;
}

export interface OpcuaSpecProblem {
  /** Index of the point in the device's `points`. */
  point: number;
  message: string;
}

export function opcuaDeviceSpec(
  device: { id: string; poll_interval: number; points?: OpcuaInlinePoint[] | undefined },
): { spec: OpcuaDeviceSpec; problems: OpcuaSpecProblem[] } {
  const problems: OpcuaSpecProblem[] = [];
  const points: OpcuaPointSpec[] = [];
  (device.points ?? []).forEach((p, i) => {
    if (!p.node_id) {
      problems.push({ point: i, message: 'a point on an opcua bus needs node_id (e.g. "ns=3;s=Line1.GoodParts")' });
      return;
    }
    points.push({
      id: p.id,
      node_id: p.node_id,
      unit: p.unit,
      ...(p.mode ? { mode: p.mode } : {}),
      ...(p.counter ? { counter: p.counter.max !== undefined ? { max: p.counter.max } : {} } : {}),
      ...(p.sampling_interval !== undefined ? { sampling_interval_ms: p.sampling_interval } : {}),
      ...(p.queue_size !== undefined ? { queue_size: p.queue_size } : {}),
      ...(p.deadband ? { deadband: p.deadband } : {}),
    });
  });
  return { spec: { id: device.id, poll_interval_ms: device.poll_interval, points }, problems };
}

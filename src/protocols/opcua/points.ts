// What the OPC UA source is given per device: the lead resolves inline points and
// profiles (`protocol: opcua`) into this shape.
import type { OpcuaDeadband } from '../../config/opcua.js';

export interface OpcuaPointSpec {
  id: string;
  /** e.g. `ns=3;s=Line1.GoodParts`. */
  node_id: string;
  /** Canonical unit (see core/units.ts). */
  unit: string;
  /** subscribe (default) or poll. */
  mode?: 'subscribe' | 'poll';
  counter?: { max?: number };
  sampling_interval_ms?: number;
  queue_size?: number;
  deadband?: OpcuaDeadband;
}

export interface OpcuaDeviceSpec {
  id: string;
  points: OpcuaPointSpec[];
  /** Publishing interval of subscribed points (unless the bus sets one) and read period of polled points. */
  poll_interval_ms: number;
}

export interface PointRef {
  device: string;
  point: OpcuaPointSpec;
  pollIntervalMs: number;
  /** `device/point`, unique within a source. */
  key: string;
}

export function pointRefs(devices: OpcuaDeviceSpec[]): PointRef[] {
  return devices.flatMap((d) => d.points.map((point) => ({
    device: d.id, point, pollIntervalMs: d.poll_interval_ms, key: `${d.id}/${point.id}`,
  })));
}

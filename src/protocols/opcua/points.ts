// What the OPC UA source is given per device: the lead resolves inline points and
// profiles (`protocol: opcua`) into this shape.
import type { OpcuaDeadband } from '../../config/opcua.js';

/** Where a browse-path step's browse name lives: a namespace URI, or an index fixed in the device config. */
export type NamespaceRef = { uri: string } | { index: number };

export interface BrowseTarget {
  /** Node id of the start object (`ns=` or `nsu=` form). */
  root: string;
  steps: Array<{ namespace: NamespaceRef; name: string }>;
}

export interface OpcuaPointSpec {
  id: string;
  /**
   * e.g. `ns=3;s=Line1.GoodParts`, or `nsu=<uri>;s=…` (resolved against the server's
   * namespace array per session). For a browse-path point: a readable label
   * `<root>/<path>` until the session has translated the path.
   */
  node_id: string;
  /** Set for profile points addressed relative to the device root. */
  browse_path?: BrowseTarget;
  /** Published = value × scale + offset (profiles: W·h → kWh). */
  scale?: number;
  offset?: number;
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

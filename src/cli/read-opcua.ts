// `energy-gateway read` for a device on an OPC UA bus: one session, the device's points
// (profile and inline) resolved and subscribed or polled exactly as `run` does, the first
// value of every point printed, then the session closed.
import type { Logger } from 'pino';
import type { OpcuaBusConfig } from '../config/opcua.js';
import type { DeviceConfig, RootConfig } from '../config/schema.js';
import type { PointValue } from '../core/sample.js';
import type { Catalogue } from '../profiles/catalogue.js';
import { resolveOpcuaDevice } from '../protocols/opcua/device.js';
import { UsageError } from './command.js';

export interface OpcuaRead {
  values: Record<string, PointValue>;
  /** Points no value arrived for before the deadline. */
  missing: string[];
  /** Why nothing could be read (connection, certificate), when that is the case. */
  problem?: string;
}

/** How long to wait for the first value of every point (subscriptions publish at their interval). */
function deadlineMs(bus: OpcuaBusConfig, pollIntervalMs: number): number {
  return Math.max(10_000, bus.timeout * 3, pollIntervalMs * 3);
}

export async function readOpcuaDevice(
  config: RootConfig, catalogue: Catalogue, bus: OpcuaBusConfig, entry: DeviceConfig, log: Logger, configPath: string,
): Promise<OpcuaRead> {
  const index = config.devices.indexOf(entry);
  const { spec, problems } = resolveOpcuaDevice({ ...entry, enabled: true }, index, catalogue);
  if (!spec) throw new UsageError(problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('\n'));
  if (spec.points.length === 0) throw new UsageError(`device "${entry.id}" has nothing to read`);

  const values: OpcuaRead['values'] = {};
  let unavailable: string | undefined;
  let wake: () => void = () => undefined;
  const complete = new Promise<void>((resolve) => { wake = resolve; });
  const { createOpcuaSource } = await import('../protocols/opcua/source.js');
  const source = createOpcuaSource(bus, [spec], {
    dataDir: config.gateway.data_dir,
    log,
    configPath,
    events: {
      onPoll(poll) {
        for (const [point, value] of Object.entries(poll.values)) values[point] ??= value;
        if (spec.points.every((p) => values[p.id] !== undefined)) wake();
      },
      onAvailability(_device, state, reason) {
        if (state !== 'offline') return;
        unavailable = reason ?? 'offline';
        // A one-shot read does not sit out the reconnect loop: an unreachable server or a
        // refused connection is the answer. A lost connection node-opcua re-establishes.
        if (reason !== 'connection lost') wake();
      },
    },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await source.start();
    await Promise.race([complete, new Promise<void>((resolve) => { timer = setTimeout(resolve, deadlineMs(bus, spec.poll_interval_ms)); })]);
  } finally {
    clearTimeout(timer);
    await source.stop();
  }
  const missing = spec.points.map((p) => p.id).filter((id) => values[id] === undefined);
  const stats = source.stats();
  const read: OpcuaRead = { values, missing };
  if (Object.keys(values).length === 0) read.problem = unavailable ?? (stats.connected ? 'no value arrived in time' : 'could not connect to the server');
  return read;
}

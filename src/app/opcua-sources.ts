import type { Logger } from 'pino';
import type { DeviceConfig, RootConfig } from '../config/schema.js';
import type { OpcuaBusConfig } from '../config/opcua.js';
import type { DevicePoll } from '../core/sample.js';
import type { DriverProfile } from '../profiles/schema.js';
import type { OpcuaDeviceSpec, OpcuaPointSpec } from '../protocols/opcua/points.js';

export interface AcquisitionEvents {
  onPoll(poll: DevicePoll): void;
  onAvailability(device: string, state: 'online' | 'degraded' | 'offline', reason?: string): void;
}

export interface Source {
  stop(): Promise<void>;
}

export type Problem = { path: (string | number)[]; message: string };

/** The OPC UA view of the devices on one bus: their inline points with node ids. */
export function opcuaDeviceSpecs(config: RootConfig, busId: string): { devices: OpcuaDeviceSpec[]; problems: Problem[] } {
  const devices: OpcuaDeviceSpec[] = [];
  const problems: Problem[] = [];
  config.devices.forEach((d: DeviceConfig, i) => {
    if (d.bus !== busId || !d.enabled) return;
    if (d.driver !== undefined) {
      problems.push({ path: ['devices', i, 'driver'], message: 'OPC UA devices take inline points with node_id (Modbus profiles do not apply)' });
    }
    const points: OpcuaPointSpec[] = [];
    (d.points ?? []).forEach((p, j) => {
      if (!p.node_id) {
        problems.push({ path: ['devices', i, 'points', j, 'node_id'], message: 'a point on an OPC UA bus needs a node_id' });
        return;
      }
      const spec: OpcuaPointSpec = { id: p.id, node_id: p.node_id, unit: p.unit };
      if (p.mode) spec.mode = p.mode;
      if (p.counter) spec.counter = p.counter;
      if (p.sampling_interval !== undefined) spec.sampling_interval_ms = p.sampling_interval;
      if (p.queue_size !== undefined) spec.queue_size = p.queue_size;
      if (p.deadband) spec.deadband = p.deadband;
      points.push(spec);
    });
    devices.push({ id: d.id, points, poll_interval_ms: d.poll_interval });
  });
  return { devices, problems };
}

/** Config problems of every OPC UA device, for `check` and start-up. */
export function opcuaProblems(config: RootConfig): Problem[] {
  return config.buses.filter((b) => b.type === 'opcua').flatMap((b) => opcuaDeviceSpecs(config, b.id).problems);
}

/** Starts one OPC UA session per `opcua` bus that has devices. node-opcua loads only if one exists. */
export async function startOpcuaSources(
  config: RootConfig,
  _catalogue: ReadonlyMap<string, DriverProfile>,
  events: AcquisitionEvents,
  log: Logger,
  configPath?: string,
): Promise<Source[]> {
  const buses = config.buses.filter((b): b is OpcuaBusConfig => b.type === 'opcua');
  const wanted = buses.map((bus) => ({ bus, devices: opcuaDeviceSpecs(config, bus.id).devices })).filter((w) => w.devices.length > 0);
  if (wanted.length === 0) return [];
  const { createOpcuaSource } = await import('../protocols/opcua/source.js');
  const sources = wanted.map(({ bus, devices }) => createOpcuaSource(bus, devices, {
    dataDir: config.gateway.data_dir,
    log: log.child({ bus: bus.id }),
    events,
    ...(configPath ? { configPath } : {}),
  }));
  // start() never throws for an unreachable server: it keeps retrying and reports availability.
  await Promise.all(sources.map((s) => s.start()));
  return sources;
}

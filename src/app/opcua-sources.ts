import type { Logger } from 'pino';
import { ConfigError, formatPath } from '../config/errors.js';
import type { DeviceConfig, RootConfig } from '../config/schema.js';
import type { OpcuaBusConfig } from '../config/opcua.js';
import type { DevicePoll } from '../core/sample.js';
import { loadCatalogueSync } from '../profiles/catalogue.js';
import type { OpcuaProfile } from '../profiles/opcua-schema.js';
import type { DriverProfile } from '../profiles/schema.js';
import { resolveOpcuaDevice } from '../protocols/opcua/device.js';
import type { OpcuaDeviceSpec } from '../protocols/opcua/points.js';
import type { OpcuaSourceStats } from '../protocols/opcua/source.js';
import type { MetricsText } from '../http/server.js';

export interface AcquisitionEvents {
  onPoll(poll: DevicePoll): void;
  onAvailability(device: string, state: 'online' | 'degraded' | 'offline', reason?: string): void;
}

export interface Source {
  stop(): Promise<void>;
  stats(): OpcuaSourceStats;
}

export type Problem = { path: (string | number)[]; message: string };

/** The catalogue as start-up hands it over: a Modbus map, with the OPC UA profiles when it is a full Catalogue. */
type CatalogueLike = ReadonlyMap<string, DriverProfile> & { opcua?: ReadonlyMap<string, OpcuaProfile> };

/** The OPC UA view of the devices on one bus: profile points under their root, and inline points. */
export function opcuaDeviceSpecs(config: RootConfig, busId: string, catalogue: CatalogueLike): { devices: OpcuaDeviceSpec[]; problems: Problem[] } {
  const devices: OpcuaDeviceSpec[] = [];
  const problems: Problem[] = [];
  config.devices.forEach((d: DeviceConfig, i) => {
    if (d.bus !== busId || !d.enabled) return;
    const r = resolveOpcuaDevice(d, i, catalogue);
    problems.push(...r.problems);
    if (r.spec) devices.push(r.spec);
  });
  return { devices, problems };
}

/**
 * Config problems of every OPC UA device, for `check` and start-up; also a Modbus device
 * naming an OPC UA profile, which the Modbus side only knows as an unknown driver.
 */
export function opcuaProblems(config: RootConfig, catalogue: CatalogueLike = loadCatalogueSync()): Problem[] {
  const problems = config.buses.filter((b) => b.type === 'opcua').flatMap((b) => opcuaDeviceSpecs(config, b.id, catalogue).problems);
  const modbusBuses = new Set(config.buses.filter((b) => b.type !== 'opcua').map((b) => b.id));
  config.devices.forEach((d, i) => {
    if (!modbusBuses.has(d.bus)) return;
    for (const key of ['root', 'namespaces'] as const) {
      if (d[key] !== undefined) problems.push({ path: ['devices', i, key], message: `${key} only applies to devices on an OPC UA bus` });
    }
    if (d.driver === undefined || !catalogue.opcua?.has(d.driver)) return;
    problems.push({ path: ['devices', i, 'driver'], message: `"${d.driver}" is an OPC UA profile (protocol: opcua); a device on Modbus bus "${d.bus}" needs a Modbus profile` });
  });
  return problems;
}

/** Starts one OPC UA session per `opcua` bus that has devices. node-opcua loads only if one exists. */
export async function startOpcuaSources(
  config: RootConfig,
  catalogue: CatalogueLike,
  events: AcquisitionEvents,
  log: Logger,
  configPath?: string,
): Promise<Source[]> {
  const buses = config.buses.filter((b): b is OpcuaBusConfig => b.type === 'opcua');
  const resolved = buses.map((bus) => ({ bus, ...opcuaDeviceSpecs(config, bus.id, catalogue) }));
  // `check` reports these with their lines; a gateway started around it must not drop a device quietly.
  const problems = resolved.flatMap((r) => r.problems);
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => ({ file: configPath ?? '(config)', line: 0, path: formatPath(p.path), message: p.message })));
  }
  const wanted = resolved.filter((w) => w.devices.length > 0);
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

/** Each OPC UA session's state and counters for /metrics, labelled by bus. */
export function opcuaMetrics(m: MetricsText, sources: readonly Source[]): void {
  if (sources.length === 0) return;
  const stats = sources.map((s) => s.stats());
  const per = (pick: (st: OpcuaSourceStats) => number) => stats.map((st) => ({ labels: { bus: st.bus }, value: pick(st) }));
  m.add('energy_gateway_opcua_connected', 'gauge', '1 while the OPC UA session is connected', per((st) => (st.connected ? 1 : 0)));
  m.add('energy_gateway_opcua_sessions_created_total', 'counter', 'OPC UA sessions created (a rebuilt session counts again)', per((st) => st.sessions_created));
  m.add('energy_gateway_opcua_connect_failures_total', 'counter', 'OPC UA connection attempts that failed (refused login, untrusted certificate, unreachable)', per((st) => st.connect_failures));
  m.add('energy_gateway_opcua_reconnects_total', 'counter', 'OPC UA connections re-established with the session kept', per((st) => st.reconnects));
  m.add('energy_gateway_opcua_watchdog_trips_total', 'counter', 'OPC UA sessions rebuilt because no data or keep-alive came in time', per((st) => st.watchdog_trips));
  m.add('energy_gateway_opcua_monitored_items', 'gauge', 'OPC UA monitored items on the current session', per((st) => st.monitored_items));
  m.add('energy_gateway_opcua_notifications_total', 'counter', 'OPC UA data change notifications received', per((st) => st.notifications));
  m.add('energy_gateway_opcua_bad_values_total', 'counter', 'OPC UA values received with a status that is not good', per((st) => st.bad_values));
  m.add('energy_gateway_opcua_bad_points', 'gauge', 'Points whose node is currently bad or unresolved', per((st) => st.bad_points.length));
  m.add('energy_gateway_opcua_last_data_age_seconds', 'gauge', 'Time since the last value from the server (-1 before the first)', per((st) => (st.last_data_age_ms === null ? -1 : st.last_data_age_ms / 1000)));
}

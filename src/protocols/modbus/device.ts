import type { DeviceConfig, InlinePointConfig, ModbusBusConfig, RootConfig } from '../../config/schema.js';
import { planProfile, type PollClass } from '../../profiles/planner.js';
import { DriverProfile, ProfilePoint, resolvePoint, type ModbusPoint, type ProfileSetting } from '../../profiles/schema.js';

/** A device ready to poll: its profile resolved, its reads planned. */
export interface ModbusDevice {
  id: string;
  busId: string;
  unitId: number;
  model: string | null;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  settings: Record<string, number>;
  source: { points: ModbusPoint[]; settings: Record<string, ProfileSetting> };
  classes: PollClass[];
}

export type Problem = { path: (string | number)[]; message: string };

/** Builds the pollable device from its config and the driver catalogue; problems are config problems. */
export function resolveModbusDevice(
  device: DeviceConfig,
  index: number,
  bus: ModbusBusConfig,
  catalogue: ReadonlyMap<string, DriverProfile>,
): { device?: ModbusDevice; problems: Problem[] } {
  const problems: Problem[] = [];
  let points: ModbusPoint[] = [];
  let settings: Record<string, ProfileSetting> = {};
  let model: string | null = device.model ?? null;
  let profile: DriverProfile | undefined;
  if (device.driver !== undefined) {
    profile = catalogue.get(device.driver);
    if (!profile) {
      const near = [...catalogue.keys()].filter((k) => k.split('-')[0] === device.driver!.split('-')[0]);
      problems.push({ path: ['devices', index, 'driver'], message: `unknown driver "${device.driver}"${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}` });
    } else {
      points = [...profile.points];
      settings = profile.settings;
      model ??= profile.id;
    }
  }
  (device.points ?? []).forEach((p, j) => {
    const parsed = ProfilePoint.safeParse(inlineToProfilePoint(p));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push({ path: ['devices', index, 'points', j, ...issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s))], message: issue.message });
      return;
    }
    if (p.address === undefined) {
      problems.push({ path: ['devices', index, 'points', j, 'address'], message: 'a point on a Modbus bus needs an address' });
      return;
    }
    points = points.filter((q) => q.id !== p.id);
    points.push(resolvePoint(parsed.data, profile?.defaults ?? {}));
  });
  if (device.only_points) {
    const keep = new Set(device.only_points);
    const needed = new Set(points.filter((p) => keep.has(p.id)).flatMap((p) => [...p.multiply_by, ...(p.scale_register ? [p.scale_register] : [])]));
    device.only_points.forEach((id, j) => {
      if (!points.some((p) => p.id === id)) problems.push({ path: ['devices', index, 'only_points', j], message: `no point "${id}" in driver ${device.driver ?? ''}` });
    });
    points = points.filter((p) => keep.has(p.id) || needed.has(p.id));
  }
  if (problems.length > 0) return { problems };
  const intervalMs = device.poll_interval;
  const classes = planProfile(
    { points, read: profile?.read ?? {}, unreadable: profile?.unreadable ?? [] },
    intervalMs,
  );
  return {
    problems,
    device: {
      id: device.id,
      busId: bus.id,
      unitId: device.unit_id,
      model,
      intervalMs,
      timeoutMs: device.timeout ?? bus.timeout,
      retries: device.retries,
      settings: device.settings ?? {},
      source: { points, settings },
      classes,
    },
  };
}

function inlineToProfilePoint(p: InlinePointConfig): unknown {
  const { node_id: _nodeId, ...rest } = p;
  return { ...rest, address: p.address ?? 0 };
}


/** Resolves every Modbus device against the catalogue, collecting every problem. */
export function resolveModbusDevices(config: RootConfig, catalogue: ReadonlyMap<string, DriverProfile>): { byBus: Map<string, ModbusDevice[]>; problems: Problem[] } {
  const buses = new Map(config.buses.map((b) => [b.id, b]));
  const byBus = new Map<string, ModbusDevice[]>();
  const problems: Problem[] = [];
  config.devices.forEach((d, i) => {
    const bus = buses.get(d.bus);
    if (!bus || bus.type === 'opcua' || !d.enabled) return;
    const r = resolveModbusDevice(d, i, bus, catalogue);
    problems.push(...r.problems);
    if (r.device) byBus.set(bus.id, [...(byBus.get(bus.id) ?? []), r.device]);
  });
  return { byBus, problems };
}

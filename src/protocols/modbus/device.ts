import type { DeviceConfig, InlinePointConfig, ModbusBusConfig, RootConfig } from '../../config/schema.js';
import { canonicalUnit } from '../../profiles/canonical.js';
import { planProfile, PROTOCOL_MAX_REGISTERS, type PlanOptions, type PollClass } from '../../profiles/planner.js';
import type { RequestOptions } from './bus.js';
import { DriverProfile, pointProblems, pointWidth, ProfilePoint, resolvePoint, type ModbusPoint, type ProfileSetting } from '../../profiles/schema.js';

/** A device ready to poll: its profile resolved, its reads planned. */
export interface ModbusDevice {
  id: string;
  busId: string;
  unitId: number;
  model: string | null;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  pauseAfterConnectMs: number;
  pauseBetweenRequestsMs: number;
  /** The three above, as the bus takes them (built once, not per request). */
  requestOptions: RequestOptions;
  settings: Record<string, number>;
  source: { points: ModbusPoint[]; settings: Record<string, ProfileSetting> };
  classes: PollClass[];
}

export type Problem = { path: (string | number)[]; message: string };
/** Legal but usually wrong; `also` lists the other keys it rests on. */
export type Warning = Problem & { also?: (string | number)[][] };

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
  /** Inline points by id: their index in the device's `points`. */
  const inlineIndex = new Map<string, number>();
  if (device.driver !== undefined) {
    profile = catalogue.get(device.driver);
    if (!profile && (catalogue as { opcua?: ReadonlyMap<string, unknown> }).opcua?.has(device.driver)) {
      // An OPC UA profile on a Modbus bus: the OPC UA side reports it, with the reason.
    } else if (!profile) {
      problems.push(unknownDriver(device.driver, index, catalogue));
    } else {
      points = [...profile.points];
      settings = profile.settings;
      model ??= profile.id;
    }
  }
  /** Inline points that are unusable on their own (already reported). */
  let unusable = 0;
  (device.points ?? []).forEach((p, j) => {
    if (inlineIndex.has(p.id)) {
      problems.push({ path: ['devices', index, 'points', j, 'id'], message: `duplicate point id "${p.id}" (also points[${inlineIndex.get(p.id)!}])` });
      return;
    }
    const parsed = ProfilePoint.safeParse(inlineToProfilePoint(p));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push({ path: ['devices', index, 'points', j, ...issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s))], message: issue.message });
      unusable += 1;
      inlineIndex.set(p.id, j);
      return;
    }
    if (p.address === undefined) {
      problems.push({ path: ['devices', index, 'points', j, 'address'], message: 'a point on a Modbus bus needs an address' });
      unusable += 1;
      inlineIndex.set(p.id, j);
      return;
    }
    if (parsed.data.interval !== undefined && parsed.data.interval < device.poll_interval) {
      problems.push({ path: ['devices', index, 'points', j, 'interval'], message: `shorter than the device's poll_interval (${device.poll_interval} ms)` });
    }
    points = points.filter((q) => q.id !== p.id);
    points.push(resolvePoint(parsed.data, profile?.defaults ?? {}));
    inlineIndex.set(p.id, j);
  });
  // With some inline points unusable, references to them cannot be judged: those are left out.
  const merged = mergedPointProblems(points, inlineIndex, settings, device, index, profile)
    .filter((q) => unusable === 0 || !q.path.some((k) => k === 'multiply_by' || k === 'scale_register'));
  problems.push(...merged);
  if (device.only_points) {
    const keep = new Set(device.only_points);
    const needed = new Set(points.filter((p) => keep.has(p.id)).flatMap((p) => [...p.multiply_by, ...(p.scale_register ? [p.scale_register] : [])]));
    device.only_points.forEach((id, j) => {
      if (!points.some((p) => p.id === id)) problems.push({ path: ['devices', index, 'only_points', j], message: `no point "${id}" in driver ${device.driver ?? ''}` });
    });
    points = points.filter((p) => keep.has(p.id) || needed.has(p.id));
  }
  if (bus.type !== 'modbus_tcp' && (device.unit_id < 1 || device.unit_id > 247)) {
    // On a serial line 0 is broadcast (nobody answers) and 248..255 are reserved.
    problems.push({ path: ['devices', index, 'unit_id'], message: `unit ids on a serial line (${bus.type}) are 1..247; ${device.unit_id === 0 ? '0 is broadcast, which no device answers' : `${device.unit_id} is reserved`}` });
  }
  points = applyIntervals(points, device, index, problems);
  if (problems.length > 0) return { problems };
  const intervalMs = device.poll_interval;
  const read = profile?.read ?? {};
  const overrides: PlanOptions = {};
  // A device can only make requests smaller than its profile allows, never larger.
  if (device.max_registers !== undefined) overrides.maxRegisters = Math.min(device.max_registers, read.max_registers ?? PROTOCOL_MAX_REGISTERS);
  if (device.max_gap !== undefined) overrides.maxGap = device.max_gap;
  if (device.per_point !== undefined) overrides.perPoint = device.per_point;
  const classes = planProfile({ points, read, unreadable: profile?.unreadable ?? [] }, intervalMs, overrides);
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
      pauseAfterConnectMs: device.pause_after_connect ?? 0,
      pauseBetweenRequestsMs: device.pause_between_requests ?? 0,
      requestOptions: {
        timeoutMs: device.timeout ?? bus.timeout,
        pauseAfterConnectMs: device.pause_after_connect ?? 0,
        pauseBetweenRequestsMs: device.pause_between_requests ?? 0,
      },
      settings: device.settings ?? {},
      source: { points, settings },
      classes,
    },
  };
}

/**
 * Poll classes from the device config: `counter_interval` for every counter, then
 * `point_intervals` by point id. A class slower than the device is fine; a faster one
 * would poll a point more often than the device itself, which is almost surely a typo.
 */
function applyIntervals(points: ModbusPoint[], device: DeviceConfig, index: number, problems: Problem[]): ModbusPoint[] {
  const byPoint = device.point_intervals ?? {};
  for (const id of Object.keys(byPoint)) {
    if (!points.some((p) => p.id === id)) problems.push({ path: ['devices', index, 'point_intervals', id], message: `no point "${id}" on this device` });
  }
  const check = (ms: number, path: (string | number)[]) => {
    if (ms < device.poll_interval) problems.push({ path: ['devices', index, ...path], message: `shorter than the device's poll_interval (${device.poll_interval} ms)` });
  };
  if (device.counter_interval !== undefined) check(device.counter_interval, ['counter_interval']);
  for (const [id, ms] of Object.entries(byPoint)) check(ms, ['point_intervals', id]);
  return points.map((p) => {
    const ms = byPoint[p.id] ?? (p.counter && device.counter_interval !== undefined ? device.counter_interval : undefined);
    return ms === undefined ? p : { ...p, interval: ms };
  });
}

/**
 * The checks a profile gets at load time, on the device's points as merged (profile points,
 * overridden or added to by inline ones): a bit point without its bit, a string without its
 * length, a coil that is not bool, overlapping registers, a canonical id in another unit, a
 * ratio that is neither a point nor a setting (device settings count). Problems point at the
 * inline point at fault.
 */
function mergedPointProblems(
  points: readonly ModbusPoint[],
  inlineIndex: ReadonlyMap<string, number>,
  profileSettings: Readonly<Record<string, ProfileSetting>>,
  device: DeviceConfig,
  index: number,
  profile: DriverProfile | undefined,
): Problem[] {
  const settings: Record<string, ProfileSetting> = { ...profileSettings };
  for (const [name, value] of Object.entries(device.settings ?? {})) settings[name] ??= { default: value };
  const out: Problem[] = [];
  // A device may lower its profile's request size: a point wider than that cannot be read.
  const profileMax = profile?.read?.max_registers;
  const maxRegisters = device.max_registers === undefined ? profileMax : Math.min(device.max_registers, profileMax ?? device.max_registers);
  for (const problem of pointProblems(points, settings, profile?.unreadable ?? [], maxRegisters === undefined ? {} : { max_registers: maxRegisters })) {
    const [section, k, ...rest] = problem.path;
    if (section === 'points' && typeof k === 'number') {
      const point = points[k]!;
      const j = inlineIndex.get(point.id);
      if (j !== undefined) out.push({ path: ['devices', index, 'points', j, ...rest], message: problem.message });
      // A profile point in conflict with an inline one: the profile is fine on its own.
      else out.push({ path: ['devices', index, 'points'], message: `${point.id} (from ${device.driver ?? 'the profile'}): ${problem.message}` });
    } else if (section === 'settings' && typeof k === 'string' && !(k in profileSettings)) {
      out.push({ path: ['devices', index, 'settings', k], message: problem.message });
    }
  }
  return out;
}

function inlineToProfilePoint(p: InlinePointConfig): unknown {
  const { node_id: _nodeId, ...rest } = p;
  // A canonical id without a unit is published in its canonical unit (voltage_l1 in V).
  const unit = p.unit === '' ? canonicalUnit(p.id)?.unit ?? '' : p.unit;
  return { ...rest, unit, address: p.address ?? 0 };
}


function unknownDriver(driver: string, index: number, catalogue: ReadonlyMap<string, DriverProfile>): Problem {
  const near = [...catalogue.keys()].filter((k) => k.split('-')[0] === driver.split('-')[0]);
  return { path: ['devices', index, 'driver'], message: `unknown driver "${driver}"${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}` };
}

/** Resolves every Modbus device against the catalogue, collecting every problem and warning. */
export function resolveModbusDevices(config: RootConfig, catalogue: ReadonlyMap<string, DriverProfile>): { byBus: Map<string, ModbusDevice[]>; problems: Problem[]; warnings: Warning[] } {
  const buses = new Map(config.buses.map((b) => [b.id, b]));
  const byBus = new Map<string, ModbusDevice[]>();
  const problems: Problem[] = [];
  /** Resolved devices by their index in the config. */
  const resolved = new Map<number, ModbusDevice>();
  const opcua = (catalogue as { opcua?: ReadonlyMap<string, unknown> }).opcua;
  config.devices.forEach((d, i) => {
    const bus = buses.get(d.bus);
    // On a bus the config does not have (reported on its own), whatever the protocol: a driver
    // that exists nowhere is a second problem of the same pass, not one for the next.
    if (!bus && d.enabled && d.bus !== '' && d.driver !== undefined && !catalogue.has(d.driver) && !opcua?.has(d.driver)) {
      problems.push(unknownDriver(d.driver, i, catalogue));
    }
    if (!bus || bus.type === 'opcua' || !d.enabled) return;
    const r = resolveModbusDevice(d, i, bus, catalogue);
    problems.push(...r.problems);
    if (r.device) {
      byBus.set(bus.id, [...(byBus.get(bus.id) ?? []), r.device]);
      resolved.set(i, r.device);
    }
  });
  return { byBus, problems, warnings: sharedUnitWarnings(config, resolved) };
}

/**
 * Two enabled devices at one unit id of one bus (a bus is one physical line: crossCheck refuses
 * two entries for one port or host:port). Usually a copy-paste that reads one meter twice and,
 * with both in accounts, counts its energy twice; but a multi-circuit meter answers for several
 * circuits at one unit id, each at its own registers, so it stays a warning. What the two read
 * says which case is likelier.
 */
function sharedUnitWarnings(config: RootConfig, resolved: ReadonlyMap<number, ModbusDevice>): Warning[] {
  const modbusBuses = new Set(config.buses.filter((b) => b.type !== 'opcua').map((b) => b.id));
  const metered = new Set(config.accounts.flatMap((a) => a.meters.map((m) => m.device)));
  const first = new Map<string, number>();
  const warnings: Warning[] = [];
  config.devices.forEach((d, j) => {
    if (!d.enabled || !modbusBuses.has(d.bus)) return;
    const key = `${d.bus}\u0000${d.unit_id}`;
    const i = first.get(key);
    if (i === undefined) {
      first.set(key, j);
      return;
    }
    const other = config.devices[i]!;
    const a = resolved.get(i);
    const b = resolved.get(j);
    const shared = a && b ? sharedRegisters(a, b) : undefined;
    const twice = `reads one meter twice and, ${metered.has(d.id) && metered.has(other.id) ? 'with both in accounts' : 'if both are put in accounts'}, counts its energy twice`;
    const why = shared === undefined ? `: unless it is a multi-circuit meter read at different registers, this ${twice}`
      : shared.same ? `, and both read the same registers: this ${twice}`
        : shared.points.length > 0 ? `, and both read ${listed(shared.points)} at the same registers: if this is a copy-paste, it ${twice} (a multi-circuit meter has one device per circuit, at different registers)`
          : `; they read different registers, as the circuits of a multi-circuit meter do; if this is a copy-paste instead, it ${twice}`;
    warnings.push({
      path: ['devices', j, 'unit_id'],
      message: `unit ${d.unit_id} on bus "${d.bus}" is also device "${other.id}" (devices[${i}])${why}`,
      // What the warning rests on: a config patched there to get this far would warn about the patch.
      also: [['devices', i, 'unit_id'], ['devices', i, 'enabled'], ['devices', j, 'enabled']],
    });
  });
  return warnings;
}

/** A few ids, and how many more: a warning stays one readable line. */
function listed(ids: readonly string[]): string {
  return ids.length <= 3 ? ids.join(', ') : `${ids.slice(0, 3).join(', ')} and ${ids.length - 3} more`;
}

/**
 * What two devices read in common: the points of `b` at registers `a` reads too, and whether
 * they read exactly the same registers. Internal, ratio and scale registers are left out: the
 * circuits of one meter share them.
 */
function sharedRegisters(a: ModbusDevice, b: ModbusDevice): { points: string[]; same: boolean } {
  const values = (d: ModbusDevice) => {
    const helpers = new Set(d.source.points.flatMap((p) => [...p.multiply_by, ...(p.scale_register ? [p.scale_register] : [])]));
    return d.source.points.filter((p) => !p.internal && !helpers.has(p.id));
  };
  const registers = (p: ModbusPoint) => Array.from({ length: pointWidth(p) }, (_, k) => `${p.function}:${p.address + k}`);
  const ra = new Set(values(a).flatMap(registers));
  const rb = new Set(values(b).flatMap(registers));
  const points = values(b).filter((p) => registers(p).some((r) => ra.has(r))).map((p) => p.id);
  return { points, same: ra.size > 0 && ra.size === rb.size && [...rb].every((r) => ra.has(r)) };
}

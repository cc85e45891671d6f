import { pointWidth, MODBUS_FUNCTIONS, type AddressRange, type DriverProfile, type ModbusFunction, type ModbusPoint } from './schema.js';

/** One Modbus read: `count` registers (or bits) from `address`, covering `points`. */
export interface ReadRequest {
  function: ModbusFunction;
  address: number;
  count: number;
  points: ModbusPoint[];
}

export interface PlanOptions {
  /** Registers per request, capped at the protocol's 125. */
  maxRegisters?: number;
  /** Coils/discrete inputs per request, capped at the protocol's 2000. */
  maxBits?: number;
  /** Unused registers (or bits) a request may read to join two runs of points. */
  maxGap?: number;
  /** Addresses never to read, not even inside a gap. */
  unreadable?: readonly AddressRange[];
  /** One request per point, for devices that reject block reads. */
  perPoint?: boolean;
}

export const PROTOCOL_MAX_REGISTERS = 125;
export const PROTOCOL_MAX_BITS = 2000;

function isBitFunction(fn: ModbusFunction): boolean {
  return fn === 'coil' || fn === 'discrete';
}

function touchesUnreadable(fn: ModbusFunction, from: number, to: number, unreadable: readonly AddressRange[]): boolean {
  return from <= to && unreadable.some((r) => r.function === fn && r.from <= to && from <= r.to);
}

/**
 * Coalesces points into the fewest reads: per function, points sorted by address are joined
 * while the request stays within the size limit, the hole between two points is at most
 * `maxGap`, and no unreadable address falls inside it. Extending greedily is optimal for
 * this one-dimensional packing. A point that itself lies in an unreadable range is still
 * read (someone asked for it), alone.
 */
export function planReads(points: readonly ModbusPoint[], options: PlanOptions = {}): ReadRequest[] {
  const maxRegisters = Math.max(1, Math.min(options.maxRegisters ?? PROTOCOL_MAX_REGISTERS, PROTOCOL_MAX_REGISTERS));
  const maxBits = Math.max(1, Math.min(options.maxBits ?? PROTOCOL_MAX_BITS, PROTOCOL_MAX_BITS));
  const maxGap = Math.max(0, options.maxGap ?? 0);
  const unreadable = options.unreadable ?? [];
  const requests: ReadRequest[] = [];

  for (const fn of MODBUS_FUNCTIONS) {
    const limit = isBitFunction(fn) ? maxBits : maxRegisters;
    const sorted = points
      .filter((p) => p.function === fn)
      .sort((a, b) => a.address - b.address || pointWidth(b) - pointWidth(a));
    let current: ReadRequest | undefined;
    for (const p of sorted) {
      const end = p.address + pointWidth(p);
      const alone = options.perPoint === true || touchesUnreadable(fn, p.address, end - 1, unreadable);
      if (current && !alone) {
        const currentEnd = current.address + current.count;
        const newEnd = Math.max(currentEnd, end);
        const gap = p.address - currentEnd;
        const fits = newEnd - current.address <= limit
          && gap <= maxGap
          && !touchesUnreadable(fn, currentEnd, p.address - 1, unreadable);
        if (fits) {
          current.count = newEnd - current.address;
          current.points.push(p);
          continue;
        }
      }
      current = { function: fn, address: p.address, count: end - p.address, points: [p] };
      requests.push(current);
      // A lone point never absorbs its neighbours either.
      if (alone) current = undefined;
    }
  }
  return requests;
}

/** Read limits a profile declares, as planner options. */
export function profilePlanOptions(profile: Pick<DriverProfile, 'read' | 'unreadable'>): PlanOptions {
  const options: PlanOptions = { unreadable: profile.unreadable };
  if (profile.read.max_registers !== undefined) options.maxRegisters = profile.read.max_registers;
  if (profile.read.max_bits !== undefined) options.maxBits = profile.read.max_bits;
  if (profile.read.max_gap !== undefined) options.maxGap = profile.read.max_gap;
  if (profile.read.per_point !== undefined) options.perPoint = profile.read.per_point;
  return options;
}

/** The reads one poll class needs, every `intervalMs`. */
export interface PollClass {
  intervalMs: number;
  /** Published points of this class. */
  points: ModbusPoint[];
  requests: ReadRequest[];
}

/**
 * Groups points by poll class (their `interval`, else the device's) and plans each class.
 * A class also reads the ratio and scale registers its points depend on, so every poll
 * yields complete primary-side values without relying on an older reading.
 */
export function planPollClasses(
  points: readonly ModbusPoint[],
  deviceIntervalMs: number,
  options: PlanOptions = {},
): PollClass[] {
  const byId = new Map(points.map((p) => [p.id, p]));
  const classes = new Map<number, ModbusPoint[]>();
  for (const p of points) {
    // Internal points are read on behalf of the points that need them.
    if (p.internal) continue;
    const intervalMs = p.interval ?? deviceIntervalMs;
    const list = classes.get(intervalMs) ?? [];
    list.push(p);
    classes.set(intervalMs, list);
  }
  // Internal points nobody depends on are still read, at their own interval.
  const needed = new Set(points.flatMap((p) => [...p.multiply_by, ...(p.scale_register ? [p.scale_register] : [])]));
  for (const p of points) {
    if (!p.internal || needed.has(p.id)) continue;
    const intervalMs = p.interval ?? deviceIntervalMs;
    classes.set(intervalMs, [...(classes.get(intervalMs) ?? []), p]);
  }

  return [...classes.entries()]
    .sort(([a], [b]) => a - b)
    .map(([intervalMs, published]) => {
      const toRead = new Map(published.map((p) => [p.id, p]));
      for (const p of published) {
        for (const dep of [...p.multiply_by, ...(p.scale_register ? [p.scale_register] : [])]) {
          const source = byId.get(dep);
          if (source) toRead.set(source.id, source);
        }
      }
      return { intervalMs, points: published, requests: planReads([...toRead.values()], options) };
    });
}

/** Every read a profile needs per poll class, honouring its read limits. */
export function planProfile(
  profile: Pick<DriverProfile, 'points' | 'read' | 'unreadable'>,
  deviceIntervalMs: number,
  overrides: PlanOptions = {},
): PollClass[] {
  return planPollClasses(profile.points, deviceIntervalMs, { ...profilePlanOptions(profile), ...overrides });
}

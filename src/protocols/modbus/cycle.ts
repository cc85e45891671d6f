import type { ModbusBusConfig } from '../../config/schema.js';
import type { ReadRequest } from '../../profiles/planner.js';
import type { ModbusDevice } from './device.js';
import { charTimeMs, interFrameDelayMs } from './bus.js';
import { bitsPerChar, rtuReadBytes } from './frames.js';

/**
 * Typical answer time of a Modbus TCP device on a LAN. Real meters and PLCs answer in a
 * few ms to a few tens of ms; the estimate only has to say whether a plan fits.
 */
export const TCP_TYPICAL_MS = 10;
/** Time a serial device takes to start answering (processing, RS-485 turnaround). */
export const RTU_TURNAROUND_MS = 5;
/** Serial speed assumed behind a serial device server when the bus does not say. */
export const DEFAULT_SERVER_BAUD = 9600;

function functionCode(fn: ReadRequest['function']): number {
  return { coil: 1, discrete: 2, holding: 3, input: 4 }[fn];
}

/** Time one request occupies the bus without timeouts: frames on the wire, or typical TCP latency, and the silence before it. */
export function requestMs(bus: ModbusBusConfig, req: Pick<ReadRequest, 'function' | 'count'>): number {
  return exchangeMs(bus, req) + interFrameDelayMs(bus);
}

/** The request and its answer alone: frames on the wire, or typical TCP latency. */
function exchangeMs(bus: ModbusBusConfig, req: Pick<ReadRequest, 'function' | 'count'>): number {
  if (bus.type === 'modbus_tcp') return TCP_TYPICAL_MS;
  // Behind a device server of unknown speed, the usual one.
  const charMs = charTimeMs(bus) || (bitsPerChar() * 1000) / DEFAULT_SERVER_BAUD;
  return charMs * rtuReadBytes(functionCode(req.function), req.count) + RTU_TURNAROUND_MS;
}

/**
 * Requests of one device read one after the other, as in a poll. The bus waits before each
 * request until both silences have passed — the inter-frame delay since the last frame and
 * the device's pause_between_requests since its last answer, which for a device's second
 * request on are the same moment — so the wait is the longer of the two, not their sum.
 */
function sequenceMs(bus: ModbusBusConfig, requests: ReadonlyArray<Pick<ReadRequest, 'function' | 'count'>>, pauseMs: number, first: boolean): number {
  const gap = interFrameDelayMs(bus);
  let ms = 0;
  for (const r of requests) {
    ms += exchangeMs(bus, r) + (first ? gap : Math.max(gap, pauseMs));
    first = false;
  }
  return ms;
}

export interface ClassEstimate {
  intervalMs: number;
  requests: number;
  ms: number;
}

export interface DeviceEstimate {
  device: string;
  unitId: number;
  classes: ClassEstimate[];
}

export interface BusEstimate {
  bus: string;
  /** The shortest poll interval on the bus: every tick must be done within it. */
  fastestIntervalMs: number;
  /** Requests and time of the busiest tick, when every poll class is due at once. */
  worstTickRequests: number;
  worstTickMs: number;
  /** Share of the bus's time the plan needs on average (1 = always busy). */
  utilisation: number;
  /** Whether every tick is done before the next one starts. */
  fits: boolean;
  /**
   * The tick that overruns most, when one does: its time into the cycle of all intervals, its
   * work, and the time to the next tick. Only the busiest tick when every interval divides the
   * others; with 2 s and 3 s classes also a 2 s tick with a 3 s one a second after it.
   */
  tightest: { offsetMs: number; needMs: number; gapMs: number } | null;
  devices: DeviceEstimate[];
}

/** Ticks looked at, at most, when checking a plan tick by tick (one cycle of all its intervals). */
const MAX_TICKS = 100_000;

/**
 * The tick that overruns most, over one cycle of all the intervals (the first MAX_TICKS ticks
 * of a longer one): each tick's work, the classes due at it, against the time to the next tick.
 * Ticks are on the wall clock, so with intervals that do not divide each other some ticks are
 * closer together than the shortest interval.
 */
function tightestTick(workByInterval: ReadonlyMap<number, number>, allDueMs: number): BusEstimate['tightest'] {
  const intervals = [...workByInterval.keys()].sort((a, b) => a - b);
  if (intervals.length === 0) return null;
  let worst: BusEstimate['tightest'] = null;
  let t = 0;
  for (let n = 0; n < MAX_TICKS; n++) {
    let needMs = 0;
    let all = true;
    let next = Number.POSITIVE_INFINITY;
    for (const i of intervals) {
      if (t % i === 0) needMs += workByInterval.get(i)!;
      else all = false;
      next = Math.min(next, (Math.floor(t / i) + 1) * i);
    }
    // At a tick where every class is due, each device reads all of them in one poll.
    if (all) needMs = allDueMs;
    const gapMs = next - t;
    if (needMs > gapMs && (worst === null || needMs - gapMs > worst.needMs - worst.gapMs)) worst = { offsetMs: t, needMs, gapMs };
    t = next;
    if (intervals.every((i) => t % i === 0)) break;
  }
  return worst;
}

/** What a bus's plan costs per cycle, from its request count and frame times. */
export function estimateBus(bus: ModbusBusConfig, devices: readonly ModbusDevice[]): BusEstimate {
  let worstTickRequests = 0;
  let worstTickMs = 0;
  let utilisation = 0;
  let fastestIntervalMs = Number.POSITIVE_INFINITY;
  const workByInterval = new Map<number, number>();
  const perDevice = devices.map((d): DeviceEstimate => {
    const classes = d.classes.map((c): ClassEstimate => {
      const ms = sequenceMs(bus, c.requests, d.pauseBetweenRequestsMs, true);
      worstTickRequests += c.requests.length;
      utilisation += ms / c.intervalMs;
      fastestIntervalMs = Math.min(fastestIntervalMs, c.intervalMs);
      workByInterval.set(c.intervalMs, (workByInterval.get(c.intervalMs) ?? 0) + ms);
      return { intervalMs: c.intervalMs, requests: c.requests.length, ms };
    });
    // In the busiest tick the device's classes are one poll: one sequence of requests.
    worstTickMs += sequenceMs(bus, d.classes.flatMap((c) => c.requests), d.pauseBetweenRequestsMs, true);
    return { device: d.id, unitId: d.unitId, classes };
  });
  if (!Number.isFinite(fastestIntervalMs)) fastestIntervalMs = 0;
  const tightest = tightestTick(workByInterval, worstTickMs);
  return {
    bus: bus.id, fastestIntervalMs, worstTickRequests, worstTickMs, utilisation,
    fits: tightest === null, tightest, devices: perDevice,
  };
}

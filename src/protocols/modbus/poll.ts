import type { PointValue, Quality } from '../../core/sample.js';
import type { PollClass } from '../../profiles/planner.js';
import type { ModbusPoint } from '../../profiles/schema.js';
import type { ModbusReader } from './bus.js';
import type { Decoded } from './decode.js';
import type { ModbusDevice } from './device.js';
import { isRefusal, isRetryable, TransportError } from './errors.js';
import { compilePollPlan, decodeInto, publishValues, splitRequest, type CompiledRequest, type PollPlan } from './plan.js';

/**
 * Compiled plans per device, by the set of due classes (a bit mask of their positions in
 * device.classes): usually one per device, a few with point_intervals.
 */
const plans = new WeakMap<ModbusDevice, Map<number, PollPlan>>();

/**
 * Plans by what determines them (the points read, request by request, and the published
 * points): every meter of a model shares one, so a thousand meters do not hold a thousand
 * copies of the same arrays. Points are told apart by identity; devices of one driver share
 * its point objects.
 */
const shared = new Map<string, PollPlan>();
const pointIds = new WeakMap<object, number>();
let nextPointId = 0;

function identity(p: object): number {
  let id = pointIds.get(p);
  if (id === undefined) {
    id = nextPointId++;
    pointIds.set(p, id);
  }
  return id;
}

function signature(points: readonly ModbusPoint[], classes: readonly PollClass[]): string {
  const parts: string[] = [points.map(identity).join(',')];
  for (const c of classes) {
    for (const r of c.requests) parts.push(`${r.function}:${r.address}:${r.count}:${r.points.map(identity).join(',')}`);
  }
  return parts.join('|');
}

function planFor(device: ModbusDevice, classes: readonly PollClass[]): PollPlan {
  let key = 0;
  for (const c of classes) {
    const i = device.classes.indexOf(c);
    // Classes from elsewhere (or more than fit a mask): compile for this call only.
    if (i < 0 || i > 30) return compilePollPlan(device.source.points, classes);
    key |= 1 << i;
  }
  let byKey = plans.get(device);
  if (!byKey) {
    byKey = new Map();
    plans.set(device, byKey);
  }
  let plan = byKey.get(key);
  if (!plan) {
    const sig = signature(device.source.points, classes);
    plan = shared.get(sig);
    if (!plan) {
      plan = compilePollPlan(device.source.points, classes);
      // Bounded: configs rebuilt over and over (tests, reloads) must not pile plans up.
      if (shared.size >= 1000) shared.clear();
      shared.set(sig, plan);
    }
    byKey.set(key, plan);
  }
  return plan;
}

/**
 * Blocks a device refused with exception 2 that read in pieces (its map has a hole the plan
 * spanned), by device: the pieces are read from then on, not the block asked again first.
 * Per device, as compiled requests are shared by every meter of a model.
 */
const splitBlocks = new WeakMap<ModbusDevice, Map<CompiledRequest, CompiledRequest[]>>();

/** Where readDevice reports the first request the device refused; the caller keeps one per device. */
export interface Refusal {
  error: TransportError | null;
  /**
   * Blocks this poll found refused whole and read in pieces ("input 200+52 (read in 3 pieces)"),
   * each reported once per device: it reads them in pieces from then on. Absent on most polls.
   */
  split?: string[];
}

/**
 * Reads every request of the given poll classes from one device, in plan order. The first
 * request that fails ends the device's turn (it is skipped for the rest of its cycle): the
 * error is thrown and nothing of this poll is published. A request the device refuses
 * (exception 1, 2 or 3: see REFUSAL_EXCEPTIONS) is its answer for that block only: the
 * block's points are published `bad` with the exception as their status, the other blocks
 * are still read, and the first refusal is put in `refusal` (cleared here first). When the
 * device refused every request, the first refusal is thrown: it answers, but only with
 * exceptions, and fails like a device that does.
 */
export async function readDevice(
  reader: ModbusReader,
  device: ModbusDevice,
  classes: readonly PollClass[],
  retries: number = device.retries,
  refusal?: Refusal,
): Promise<Record<string, PointValue>> {
  const plan = planFor(device, classes);
  const poll: PollState = {
    values: new Array<Decoded['value']>(plan.ids.length),
    qualities: new Array<Quality>(plan.ids.length),
    refused: null,
    firstRefusal: null,
    answered: 0,
  };
  let splitNow: string[] | undefined;
  const split = splitBlocks.get(device);
  for (const whole of plan.requests) {
    let pieces = split?.get(whole);
    if (pieces === undefined) {
      const got = await readOrRefusal(reader, device, whole, retries);
      if (!(got instanceof TransportError)) {
        answered(poll, whole, got);
        continue;
      }
      // A block across a hole in the device's map is refused whole (exception 2): its
      // points are read in pieces, this poll and every later one.
      const parts = got.exceptionCode === 2 ? splitRequest(whole) : null;
      if (parts === null || parts.length < 2) {
        refusedBlock(poll, whole, got);
        continue;
      }
      let byBlock = splitBlocks.get(device);
      if (!byBlock) splitBlocks.set(device, (byBlock = new Map()));
      byBlock.set(whole, parts);
      (splitNow ??= []).push(`${whole.request.function} ${whole.request.address}+${whole.request.count} (read in ${parts.length} pieces)`);
      pieces = parts;
    }
    for (const piece of pieces) {
      const got = await readOrRefusal(reader, device, piece, retries);
      if (got instanceof TransportError) refusedBlock(poll, piece, got);
      else answered(poll, piece, got);
    }
  }
  if (refusal) {
    refusal.error = poll.firstRefusal;
    refusal.split = splitNow;
  }
  // A device that refuses everything it is asked has nothing to publish: it fails the poll
  // like a device that answers every request with exception 4, and backs off.
  if (poll.answered === 0 && poll.firstRefusal !== null) throw poll.firstRefusal;
  const out = publishValues(plan, poll.values, poll.qualities, device.source, device.settings);
  const refused = poll.refused;
  if (refused !== null) {
    for (const { id, slot } of plan.publish) {
      const status = refused.get(slot);
      const v = out[id];
      if (status !== undefined && v !== undefined && v.quality === 'bad') v.status = status;
    }
  }
  return out;
}

/** One poll's slots, and what its refused requests left behind. */
interface PollState {
  values: Array<Decoded['value']>;
  qualities: Quality[];
  /** Why each refused slot has no value; only made when a request is refused. */
  refused: Map<number, string> | null;
  firstRefusal: TransportError | null;
  /** Requests the device answered with data: none, and a refusal, is a device that only refuses. */
  answered: number;
}

/**
 * A request's words, or the device's refusal of it (exception 1, 2 or 3), with retries.
 * Other exceptions are the device's final answer too and are thrown; busy or "no answer
 * behind the gateway" are worth another try, like a timeout.
 */
async function readOrRefusal(reader: ModbusReader, device: ModbusDevice, compiled: CompiledRequest, retries: number): Promise<number[] | boolean[] | TransportError> {
  const req = compiled.request;
  for (let attempt = 0; ; attempt++) {
    try {
      return await reader.read(device.unitId, req.function, req.address, req.count, device.requestOptions);
    } catch (err) {
      if (isRefusal(err)) return err;
      if (!isRetryable(err) || attempt >= retries) throw withRequest(err, req);
    }
  }
}

/** Straight from the response words into this poll's slots (no slice or object per value). */
function answered(poll: PollState, compiled: CompiledRequest, data: number[] | boolean[]): void {
  decodeInto(compiled, data, poll.values, poll.qualities);
  poll.answered += 1;
}

/** Marks a refused request's points bad, with the refusal as their status. */
function refusedBlock(poll: PollState, compiled: CompiledRequest, err: TransportError): void {
  poll.firstRefusal ??= withRequest(err, compiled.request) as TransportError;
  const refused = (poll.refused ??= new Map());
  for (const slot of compiled.slot) {
    poll.values[slot] = null;
    poll.qualities[slot] = 'bad';
    refused.set(slot, err.message);
  }
}

/** Requests one poll of these classes costs. */
export function requestCount(classes: readonly PollClass[]): number {
  return classes.reduce((n, c) => n + c.requests.length, 0);
}

/** The error with the request that failed in its message: "which block?" is the first question at commissioning. */
function withRequest(err: unknown, req: Pick<PollClass['requests'][number], 'function' | 'address' | 'count'>): unknown {
  if (!(err instanceof TransportError) || err.kind === 'connection') return err;
  const at = `${req.function} ${req.address}+${req.count}`;
  return new TransportError(`${err.message} (reading ${at})`, err.kind, err.exceptionCode, { cause: err });
}

import type { PointValue, Quality } from '../../core/sample.js';
import type { PollClass } from '../../profiles/planner.js';
import type { ModbusPoint } from '../../profiles/schema.js';
import type { ModbusReader } from './bus.js';
import type { Decoded } from './decode.js';
import type { ModbusDevice } from './device.js';
import { isNoAnswer, isRefusal, isRetryable, TransportError } from './errors.js';
import { compilePollPlan, decodeInto, halveRequest, isSinglePoint, publishValues, splitRequest, type CompiledRequest, type PollPlan } from './plan.js';

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
 * How a device reads a block it refused whole with exception 2 or 3, found at the first
 * refusal. Per device, as compiled requests are shared by every meter of a model.
 */
interface Fallback {
  /**
   * The requests that read the block's points instead, in order (gap-free runs, and halves
   * of a run refused too, down to single points), asked from then on without the block first.
   * Null while none of them was answered: nothing worked, so nothing is kept.
   */
  requests: CompiledRequest[] | null;
  /**
   * Refused at every level (requests null): polls left in which the block is asked whole
   * only, not again in pieces. A block refused at every level poll after poll (registers a
   * firmware variant lacks) would otherwise cost a request per point each time; one refused
   * only while the meter booted still gets its pieces read again soon.
   */
  skip: number;
  /** The skip last set: doubled, to MAX_WAIT, each time the pieces are refused again. */
  wait: number;
}

/**
 * What a device has shown of itself since start: blocks it refused whole and how it reads
 * them instead, and what its timeouts say about how long a read it answers.
 *
 * Some meters do not refuse a read longer than they serve (exception 2 or 3): they ignore
 * it, and the gateway sees a timeout from a meter that works. A register read of several
 * points that times out while the device answers other reads is therefore read again at once
 * in halves (and their halves), and what answers is how the block is read from then on.
 */
interface DeviceMemory {
  /** Blocks read in other requests from now on, or refused at every level. */
  blocks: Map<CompiledRequest, Fallback> | undefined;
  /**
   * The longest register read the device has answered. A read no longer than that which
   * times out timed out for another reason (the device went away): it is not shortened.
   */
  longest: number;
  /**
   * The shortest register read that timed out while shorter ones answered: a longer read is
   * not asked, it is halved first. Infinity until one did.
   */
  tooLong: number;
  /**
   * Set when a poll's first read timed out with nothing answered, as a dead device's does
   * and as one's does that ignores the read's length. The next attempt asks that block's
   * first point alone first: a dead device does not answer it either (one timeout, as the
   * block would have cost, and the attempt after asks the block whole again), a live one
   * does, and the block is then asked whole, and in halves if it times out.
   */
  probe: boolean;
}

const memories = new WeakMap<ModbusDevice, DeviceMemory>();

function memoryOf(device: ModbusDevice): DeviceMemory {
  let mem = memories.get(device);
  if (mem === undefined) {
    mem = { blocks: undefined, longest: 0, tooLong: Number.POSITIVE_INFINITY, probe: false };
    memories.set(device, mem);
  }
  return mem;
}

/** Polls a block refused at every level waits, at most, before its pieces are tried again. */
const MAX_WAIT = 64;

/**
 * Exceptions after which smaller requests can succeed: 2 (a hole in the device's map inside
 * the block, or, on some meters, more registers than they serve at once) and 3 (a quantity
 * out of range: the device's per-request limit is below the plan's). An illegal function (1)
 * stays illegal in pieces.
 */
const splits = (err: TransportError) => err.exceptionCode === 2 || err.exceptionCode === 3;

/**
 * Whether the device's next attempt starts with a probe (its last one timed out with nothing
 * heard): a one-shot read asks once more, so that a device that ignores long reads is read.
 */
export function probesNext(device: ModbusDevice): boolean {
  return memories.get(device)?.probe === true;
}

/** Where readDevice reports the first request the device refused; the caller keeps one per device. */
export interface Refusal {
  error: TransportError | null;
  /**
   * Blocks this poll found refused whole and read in smaller requests ("input 200+52 (read in
   * 3 pieces)", "holding 0+60 (read point by point: 30 requests)"), each reported once per
   * device: it reads them so from then on. Absent on most polls.
   */
  split?: string[];
  /**
   * Blocks the device did not answer whole (timeouts) but answered in shorter reads, which it
   * is asked from then on ("input 0+80 (read in 2 pieces)"); each reported once. Absent on
   * most polls.
   */
  shortened?: string[];
}

/**
 * Reads every request of the given poll classes from one device, in plan order. The first
 * request that fails ends the device's turn (it is skipped for the rest of its cycle): the
 * error is thrown and nothing of this poll is published. A request the device refuses
 * (exception 1, 2 or 3: see REFUSAL_EXCEPTIONS) is its answer for that block only: a block
 * refused with 2 or 3 is read again at once in smaller requests (readSmaller), and what is
 * refused in the end is published `bad` with the exception as its status; the other blocks
 * are still read, and the first refusal is put in `refusal` (cleared here first). When the
 * device refused every request, the first refusal is thrown: it answers, but only with
 * exceptions, and fails like a device that does. A register read that times out and may be
 * too long for the device is read in halves (see DeviceMemory) instead of ending the turn.
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
    heard: false,
    mem: memoryOf(device),
  };
  const mem = poll.mem;
  let splitNow: string[] | undefined;
  let shortenedNow: string[] | undefined;
  /** Blocks this poll found refused whole or too long, and how to read them (kept at the end). */
  let learned: Array<[CompiledRequest, Fallback]> | undefined;
  // A device that never refused nor timed out has no blocks and pays nothing more.
  const known = mem.blocks;
  for (const whole of plan.requests) {
    const fallback = known?.get(whole);
    if (fallback !== undefined && fallback.requests !== null) {
      for (const piece of fallback.requests) {
        const got = await readOrRefusal(reader, device, piece, retries);
        if (got instanceof TransportError) refusedBlock(poll, piece, got);
        else answered(poll, piece, got);
      }
      continue;
    }
    // For nearly every device tooLong is Infinity and probe false: two comparisons a block.
    // Null: longer than the device answers, known before (not asked whole) or found now.
    let got: Awaited<ReturnType<typeof readOrRefusal>> | null = null;
    if (!(whole.request.count >= mem.tooLong && mayBeTooLong(whole, mem))) {
      if (mem.probe && !poll.heard && mayBeTooLong(whole, mem)) {
        mem.probe = false;
        await probeFirstPoint(reader, device, whole, retries, poll);
      }
      try {
        got = await readOrRefusal(reader, device, whole, retries);
      } catch (err) {
        if (!isNoAnswer(err) || !mayBeTooLong(whole, mem)) throw err;
        if (!poll.heard) {
          // A dead device looks the same: the next attempt tells them apart, at the same cost.
          mem.probe = true;
          throw err;
        }
        // The device answers, but not this read.
      }
    }
    if (got === null) {
      // In halves, and those in halves; it timed out whole, or one no longer did.
      const found = await readShortened(reader, device, whole, retries, poll, mem);
      mem.tooLong = Math.min(mem.tooLong, whole.request.count);
      (learned ??= []).push([whole, { requests: found.requests, skip: 0, wait: 0 }]);
      (shortenedNow ??= []).push(describe(whole, found.requests.length, found.single));
      continue;
    }
    if (!(got instanceof TransportError)) {
      answered(poll, whole, got);
      continue;
    }
    if (!splits(got) || (fallback !== undefined && fallback.skip-- > 0)) {
      refusedBlock(poll, whole, got);
      continue;
    }
    const hadRefusal = poll.firstRefusal !== null;
    const found = await readSmaller(reader, device, whole, got, retries, poll);
    if (found === null) {
      // Nothing worked: the block as planned is what the device refused.
      if (!hadRefusal) poll.firstRefusal = withRequest(got, whole.request) as TransportError;
      const wait = fallback === undefined ? 1 : Math.min(fallback.wait * 2, MAX_WAIT);
      (learned ??= []).push([whole, { requests: null, skip: wait, wait }]);
      continue;
    }
    (learned ??= []).push([whole, { requests: found.requests, skip: 0, wait: 0 }]);
    (splitNow ??= []).push(describe(whole, found.requests.length, found.single));
  }
  if (refusal) {
    refusal.error = poll.firstRefusal;
    refusal.split = splitNow;
    refusal.shortened = shortenedNow;
  }
  // A device that refuses everything it is asked has nothing to publish: it fails the poll
  // like a device that answers every request with exception 4, and backs off. What it
  // refused is not kept: a meter that refuses everything while it boots is asked for its
  // blocks whole, and in pieces if need be, at the next poll.
  if (poll.answered === 0 && poll.firstRefusal !== null) {
    if (known !== undefined) forgetRefused(known);
    throw poll.firstRefusal;
  }
  // Kept once the poll is through: a poll that fails later on (a timeout) keeps nothing it
  // found, and the next one finds it again and reports it then (the report goes with a poll).
  if (learned !== undefined) {
    const byBlock = (mem.blocks ??= new Map());
    for (const [block, fallback] of learned) byBlock.set(block, fallback);
  }
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

/** The requests a refused block is read with from then on, and how many of them are single points found by halving. */
interface Smaller {
  requests: CompiledRequest[];
  single: number;
}

/**
 * Reads a block the device refused whole (exception 2 or 3) in smaller requests, into this
 * poll: its gap-free runs of points (splitRequest), each read as readHalving does. Returns the
 * requests to read the block with from then on; null when none was answered: nothing learned.
 */
async function readSmaller(
  reader: ModbusReader,
  device: ModbusDevice,
  whole: CompiledRequest,
  refusedWhole: TransportError,
  retries: number,
  poll: PollState,
): Promise<Smaller | null> {
  const found: Smaller = { requests: [], single: 0 };
  let worked = false;
  for (const run of splitRequest(whole)) {
    // A block without gaps is its own only run: refused already.
    const got = run === whole ? refusedWhole : await readOrRefusal(reader, device, run, retries);
    if (await readHalving(reader, device, run, got, retries, poll, found, false)) worked = true;
  }
  return worked ? found : null;
}

/**
 * A request's answer into this poll; refused with 2 or 3, its two halves (halveRequest) are
 * asked and read the same way, down to single points, which are final. A meter with a
 * per-request limit is so read in the fewest requests halving finds (a 10-register run under
 * a limit of 8: two), not point by point. Adds to `found` the requests to ask from then on: a
 * request refused all the way down to its single points stays itself (one refused request a
 * poll, not one per point). True when any of it was answered.
 */
async function readHalving(
  reader: ModbusReader,
  device: ModbusDevice,
  request: CompiledRequest,
  got: number[] | boolean[] | TransportError,
  retries: number,
  poll: PollState,
  found: Smaller,
  halved: boolean,
): Promise<boolean> {
  if (!(got instanceof TransportError)) {
    answered(poll, request, got);
    found.requests.push(request);
    if (halved && isSinglePoint(request)) found.single += 1;
    return true;
  }
  const halves = splits(got) ? halveRequest(request) : null;
  if (halves === null || halves.length < 2) {
    // One point refused alone, or exception 1: final.
    refusedBlock(poll, request, got);
    found.requests.push(request);
    if (halved && isSinglePoint(request)) found.single += 1;
    return false;
  }
  const kept = found.requests.length;
  const single = found.single;
  let any = false;
  for (const half of halves) {
    if (await readHalving(reader, device, half, await readOrRefusal(reader, device, half, retries), retries, poll, found, true)) any = true;
  }
  if (!any) {
    found.requests.length = kept;
    found.single = single;
    found.requests.push(request);
  }
  return any;
}

/** "holding 0+80 (read in 3 pieces)": a block and what reading it costs now, for the log and `read`. */
function describe(whole: CompiledRequest, requests: number, single: number): string {
  const block = `${whole.request.function} ${whole.request.address}+${whole.request.count}`;
  if (single === 0) return `${block} (read in ${requests} pieces)`;
  if (single === requests) return `${block} (read point by point: ${requests} requests)`;
  return `${block} (read in ${requests} pieces, ${single} of them single points)`;
}

/** Drops the blocks found refused at every level: the device refused everything this poll, so nothing it refused tells. */
function forgetRefused(known: Map<CompiledRequest, Fallback>): void {
  for (const [block, fallback] of known) if (fallback.requests === null) known.delete(block);
}

/**
 * Whether a read that timed out may have been too long for the device: a register read of
 * several points, longer than any the device has answered.
 */
function mayBeTooLong(c: CompiledRequest, mem: DeviceMemory): boolean {
  return isRegisterRead(c.request) && c.request.count > mem.longest && !isSinglePoint(c);
}

/** A read of holding or input registers: the reads whose length a device's limit is counted in. */
function isRegisterRead(req: CompiledRequest['request']): boolean {
  return req.function === 'holding' || req.function === 'input';
}

/**
 * Reads a block in its halves (and those in theirs, as long as they time out and may be too
 * long), into this poll. Returns the requests to read the block with from then on; throws what
 * fails otherwise: a piece no longer than a read the device answered (it went away), or any
 * piece while nothing was heard in this poll (a dead device costs one timeout an attempt).
 */
async function readShortened(
  reader: ModbusReader,
  device: ModbusDevice,
  whole: CompiledRequest,
  retries: number,
  poll: PollState,
  mem: DeviceMemory,
): Promise<Smaller> {
  const found: Smaller = { requests: [], single: 0 };
  const read = async (piece: CompiledRequest): Promise<void> => {
    if (piece.request.count >= mem.tooLong && !isSinglePoint(piece)) {
      for (const half of halveRequest(piece)) await read(half);
      return;
    }
    let got: Awaited<ReturnType<typeof readOrRefusal>>;
    try {
      got = await readOrRefusal(reader, device, piece, retries);
    } catch (err) {
      if (!isNoAnswer(err) || !poll.heard || !mayBeTooLong(piece, mem)) throw err;
      for (const half of halveRequest(piece)) await read(half);
      // Its halves were heard (a failure would have left here): this read was too long.
      mem.tooLong = Math.min(mem.tooLong, piece.request.count);
      return;
    }
    await readHalving(reader, device, piece, got, retries, poll, found, true);
  };
  for (const half of halveRequest(whole)) await read(half);
  return found;
}

/**
 * Asks a block's first point alone, into this poll: whether a device whose last attempt timed
 * out with nothing heard is there. Throws its timeout, saying why the read is so short.
 */
async function probeFirstPoint(reader: ModbusReader, device: ModbusDevice, whole: CompiledRequest, retries: number, poll: PollState): Promise<void> {
  let first = whole;
  for (let halves = halveRequest(first); halves.length > 1; halves = halveRequest(first)) first = halves[0]!;
  let got: Awaited<ReturnType<typeof readOrRefusal>>;
  try {
    got = await readOrRefusal(reader, device, first, retries);
  } catch (err) {
    throw probeNote(err, whole);
  }
  // Its value is read again with the block; a refusal of it still says the device is there.
  if (got instanceof TransportError) poll.heard = true;
  else answered(poll, first, got);
}

/** A probe's timeout, saying why the read is shorter than the plan's. */
function probeNote(err: unknown, whole: CompiledRequest): unknown {
  if (!isNoAnswer(err)) return err;
  const req = whole.request;
  return new TransportError(
    `${err.message}; its first point alone, as ${req.function} ${req.address}+${req.count} timed out whole last time (a device that ignores reads longer than it serves answers a short one)`,
    err.kind, err.exceptionCode, { cause: err },
  );
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
  /** Whether the device answered anything in this poll, data or an exception. */
  heard: boolean;
  /** The device's: what it answered in this poll is remembered at once. */
  mem: DeviceMemory;
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
  poll.heard = true;
  const req = compiled.request;
  if (req.count > poll.mem.longest && isRegisterRead(req)) poll.mem.longest = req.count;
}

/** Marks a refused request's points bad, with the refusal as their status. */
function refusedBlock(poll: PollState, compiled: CompiledRequest, err: TransportError): void {
  poll.heard = true;
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

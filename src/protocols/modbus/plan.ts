// Precompiled per-poll decoding: what decodeValue + applyDerived do for one device and one
// set of due poll classes, worked out once instead of on every poll. Each planned request
// gets flat arrays (value kind, offset in the response, word/byte swaps, scale, sentinels);
// a poll then decodes every point straight from the response words into two slot arrays
// and builds the published values from those. No BigInt, no DataView, no slice and no
// intermediate object per value. The reference codec (decode.ts) stays the definition:
// types the fast path does not cover (64-bit, strings, bits, coils) go through it, and a
// property test holds the two to bit-identical results.
import { exactDivisor } from '../../profiles/scale.js';
import type { PointValue, Quality } from '../../core/sample.js';
import { applyDerived } from '../../profiles/derive.js';
import { bytesSwapped, wordsReversed } from '../../profiles/order.js';
import type { PollClass } from '../../profiles/planner.js';
import type { ModbusPoint } from '../../profiles/schema.js';
import { decodeValue, registerCount, type CodecPoint, type Decoded, type ReadSlice } from './decode.js';

// Value kinds with a fast decoder; everything else is REF (the reference decoder).
const U16 = 0;
const I16 = 1;
const U32 = 2;
const I32 = 3;
const F32 = 4;
const BCD16 = 5;
const BCD32 = 6;
const REF = 7;

const KIND: Partial<Record<ModbusPoint['type'], number>> = {
  uint16: U16, int16: I16, uint32: U32, int32: I32, float32: F32, bcd16: BCD16, bcd32: BCD32,
};

// float32 from its bit pattern without a DataView per value: one shared scratch word.
const scratchU32 = new Uint32Array(1);
const scratchF32 = new Float32Array(scratchU32.buffer);

/** Sentinels of one point, sorted by how the reference codec compares them. */
interface Sentinels {
  /** Compared with the value's bit patterns (integers and 0x… patterns within 2^53). */
  patterns: number[];
  /** Compared with the decoded value (every non-NaN number sentinel). */
  values: number[];
}

const NO_SENTINELS: Sentinels = { patterns: [], values: [] };

/** Sentinels as the fast decoder compares them; a float32's also as float32 (see decode.ts). */
function compileSentinels(invalid: ModbusPoint['invalid'] | undefined, float32 = false): Sentinels {
  if (!invalid || invalid.length === 0) return NO_SENTINELS;
  const s: Sentinels = { patterns: [], values: [] };
  for (const x of invalid) {
    if (typeof x === 'bigint') {
      // A pattern beyond 2^53 cannot equal any 16- or 32-bit pattern.
      if (x <= BigInt(Number.MAX_SAFE_INTEGER) && x >= BigInt(Number.MIN_SAFE_INTEGER)) s.patterns.push(Number(x));
    } else if (!Number.isNaN(x)) {
      // A NaN sentinel needs no entry: the only NaN these types decode to (a NaN float,
      // a BCD with a nibble above 9) is invalid already.
      if (Number.isInteger(x)) s.patterns.push(x);
      s.values.push(x);
      if (float32 && Math.fround(x) !== x) s.values.push(Math.fround(x));
    }
  }
  return s;
}

function matches(s: Sentinels, patternA: number, patternB: number, value: number): boolean {
  if (s === NO_SENTINELS) return false;
  for (const p of s.patterns) if (p === patternA || p === patternB) return true;
  for (const v of s.values) if (v === value) return true;
  return false;
}

/** applyScale's arithmetic, decided once: divide for 0.1-style scales, else multiply. */
function scaleParts(scale = 1): { mul: number; div: number } {
  const div = exactDivisor(scale);
  return div !== 0 ? { mul: 1, div } : { mul: scale, div: 0 };
}

type Point = CodecPoint & Pick<ModbusPoint, 'id' | 'address'>;

/** One planned request, compiled: parallel arrays, one entry per point. */
export interface CompiledRequest {
  readonly request: ReadSlice;
  readonly kind: Uint8Array;
  readonly start: Int32Array;
  readonly width: Int32Array;
  readonly swapBytes: Uint8Array;
  readonly reverseWords: Uint8Array;
  readonly mul: Float64Array;
  readonly div: Float64Array;
  readonly offset: Float64Array;
  readonly sentinels: Sentinels[];
  readonly points: Point[];
  /** Result slot of each point. */
  readonly slot: Int32Array;
}

export function compileRequest(request: ReadSlice, slotOf: (id: string) => number): CompiledRequest {
  const n = request.points.length;
  const c: CompiledRequest = {
    request,
    kind: new Uint8Array(n), start: new Int32Array(n), width: new Int32Array(n),
    swapBytes: new Uint8Array(n), reverseWords: new Uint8Array(n),
    mul: new Float64Array(n), div: new Float64Array(n), offset: new Float64Array(n),
    sentinels: [], points: [...request.points], slot: new Int32Array(n),
  };
  request.points.forEach((p, i) => {
    const order = p.order ?? 'ABCD';
    const numeric = p.function !== 'coil' && p.function !== 'discrete';
    c.kind[i] = numeric ? KIND[p.type] ?? REF : REF;
    c.start[i] = p.address - request.address;
    c.width[i] = registerCount(p);
    c.swapBytes[i] = bytesSwapped(order) ? 1 : 0;
    c.reverseWords[i] = wordsReversed(order) ? 1 : 0;
    const { mul, div } = scaleParts(p.scale);
    c.mul[i] = mul;
    c.div[i] = div;
    c.offset[i] = p.offset ?? 0;
    c.sentinels.push(compileSentinels(p.invalid, numeric && p.type === 'float32'));
    c.slot[i] = slotOf(p.id);
  });
  return c;
}

/**
 * The requests that read a compiled request's points without the gaps between them: one per
 * run of points that touch or share registers (bits of one register stay together). A
 * device whose map has a hole inside a planned block refuses the whole block (exception 2,
 * as strict devices and simulators do); its points can still be read this way, into the
 * same slots. A request without gaps comes back as it is (see halveRequest for the next step).
 */
export function splitRequest(c: CompiledRequest): CompiledRequest[] {
  const order = c.points.map((_, i) => i).sort((a, b) => c.start[a]! - c.start[b]!);
  const runs: number[][] = [];
  /** Where the current run ends (exclusive): a point starting there or before joins it. */
  let end = -1;
  for (const i of order) {
    const start = c.start[i]!;
    const stop = start + c.width[i]!;
    if (runs.length > 0 && start <= end) {
      runs[runs.length - 1]!.push(i);
      end = Math.max(end, stop);
    } else {
      runs.push([i]);
      end = stop;
    }
  }
  if (runs.length === 1) return [c];
  return runs.map((run) => subRequest(c, run));
}

/**
 * A compiled request in two, split between its points near the middle of its registers
 * (points on exactly the same registers, bits of one register, stay together): the next
 * step for a gap-free run a device refused (exception 2 or 3). Halving again and again
 * finds the longest requests a meter with a per-request limit answers in a few steps, and
 * ends at single points for a meter that answers each point only alone. A request for one
 * point's registers comes back as it is.
 */
export function halveRequest(c: CompiledRequest): CompiledRequest[] {
  const groups = pointGroups(c);
  if (groups.length === 1) return [c];
  const from = c.start[groups[0]![0]!]!;
  const middle = from + Math.ceil(c.request.count / 2);
  let cut = groups.findIndex((g) => c.start[g[0]!]! >= middle);
  if (cut <= 0) cut = cut === 0 ? 1 : groups.length - 1;
  return [subRequest(c, groups.slice(0, cut).flat()), subRequest(c, groups.slice(cut).flat())];
}

/** Whether a request reads one point's registers only (one point, or bits of one register). */
export function isSinglePoint(c: CompiledRequest): boolean {
  return pointGroups(c).length === 1;
}

/** A request's points (by index) grouped by the registers they cover, in address order. */
function pointGroups(c: CompiledRequest): number[][] {
  const byRange = new Map<string, number[]>();
  const order = c.points.map((_, i) => i).sort((a, b) => c.start[a]! - c.start[b]! || c.width[a]! - c.width[b]!);
  for (const i of order) {
    const key = `${c.start[i]}+${c.width[i]}`;
    const same = byRange.get(key);
    if (same) same.push(i);
    else byRange.set(key, [i]);
  }
  return [...byRange.values()];
}

/** The request for some of a compiled request's points (by index), into the same slots. */
function subRequest(c: CompiledRequest, run: readonly number[]): CompiledRequest {
  const slotOf = new Map(run.map((i) => [c.points[i]!.id, c.slot[i]!]));
  const from = Math.min(...run.map((i) => c.start[i]!));
  const to = Math.max(...run.map((i) => c.start[i]! + c.width[i]!));
  const slice: ReadSlice = {
    function: c.request.function,
    address: c.request.address + from,
    count: to - from,
    points: run.map((i) => c.points[i]!),
  };
  return compileRequest(slice, (id) => slotOf.get(id)!);
}

const swap16 = (w: number) => ((w & 0xff) << 8) | (w >>> 8);
/** decodeValue's isWord, for whatever a reader returned. */
const isWord = (w: unknown): w is number => typeof w === 'number' && (w & 0xffff) === w;

/** BCD nibbles to their decimal value; -1 when a nibble is not 0-9. */
function bcd(raw: number, digits: number): number {
  let value = 0;
  for (let d = digits - 1; d >= 0; d--) {
    const nibble = (raw >>> (d * 4)) & 0xf;
    if (nibble > 9) return -1;
    value = value * 10 + nibble;
  }
  return value;
}

/**
 * Decodes every point of one response into the slot arrays: exactly decodeValue's value and
 * quality (`bad` for a short response or a non-word, `invalid` for sentinels and impossible
 * values, scale and offset applied).
 */
export function decodeInto(
  c: CompiledRequest,
  words: readonly number[] | readonly boolean[],
  values: Array<Decoded['value']>,
  qualities: Quality[],
): void {
  const n = c.kind.length;
  for (let i = 0; i < n; i++) {
    const slot = c.slot[i]!;
    const kind = c.kind[i]!;
    const at = c.start[i]!;
    if (kind === REF) {
      const d = decodeValue(c.points[i]!, words.slice(at, at + c.width[i]!) as number[] | boolean[]);
      values[slot] = d.value;
      qualities[slot] = d.quality;
      continue;
    }
    const w0 = words[at];
    if (!isWord(w0) || at + c.width[i]! > words.length) {
      values[slot] = null;
      qualities[slot] = 'bad';
      continue;
    }
    let value: number;
    let patternA: number;
    let patternB: number;
    let impossible = false;
    if (kind === U16 || kind === I16 || kind === BCD16) {
      const u = c.swapBytes[i] ? swap16(w0) : w0;
      if (kind === BCD16) {
        const d = bcd(u, 4);
        impossible = d < 0;
        value = impossible ? Number.NaN : d;
        patternA = u;
        patternB = u;
      } else {
        const s = (u << 16) >> 16;
        value = kind === I16 ? s : u;
        patternA = u;
        patternB = s;
      }
    } else {
      const w1 = words[at + 1];
      if (!isWord(w1)) {
        values[slot] = null;
        qualities[slot] = 'bad';
        continue;
      }
      let hi = c.reverseWords[i] ? w1 : w0;
      let lo = c.reverseWords[i] ? w0 : w1;
      if (c.swapBytes[i]) {
        hi = swap16(hi);
        lo = swap16(lo);
      }
      const u = hi * 65536 + lo;
      if (kind === F32) {
        scratchU32[0] = u;
        value = scratchF32[0]!;
        impossible = !Number.isFinite(value);
        patternA = u;
        patternB = u;
      } else if (kind === BCD32) {
        const d = bcd(u, 8);
        impossible = d < 0;
        value = impossible ? Number.NaN : d;
        patternA = u;
        patternB = u;
      } else {
        const s = u | 0;
        value = kind === I32 ? s : u;
        patternA = u;
        patternB = s;
      }
    }
    if (impossible || matches(c.sentinels[i]!, patternA, patternB, value)) {
      values[slot] = null;
      qualities[slot] = 'invalid';
      continue;
    }
    const div = c.div[i]!;
    const scaled = div !== 0 ? value / div : value * c.mul[i]!;
    const offset = c.offset[i]!;
    values[slot] = offset === 0 ? scaled : scaled + offset;
    qualities[slot] = 'good';
  }
}

/** What one poll of a device (for one set of due classes) decodes and publishes. */
export interface PollPlan {
  requests: CompiledRequest[];
  /** Point id of each slot. */
  ids: string[];
  /** Published points in profile order: applyDerived's output order. */
  publish: Array<{ id: string; unit: string; slot: number }>;
  /** Some read point has multiply_by or scale_register: the reference applyDerived runs. */
  derived: boolean;
  /**
   * An object with the published ids as its keys, in order, to copy for each poll. An
   * object filled key by key with computed names goes into V8's dictionary mode after a
   * dozen or so keys (a hash table: slower to fill, and every for…in over it sorts its
   * keys again); a copy of this one keeps the fast layout, shared by every poll of the
   * plan. JSON.parse builds it because it, too, makes fast objects.
   */
  shape: Record<string, null> | null;
}

export function compilePollPlan(points: readonly ModbusPoint[], classes: readonly PollClass[]): PollPlan {
  const ids: string[] = [];
  const slots = new Map<string, number>();
  const slotOf = (id: string) => {
    let s = slots.get(id);
    if (s === undefined) {
      s = ids.length;
      ids.push(id);
      slots.set(id, s);
    }
    return s;
  };
  const requests = classes.flatMap((c) => c.requests.map((r) => compileRequest(r, slotOf)));
  const publish: PollPlan['publish'] = [];
  let derived = false;
  for (const p of points) {
    const slot = slots.get(p.id);
    if (slot === undefined) continue;
    if (p.multiply_by.length > 0 || p.scale_register !== undefined) derived = true;
    if (!p.internal) publish.push({ id: p.id, unit: p.unit, slot });
  }
  // "__proto__" as a key of the copy would set its prototype instead.
  const shape = publish.some((p) => p.id === '__proto__')
    ? null
    : JSON.parse(JSON.stringify(Object.fromEntries(publish.map((p) => [p.id, null])))) as Record<string, null>;
  return { requests, ids, publish, derived, shape };
}

/**
 * The published values of one poll from its slot arrays: applyDerived's result. Without
 * ratio or scale registers that is each decoded value with its unit (null unless good or
 * uncertain); otherwise the reference applyDerived does the arithmetic.
 */
export function publishValues(
  plan: PollPlan,
  values: ReadonlyArray<Decoded['value']>,
  qualities: readonly Quality[],
  source: Parameters<typeof applyDerived>[0],
  settings: Readonly<Record<string, number>>,
): Record<string, PointValue> {
  const out = (plan.shape === null ? {} : { ...plan.shape }) as unknown as Record<string, PointValue>;
  if (plan.derived) {
    const decoded: Record<string, Decoded> = {};
    for (let s = 0; s < plan.ids.length; s++) decoded[plan.ids[s]!] = { value: values[s]!, quality: qualities[s]! };
    // applyDerived publishes the same points in the same order as plan.publish.
    return applyDerived(source, decoded, settings, out);
  }
  for (const { id, unit, slot } of plan.publish) {
    const quality = qualities[slot]!;
    out[id] = { value: quality === 'invalid' || quality === 'bad' ? null : values[slot]!, unit, quality };
  }
  return out;
}

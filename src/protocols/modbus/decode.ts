import { applyScale } from '../../profiles/scale.js';
import type { Quality } from '../../core/sample.js';
import { bytesSwapped, wordsReversed, type Order } from '../../profiles/order.js';
import { pointWidth, type ModbusPoint, type Sentinel } from '../../profiles/schema.js';

/** What one point decodes to, before ratios and scale registers are applied. */
export interface Decoded {
  value: number | string | boolean | null;
  quality: Quality;
}

/** The fields of a point the codec needs; profile points and inline points both fit. */
export type CodecPoint = Pick<ModbusPoint, 'function' | 'type'> &
  Partial<Pick<ModbusPoint, 'order' | 'bit' | 'length' | 'scale' | 'offset' | 'invalid'>>;

/** Registers (or coils) the point occupies. */
export function registerCount(point: Pick<ModbusPoint, 'function' | 'type' | 'length'>): number {
  return pointWidth(point);
}

const INVALID: Decoded = { value: null, quality: 'invalid' };
const BAD: Decoded = { value: null, quality: 'bad' };

/**
 * Turns the words of one point into canonical bytes, most significant first. Strings are
 * byte-swapped per register but never word-reversed: their first register is their first
 * characters whatever the device's number order.
 */
function wordsToBytes(words: readonly number[], order: Order, reverseWords: boolean): Uint8Array {
  const seq = reverseWords && wordsReversed(order) ? [...words].reverse() : words;
  const swap = bytesSwapped(order);
  const bytes = new Uint8Array(seq.length * 2);
  seq.forEach((w, i) => {
    const hi = (w >>> 8) & 0xff;
    const lo = w & 0xff;
    bytes[i * 2] = swap ? lo : hi;
    bytes[i * 2 + 1] = swap ? hi : lo;
  });
  return bytes;
}

function bytesToWords(bytes: Uint8Array, order: Order, reverseWords: boolean): number[] {
  const swap = bytesSwapped(order);
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) {
    const a = bytes[i]!;
    const b = bytes[i + 1]!;
    words.push(swap ? (b << 8) | a : (a << 8) | b);
  }
  return reverseWords && wordsReversed(order) ? words.reverse() : words;
}

/** Nibbles of a BCD pattern, most significant first; undefined when a nibble is not 0-9. */
function bcdValue(raw: bigint, digits: number): number | undefined {
  let value = 0;
  for (let d = digits - 1; d >= 0; d--) {
    const nibble = Number((raw >> BigInt(d * 4)) & 0xfn);
    if (nibble > 9) return undefined;
    value = value * 10 + nibble;
  }
  return value;
}

/**
 * Whether a raw value is one of the point's "not available" sentinels. A float32 holds no
 * decimal like -9999.9 exactly, so its sentinels are compared as float32 too: the -9999.9
 * a manual prints arrives as -9999.900390625.
 */
function sentinelMatches(sentinels: readonly Sentinel[], patterns: readonly bigint[], value: number, float32 = false): boolean {
  return sentinels.some((s) => {
    if (typeof s === 'bigint') return patterns.includes(s);
    if (Number.isNaN(s)) return Number.isNaN(value);
    if (Number.isInteger(s) && patterns.includes(BigInt(s))) return true;
    return s === value || (float32 && Math.fround(s) === value);
  });
}

interface RawNumber {
  value: number;
  /** Bit patterns the sentinels compare against: unsigned, and signed where it differs. */
  patterns: bigint[];
  /** A value no device means as a measurement (NaN/∞ floats, non-decimal BCD). */
  alwaysInvalid: boolean;
}

function readNumber(type: ModbusPoint['type'], bytes: Uint8Array): RawNumber | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 'uint16': case 'int16': {
      const u = view.getUint16(0);
      const s = view.getInt16(0);
      return { value: type === 'int16' ? s : u, patterns: [BigInt(u), BigInt(s)], alwaysInvalid: false };
    }
    case 'uint32': case 'int32': {
      const u = view.getUint32(0);
      const s = view.getInt32(0);
      return { value: type === 'int32' ? s : u, patterns: [BigInt(u), BigInt(s)], alwaysInvalid: false };
    }
    case 'uint64': case 'int64': {
      const u = view.getBigUint64(0);
      const s = view.getBigInt64(0);
      return { value: Number(type === 'int64' ? s : u), patterns: [u, s], alwaysInvalid: false };
    }
    case 'float32': {
      const f = view.getFloat32(0);
      return { value: f, patterns: [BigInt(view.getUint32(0))], alwaysInvalid: !Number.isFinite(f) };
    }
    case 'float64': {
      const f = view.getFloat64(0);
      return { value: f, patterns: [view.getBigUint64(0)], alwaysInvalid: !Number.isFinite(f) };
    }
    case 'bcd16': case 'bcd32': {
      const raw = type === 'bcd16' ? BigInt(view.getUint16(0)) : BigInt(view.getUint32(0));
      const value = bcdValue(raw, type === 'bcd16' ? 4 : 8);
      return { value: value ?? Number.NaN, patterns: [raw], alwaysInvalid: value === undefined };
    }
    default:
      return undefined;
  }
}

function isWord(w: unknown): w is number {
  return typeof w === 'number' && Number.isInteger(w) && w >= 0 && w <= 0xffff;
}

/**
 * Decodes the words (or coil states) of one point. Never throws: a wrong number of words
 * is `bad`, a sentinel or an impossible value is `invalid`.
 */
export function decodeValue(point: CodecPoint, words: readonly number[] | readonly boolean[]): Decoded {
  const width = registerCount(point);
  if (words.length !== width) return BAD;

  if (point.function === 'coil' || point.function === 'discrete') {
    const state = words[0];
    return { value: typeof state === 'boolean' ? state : state !== 0, quality: 'good' };
  }
  if (!words.every(isWord)) return BAD;
  const regs = words as readonly number[];
  const order = point.order ?? 'ABCD';

  switch (point.type) {
    case 'bool':
      return { value: regs[0] !== 0, quality: 'good' };
    case 'bit': {
      const word = bytesSwapped(order) ? ((regs[0]! & 0xff) << 8) | (regs[0]! >>> 8) : regs[0]!;
      return { value: ((word >>> (point.bit ?? 0)) & 1) === 1, quality: 'good' };
    }
    case 'string': {
      const bytes = wordsToBytes(regs, order, false);
      const end = bytes.indexOf(0);
      const text = Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString('latin1');
      return { value: text.trimEnd(), quality: 'good' };
    }
    default: {
      const raw = readNumber(point.type, wordsToBytes(regs, order, true));
      if (!raw || raw.alwaysInvalid) return INVALID;
      if (sentinelMatches(point.invalid ?? [], raw.patterns, raw.value, point.type === 'float32')) return INVALID;
      return { value: applyScale(raw.value, point.scale, point.offset), quality: 'good' };
    }
  }
}

const INT_RANGES: Partial<Record<ModbusPoint['type'], [bigint, bigint]>> = {
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

function toDigits(raw: number, digits: number): bigint {
  if (!Number.isInteger(raw) || raw < 0 || raw >= 10 ** digits) throw new RangeError(`${raw} does not fit ${digits} BCD digits`);
  let out = 0n;
  const text = String(raw).padStart(digits, '0');
  for (const ch of text) out = (out << 4n) | BigInt(ch);
  return out;
}

/**
 * The inverse of decodeValue: the words a device would send for this published value
 * (before multiply_by/scale_register). Used by the simulator and to build fixtures; throws
 * RangeError when the value cannot be represented, since that is a programming error.
 */
export function encodeValue(point: CodecPoint, value: number | string | boolean): number[] | boolean[] {
  const width = registerCount(point);
  const order = point.order ?? 'ABCD';
  if (point.function === 'coil' || point.function === 'discrete') return [Boolean(value)];

  switch (point.type) {
    case 'bool':
      return [value ? 1 : 0];
    case 'bit': {
      const word = value ? 1 << (point.bit ?? 0) : 0;
      return [bytesSwapped(order) ? ((word & 0xff) << 8) | (word >>> 8) : word];
    }
    case 'string': {
      const bytes = new Uint8Array(width * 2);
      const text = Buffer.from(String(value), 'latin1');
      if (text.length > bytes.length) throw new RangeError(`"${String(value)}" is longer than ${width} registers`);
      bytes.set(text);
      return bytesToWords(bytes, order, false);
    }
    default: {
      if (typeof value !== 'number') throw new TypeError(`${point.type} needs a number, got ${typeof value}`);
      const scale = point.scale ?? 1;
      const rawFloat = (value - (point.offset ?? 0)) / scale;
      const bytes = new Uint8Array(width * 2);
      const view = new DataView(bytes.buffer);
      switch (point.type) {
        case 'float32': view.setFloat32(0, rawFloat); break;
        case 'float64': view.setFloat64(0, rawFloat); break;
        case 'bcd16': view.setUint16(0, Number(toDigits(Math.round(rawFloat), 4))); break;
        case 'bcd32': view.setUint32(0, Number(toDigits(Math.round(rawFloat), 8))); break;
        default: {
          const raw = BigInt(Math.round(rawFloat));
          const [min, max] = INT_RANGES[point.type]!;
          if (raw < min || raw > max) throw new RangeError(`${value} does not fit ${point.type}`);
          if (width === 1) view.setUint16(0, Number(BigInt.asUintN(16, raw)));
          else if (width === 2) view.setUint32(0, Number(BigInt.asUintN(32, raw)));
          else view.setBigUint64(0, BigInt.asUintN(64, raw));
        }
      }
      return bytesToWords(bytes, order, true);
    }
  }
}

/** The slice of a read response that holds one point. */
export interface ReadSlice {
  function: ModbusPoint['function'];
  address: number;
  count: number;
  points: readonly (CodecPoint & Pick<ModbusPoint, 'id' | 'address'>)[];
}

/**
 * Decodes every point of one read response (a planner ReadRequest and the words or coil
 * states the device returned). A short response makes the points it does not cover `bad`.
 */
export function decodeResponse(
  request: ReadSlice,
  words: readonly number[] | readonly boolean[],
): Record<string, Decoded> {
  const out: Record<string, Decoded> = {};
  for (const point of request.points) {
    const start = point.address - request.address;
    const slice = words.slice(start, start + registerCount(point)) as number[] | boolean[];
    out[point.id] = decodeValue(point, slice);
  }
  return out;
}

/** One row of a probe: the same words read as one type in one order. */
export interface ProbeReading {
  type: ModbusPoint['type'];
  order: Order;
  value: Decoded['value'];
  quality: Decoded['quality'];
}

const PROBE_TYPES: readonly ModbusPoint['type'][] = ['uint16', 'int16', 'uint32', 'int32', 'float32', 'uint64', 'int64', 'float64'];

/**
 * Every plausible reading of raw words (from `words[0]`), for the "which order is it?" moment
 * at commissioning: each type that fits, in each of the four orders. 16-bit types only differ
 * by the byte swap, so they are listed for ABCD and BADC.
 */
export function probeDecodings(words: readonly number[]): ProbeReading[] {
  const rows: ProbeReading[] = [];
  for (const type of PROBE_TYPES) {
    const point: CodecPoint = { function: 'holding', type };
    const width = registerCount(point);
    if (words.length < width) continue;
    const orders: readonly Order[] = width === 1 ? ['ABCD', 'BADC'] : ['ABCD', 'CDAB', 'BADC', 'DCBA'];
    for (const order of orders) {
      const decoded = decodeValue({ ...point, order }, words.slice(0, width));
      rows.push({ type, order, value: decoded.value, quality: decoded.quality });
    }
  }
  return rows;
}

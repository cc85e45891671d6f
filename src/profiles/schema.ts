import { z } from 'zod';
import { UNITS, type Unit as UnitName } from '../core/units.js';
import { Duration } from '../config/duration.js';
import { canonicalUnit } from './canonical.js';
import { normaliseOrder, ORDERS, type Order } from './order.js';

export const PROFILE_SCHEMA_ID = 'energy-gateway.driver/v1';

export const MODBUS_FUNCTIONS = ['coil', 'discrete', 'holding', 'input'] as const;
export const ModbusFunction = z.enum(MODBUS_FUNCTIONS);
export type ModbusFunction = z.infer<typeof ModbusFunction>;

/**
 * The four tables by the read function code that serves them (Modbus Application Protocol
 * §6: 01 coils, 02 discrete inputs, 03 holding registers, 04 input registers) and by the
 * names manuals and tools give them, after lower-casing and dropping spaces, "-" and "_".
 */
const FUNCTION_ALIASES: Record<string, ModbusFunction> = {
  ...Object.fromEntries(MODBUS_FUNCTIONS.map((f) => [f, f])),
  1: 'coil', 2: 'discrete', 3: 'holding', 4: 'input',
  coils: 'coil', coilstatus: 'coil', co: 'coil',
  discreteinput: 'discrete', discreteinputs: 'discrete', inputstatus: 'discrete', di: 'discrete',
  holdingregister: 'holding', holdingregisters: 'holding', hr: 'holding',
  inputregister: 'input', inputregisters: 'input', ir: 'input',
};

export function normaliseFunction(written: string | number): ModbusFunction | undefined {
  const key = String(written).toLowerCase().replace(/[\s_-]+/g, '')
    // "FC03", "fc4", "0x04": the function code as a number.
    .replace(/^(?:fc|0x)0*(\d)$/, '$1');
  return Object.hasOwn(FUNCTION_ALIASES, key) ? FUNCTION_ALIASES[key] : undefined;
}

/** A register table as written: coil, discrete, holding, input, a read function code 1-4, or a table name. */
export const ModbusFunctionName = z.union([ModbusFunction, z.string(), z.number()])
  .describe('register table: coil, discrete, holding or input (or the read function code 1-4, or "input registers" …)')
  .transform((written, ctx): ModbusFunction => {
    const fn = normaliseFunction(written);
    if (!fn) {
      ctx.addIssue({ code: 'custom', message: `unknown function ${JSON.stringify(written)} (use coil, discrete, holding, input, or the read function code 1, 2, 3, 4)` });
      return z.NEVER;
    }
    return fn;
  });

export const VALUE_TYPES = [
  'bool', 'bit', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
  'float32', 'float64', 'bcd16', 'bcd32', 'string',
] as const;
export const ValueType = z.enum(VALUE_TYPES);
export type ValueType = z.infer<typeof ValueType>;

/**
 * Type names other tools and PLC manuals use, after lower-casing and dropping spaces, dashes
 * and underscores: Telegraf and Neuron write FLOAT32 or INT16, Home Assistant float, IEC 61131
 * REAL, LREAL, INT, DINT, WORD, DWORD; short forms u16, s32, f32. `bcd` is one register.
 */
const TYPE_ALIASES: Record<string, ValueType> = {
  ...Object.fromEntries(VALUE_TYPES.map((t) => [t, t])),
  boolean: 'bool',
  i16: 'int16', s16: 'int16', short: 'int16', int: 'int16', sint16: 'int16',
  u16: 'uint16', ushort: 'uint16', uint: 'uint16', word: 'uint16',
  i32: 'int32', s32: 'int32', dint: 'int32', long: 'int32', sint32: 'int32',
  u32: 'uint32', udint: 'uint32', ulong: 'uint32', dword: 'uint32',
  i64: 'int64', s64: 'int64', lint: 'int64', sint64: 'int64',
  u64: 'uint64', ulint: 'uint64', lword: 'uint64',
  f32: 'float32', float: 'float32', real: 'float32', single: 'float32', float32ieee: 'float32', ieee754: 'float32',
  f64: 'float64', double: 'float64', lreal: 'float64',
  bcd: 'bcd16', bcd8: 'bcd16', bcd4: 'bcd16',
  str: 'string', ascii: 'string',
};

export function normaliseValueType(text: string): ValueType | undefined {
  const key = text.toLowerCase().replace(/[\s_-]+/g, '');
  return Object.hasOwn(TYPE_ALIASES, key) ? TYPE_ALIASES[key] : undefined;
}

/** A value type as written: one of VALUE_TYPES, in any case, or an alias (FLOAT32, float, REAL, DINT, bcd, …). */
export const ValueTypeName = z.union([ValueType, z.string()])
  .transform((text, ctx): ValueType => {
    const type = normaliseValueType(text);
    if (!type) {
      ctx.addIssue({ code: 'custom', message: `unknown type "${text}" (use ${VALUE_TYPES.join(', ')}, or an alias such as FLOAT32, float, REAL, DINT, bcd)` });
      return z.NEVER;
    }
    return type;
  });

export const OrderName = z
  .string()
  .describe(`byte/word order: ${ORDERS.join(', ')} or an alias such as big, little, word-swap, byte-swap, ABCDEFGH, HGFEDCBA`)
  .transform((text, ctx): Order => {
    const order = normaliseOrder(text);
    if (!order) {
      ctx.addIssue({ code: 'custom', message: `unknown order "${text}" (use ${ORDERS.join(', ')} or an alias such as big, little, word-swap, byte-swap)` });
      return z.NEVER;
    }
    return order;
  });

/**
 * One half of an order as pymodbus, Home Assistant and the design notes' profile example
 * write it: `word_order` (which register of a value comes first) and `byte_order` (which
 * byte inside each register), each big or little.
 */
export const Endianness = z
  .string()
  .describe('big or little')
  .transform((text, ctx): 'big' | 'little' => {
    const key = text.trim().toLowerCase();
    if (key === 'big' || key === 'little') return key;
    ctx.addIssue({ code: 'custom', message: `unknown endianness "${text}" (use big or little)` });
    return z.NEVER;
  });
type Endianness = z.infer<typeof Endianness>;

/** The four-letter order of a word order and a byte order (big/big is ABCD). */
function composeOrder(word: Endianness, byte: Endianness): Order {
  if (word === 'big') return byte === 'big' ? 'ABCD' : 'BADC';
  return byte === 'big' ? 'CDAB' : 'DCBA';
}

/** An order given both ways in one place could disagree with itself: take neither. */
function oneOrderSpelling(o: { order?: unknown; word_order?: unknown; byte_order?: unknown }, ctx: z.core.$RefinementCtx): void {
  if (o.order !== undefined && (o.word_order !== undefined || o.byte_order !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['order'], message: 'give either order or word_order/byte_order, not both' });
  }
}

/**
 * The order of a point: its own `order`, else its word_order/byte_order with the missing
 * half taken from the inherited order, else the inherited order.
 */
function resolveOrder(own: { order?: Order; word_order?: Endianness; byte_order?: Endianness }, inherited: Order): Order {
  if (own.order !== undefined) return own.order;
  if (own.word_order === undefined && own.byte_order === undefined) return inherited;
  const word = own.word_order ?? (inherited === 'CDAB' || inherited === 'DCBA' ? 'little' : 'big');
  const byte = own.byte_order ?? (inherited === 'BADC' || inherited === 'DCBA' ? 'little' : 'big');
  return composeOrder(word, byte);
}

export const SNAKE_ID = /^[a-z][a-z0-9_]*$/;
export const PointId = z.string().regex(SNAKE_ID, 'point ids are snake_case');
/**
 * An on-wire address: a number (YAML reads 0x2000 as one), or hex text as manuals print it,
 * "2000H" (CHINT, Acrel) or a quoted "0x2000". Other text, a quoted "30001" above all, may be
 * a register number counted from 1 and is refused rather than guessed at.
 */
const Address = z.union([
  z.number(),
  z.string().transform((text, ctx) => {
    const m = /^(?:0x([0-9a-f]{1,4})|([0-9a-f]{1,4})h)$/i.exec(text);
    if (m) return parseInt(m[1] ?? m[2]!, 16);
    ctx.addIssue({ code: 'custom', message: `address ${JSON.stringify(text)}: write the 0-based on-wire address as a number (72, 0x48) or as hex with H (0048H)` });
    return z.NEVER;
  }),
]).pipe(z.number().int().min(0).max(65535));
/**
 * Other spellings of the gateway's units, as manuals and plant engineers write them, by the
 * text with spaces dropped. Exact, not case-folded: mW and MW, or a and A, are not the same.
 */
const UNIT_SPELLINGS: Readonly<Record<string, UnitName>> = {
  KWH: 'kWh', kwh: 'kWh', KWh: 'kWh', kWH: 'kWh', 'kW·h': 'kWh', 'kW.h': 'kWh', 'kW*h': 'kWh',
  'W·h': 'Wh', 'W.h': 'Wh', MWH: 'MWh', 'MW·h': 'MWh',
  KW: 'kW', kw: 'kW',
  VAr: 'var', VAR: 'var', Var: 'var', kVAr: 'kvar', kVAR: 'kvar', kVar: 'kvar', KVAR: 'kvar',
  VArh: 'varh', VARh: 'varh', Varh: 'varh', kVArh: 'kvarh', kVARh: 'kvarh', kVarh: 'kvarh', KVARH: 'kvarh',
  'kvar·h': 'kvarh', 'kvar.h': 'kvarh', MVArh: 'Mvarh', MVARh: 'Mvarh',
  va: 'VA', KVA: 'kVA', kva: 'kVA', VAH: 'VAh', KVAh: 'kVAh', kVAH: 'kVAh', KVAH: 'kVAh',
  hz: 'Hz', HZ: 'Hz',
  'm³': 'm3', 'm^3': 'm3', M3: 'm3', 'Nm³': 'Nm3', 'Nm^3': 'Nm3',
  'm³/h': 'm3/h', 'm^3/h': 'm3/h', 'm3/hr': 'm3/h', 'm³/hr': 'm3/h', 'Nm³/h': 'Nm3/h', 'Nm3/hr': 'Nm3/h',
  l: 'L', 'l/h': 'L/h', 't/hr': 't/h', 'kg/hr': 'kg/h',
  '°C': 'degC', '℃': 'degC', degc: 'degC',
  percent: '%', pct: '%',
  KPa: 'kPa', kpa: 'kPa', Mpa: 'MPa', MPA: 'MPa', Bar: 'bar', BAR: 'bar',
};

export const Unit = z.union([z.enum(UNITS), z.string()]).transform((text, ctx): UnitName => {
  if ((UNITS as readonly string[]).includes(text)) return text as UnitName;
  const unit = UNIT_SPELLINGS[text.replace(/\s+/g, '')];
  if (unit !== undefined) return unit;
  ctx.addIssue({ code: 'custom', message: `unknown unit ${JSON.stringify(text)} (spell units as in src/core/units.ts, e.g. V, A, W, kWh, kvarh, m3, GJ, "1" for ratios)` });
  return z.NEVER;
});

/**
 * A raw value the device uses for "not available". Numbers compare with the raw integer
 * (signed or unsigned reading) or with the float; `0x…` strings are for 64-bit patterns that
 * a YAML number cannot hold exactly.
 */
export const Sentinel = z.union([
  z.number(),
  z.nan(),
  z.string().regex(/^(0x[0-9a-fA-F]+|-?[0-9]+)$/)
    .transform((s) => BigInt(s)),
], { error: 'write a number, or a 0x… string for 64-bit patterns (e.g. "0xFFFFFFFFFFFFFFFF")' });
export type Sentinel = z.infer<typeof Sentinel>;

const PointFields = {
  id: PointId,
  /** 0-based on-wire address; the manual's printed number goes in a YAML comment. */
  address: Address.describe('0-based on-wire address (the manual\'s printed number goes in a comment)'),
  function: ModbusFunctionName.optional().describe('register table (coil, discrete, holding, input, or function code 1-4); defaults.function, else holding'),
  type: ValueTypeName.optional().describe('value encoding; defaults.type, else uint16 (a bool point without a function is a coil)'),
  order: OrderName.optional(),
  word_order: Endianness.optional().describe('big: the high register first; little: the low register first (instead of order)'),
  byte_order: Endianness.optional().describe('big: the high byte of each register first; little: swapped (instead of order)'),
  /** For type `bit`: which bit of the register, 0 = least significant. */
  bit: z.number().int().min(0).max(15).optional().describe('type bit: which bit, 0 = least significant'),
  /** For type `string`: length in registers. */
  length: z.number().int().min(1).max(123).optional().describe('type string: length in registers'),
  /** Multiplier applied to the raw value (raw × scale + offset). */
  scale: z.number().refine((n) => n !== 0, 'scale must not be 0').optional().describe('multiplier: published = raw × scale + offset'),
  offset: z.number().optional(),
  /** Unit of the published value (after scale, offset, multiply_by and scale_register). */
  unit: Unit.default('').describe('unit of the published (primary-side, scaled) value'),
  /** A cumulative counter; `max` is where it rolls over, in published units. */
  counter: z.strictObject({ max: z.number().positive().optional() }).optional().describe('cumulative counter; max = rollover value in published units'),
  /** Raw values that mean "not available"; added to the type's defaults (NaN and ±∞ for floats). */
  invalid: z.array(Sentinel).optional().describe('raw values meaning "not available" (NaN/infinity are always invalid for floats)'),
  /** Point ids or setting names whose values multiply this one (CT/PT ratios). */
  multiply_by: z.array(z.string().regex(SNAKE_ID)).optional().describe('point ids (ratio registers) or setting names multiplied in, for primary-side values'),
  /** A point holding a power-of-ten exponent applied to this value (SunSpec *_SF style). */
  scale_register: PointId.optional().describe('point holding a power-of-ten exponent applied to this value'),
  /** Read and used by other points, but not published. */
  internal: z.boolean().optional().describe('read for other points, never published'),
  /** Poll class, e.g. "15m" for slow counters; defaults to the device's poll interval. */
  interval: Duration.optional().describe('poll class such as 15s or 15m; default: the device poll interval'),
  description: z.string().optional(),
  /**
   * Why this point's address or encoding is not confirmed by the manufacturer's manual (it
   * rests on a transcription); `read` says so beside the values, so that whoever
   * commissions the meter compares them with its display.
   */
  unverified: z.string().min(1).optional().describe('why the address or encoding is not confirmed by the manufacturer\'s manual; read asks to compare the value with the meter\'s display'),
};

export const ProfilePoint = z.strictObject(PointFields).superRefine(oneOrderSpelling);
export type ProfilePoint = z.infer<typeof ProfilePoint>;

export const ProfileDefaults = z.strictObject({
  function: ModbusFunctionName.optional(),
  type: ValueTypeName.optional(),
  order: OrderName.optional(),
  word_order: Endianness.optional(),
  byte_order: Endianness.optional(),
  interval: Duration.optional(),
}).superRefine(oneOrderSpelling);
export type ProfileDefaults = z.infer<typeof ProfileDefaults>;

export const AddressRange = z.strictObject({
  function: ModbusFunctionName,
  from: Address,
  to: Address,
}).refine((r) => r.to >= r.from, { message: '"to" must not be below "from"', path: ['to'] });
export type AddressRange = z.infer<typeof AddressRange>;

export const ReadLimits = z.strictObject({
  /** Registers per request; the protocol allows 125, many meters less. */
  max_registers: z.number().int().min(1).max(125).optional(),
  /** Coils/discrete inputs per request; the protocol allows 2000. */
  max_bits: z.number().int().min(1).max(2000).optional(),
  /** Unused registers a request may read to join two runs of points. */
  max_gap: z.number().int().min(0).max(124).optional(),
  /** One request per point, for devices that reject block reads. */
  per_point: z.boolean().optional(),
});
export type ReadLimits = z.infer<typeof ReadLimits>;

export const Reference = z.strictObject({
  title: z.string().min(1),
  revision: z.string().min(1),
  url: z.string().optional(),
  note: z.string().optional(),
});
export type Reference = z.infer<typeof Reference>;

export const ProfileSetting = z.strictObject({
  default: z.number(),
  description: z.string().optional(),
});
export type ProfileSetting = z.infer<typeof ProfileSetting>;

/** A point after the profile's defaults have been applied: what the decoder and planner use. */
export interface ModbusPoint {
  id: string;
  address: number;
  function: ModbusFunction;
  type: ValueType;
  order: Order;
  bit?: number;
  length?: number;
  scale: number;
  offset: number;
  unit: string;
  counter?: { max?: number };
  invalid: Sentinel[];
  multiply_by: string[];
  scale_register?: string;
  internal: boolean;
  /** Poll class in ms; undefined = the device's poll interval. */
  interval?: number;
  description?: string;
  /** Why the address or encoding is not confirmed by the manufacturer's manual. */
  unverified?: string;
}

export const BUILTIN_DEFAULTS = { function: 'holding', type: 'uint16', order: 'ABCD' } as const;

/** Applies profile defaults to one parsed point. */
export function resolvePoint(p: ProfilePoint, defaults: ProfileDefaults = {}): ModbusPoint {
  // A coil or discrete input without a type is a bool (whatever the register default), and a
  // bool without a function is a coil.
  const namedFn = p.function ?? defaults.function;
  const type = p.type ?? (namedFn === 'coil' || namedFn === 'discrete' ? 'bool' : defaults.type ?? BUILTIN_DEFAULTS.type);
  const fn = namedFn ?? (type === 'bool' ? 'coil' : BUILTIN_DEFAULTS.function);
  const point: ModbusPoint = {
    id: p.id,
    address: p.address,
    function: fn,
    type,
    order: resolveOrder(p, resolveOrder(defaults, BUILTIN_DEFAULTS.order)),
    scale: p.scale ?? 1,
    offset: p.offset ?? 0,
    unit: p.unit,
    invalid: p.invalid ?? [],
    multiply_by: p.multiply_by ?? [],
    internal: p.internal ?? false,
  };
  if (p.bit !== undefined) point.bit = p.bit;
  if (p.length !== undefined) point.length = p.length;
  if (p.counter !== undefined) point.counter = p.counter;
  if (p.scale_register !== undefined) point.scale_register = p.scale_register;
  const interval = p.interval ?? defaults.interval;
  if (interval !== undefined) point.interval = interval;
  if (p.description !== undefined) point.description = p.description;
  if (p.unverified !== undefined) point.unverified = p.unverified;
  return point;
}

/** Registers (or bits, for coil/discrete) a point occupies on the wire. */
export function pointWidth(p: Pick<ModbusPoint, 'function' | 'type' | 'length'>): number {
  if (p.function === 'coil' || p.function === 'discrete') return 1;
  switch (p.type) {
    case 'int32': case 'uint32': case 'float32': case 'bcd32': return 2;
    case 'int64': case 'uint64': case 'float64': return 4;
    case 'string': return p.length ?? 1;
    default: return 1;
  }
}

const NUMERIC_TYPES: ReadonlySet<ValueType> = new Set([
  'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'bcd16', 'bcd32',
]);
export function isNumericType(t: ValueType): boolean {
  return NUMERIC_TYPES.has(t);
}

/** The part of zod's refinement context the checks use, so they also run outside a parse. */
type Ctx = Pick<z.core.$RefinementCtx, 'addIssue'>;

/** Problems in one point that need no knowledge of its neighbours. */
function checkPoint(p: ModbusPoint, i: number, ctx: Ctx): void {
  const at = (field: string): (string | number)[] => ['points', i, field];
  const bitFn = p.function === 'coil' || p.function === 'discrete';
  if (bitFn && p.type !== 'bool') {
    ctx.addIssue({ code: 'custom', path: at('type'), message: `${p.function} points are type bool, not ${p.type}` });
  }
  if (p.type === 'bit' && p.bit === undefined) {
    ctx.addIssue({ code: 'custom', path: at('bit'), message: 'type bit needs "bit: 0..15"' });
  }
  if (p.type !== 'bit' && p.bit !== undefined) {
    ctx.addIssue({ code: 'custom', path: at('bit'), message: `"bit" only applies to type bit, not ${p.type}` });
  }
  if (p.type === 'string' && p.length === undefined) {
    ctx.addIssue({ code: 'custom', path: at('length'), message: 'type string needs "length" in registers' });
  }
  if (p.type !== 'string' && p.length !== undefined) {
    ctx.addIssue({ code: 'custom', path: at('length'), message: `"length" only applies to type string, not ${p.type}` });
  }
  if (!isNumericType(p.type)) {
    for (const field of ['counter', 'scale_register'] as const) {
      if (p[field] !== undefined) {
        ctx.addIssue({ code: 'custom', path: at(field), message: `"${field}" needs a numeric type, not ${p.type}` });
      }
    }
    if (p.multiply_by.length > 0) {
      ctx.addIssue({ code: 'custom', path: at('multiply_by'), message: `"multiply_by" needs a numeric type, not ${p.type}` });
    }
  }
  if (p.type === 'int64' || p.type === 'uint64') {
    // Past 2^53 a YAML number is not the integer written: 9223372036854775807 arrives as
    // 2^63 and would match 0x8000000000000000 instead of 0x7FFFFFFFFFFFFFFF.
    const inexact = p.invalid.find((s) => typeof s === 'number' && Number.isInteger(s) && !Number.isSafeInteger(s));
    if (inexact !== undefined) {
      ctx.addIssue({ code: 'custom', path: at('invalid'), message: `${String(inexact)} is past 2^53, where a number is not exact; write a 64-bit pattern as a "0x…" string (e.g. "0x8000000000000000")` });
    }
  }
  if (p.address + pointWidth(p) - 1 > 65535) {
    ctx.addIssue({ code: 'custom', path: at('address'), message: 'point runs past address 65535' });
  }
  const canonical = canonicalUnit(p.id);
  if (canonical && !p.internal && p.unit !== canonical.unit) {
    ctx.addIssue({
      code: 'custom', path: at('unit'),
      message: `${p.id} is ${canonical.quantity}, published in ${canonical.unit} (scale the register), not "${p.unit}"`,
    });
  }
}

function overlaps(a: { from: number; to: number }, b: { from: number; to: number }): boolean {
  return a.from <= b.to && b.from <= a.to;
}

type CheckedParts = {
  points: readonly ModbusPoint[];
  settings: Readonly<Record<string, ProfileSetting>>;
  unreadable: readonly AddressRange[];
  read?: ReadLimits;
};

function checkProfile(profile: CheckedParts, ctx: Ctx): void {
  const byId = new Map<string, ModbusPoint>();
  const maxRegisters = profile.read?.max_registers;
  profile.points.forEach((p, i) => {
    if (byId.has(p.id)) ctx.addIssue({ code: 'custom', path: ['points', i, 'id'], message: `duplicate point id "${p.id}"` });
    byId.set(p.id, p);
    checkPoint(p, i, ctx);
    // The planner never splits a point over two requests (its halves would be two moments
    // apart), so a point wider than the device's request limit has no request that fits.
    const width = pointWidth(p);
    if (maxRegisters !== undefined && p.function !== 'coil' && p.function !== 'discrete' && width > maxRegisters) {
      ctx.addIssue({
        code: 'custom', path: ['points', i, p.type === 'string' ? 'length' : 'type'],
        message: `"${p.id}" is ${p.type}, ${width} registers, more than read.max_registers ${maxRegisters} allows in one request`,
      });
    }
  });

  for (const name of Object.keys(profile.settings)) {
    if (byId.has(name)) {
      ctx.addIssue({ code: 'custom', path: ['settings', name], message: `setting "${name}" has the same name as a point; multiply_by would be ambiguous` });
    }
  }

  profile.points.forEach((p, i) => {
    p.multiply_by.forEach((name, j) => {
      const source = byId.get(name);
      if (name === p.id) {
        ctx.addIssue({ code: 'custom', path: ['points', i, 'multiply_by', j], message: 'a point cannot multiply itself' });
      } else if (source) {
        if (!isNumericType(source.type)) {
          ctx.addIssue({ code: 'custom', path: ['points', i, 'multiply_by', j], message: `"${name}" is not numeric` });
        }
        if (source.multiply_by.length > 0 || source.scale_register !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['points', i, 'multiply_by', j], message: `"${name}" is itself derived; multiply by raw registers or settings only` });
        }
      } else if (!(name in profile.settings)) {
        ctx.addIssue({ code: 'custom', path: ['points', i, 'multiply_by', j], message: `"${name}" is neither a point nor a setting of this profile` });
      }
    });
    if (p.scale_register !== undefined) {
      const source = byId.get(p.scale_register);
      if (!source || source.id === p.id) {
        ctx.addIssue({ code: 'custom', path: ['points', i, 'scale_register'], message: `"${p.scale_register}" is not another point of this profile` });
      } else if (!isNumericType(source.type)) {
        ctx.addIssue({ code: 'custom', path: ['points', i, 'scale_register'], message: `"${p.scale_register}" is not numeric` });
      }
    }
  });

  // Two points may share a register only when both pick single bits out of it.
  const spans = profile.points.map((p, i) => ({ p, i, from: p.address, to: p.address + pointWidth(p) - 1 }));
  spans.sort((a, b) => a.p.function.localeCompare(b.p.function) || a.from - b.from);
  for (let k = 1; k < spans.length; k++) {
    const cur = spans[k]!;
    for (let m = k - 1; m >= 0; m--) {
      const prev = spans[m]!;
      if (prev.p.function !== cur.p.function) break;
      if (!overlaps(prev, cur)) continue;
      const bothBits = prev.p.type === 'bit' && cur.p.type === 'bit' && prev.p.bit !== cur.p.bit;
      if (!bothBits) {
        ctx.addIssue({
          code: 'custom', path: ['points', cur.i, 'address'],
          message: `${cur.p.function} registers of "${cur.p.id}" overlap "${prev.p.id}"`,
        });
      }
    }
  }

  profile.points.forEach((p, i) => {
    const span = { from: p.address, to: p.address + pointWidth(p) - 1 };
    const hit = profile.unreadable.find((r) => r.function === p.function && overlaps(r, span));
    if (hit) {
      ctx.addIssue({ code: 'custom', path: ['points', i, 'address'], message: `"${p.id}" lies in an unreadable ${hit.function} range` });
    }
  });
}

/** Fields every profile has, whatever its protocol. */
export const ProfileHeaderFields = {
  schema: z.literal(PROFILE_SCHEMA_ID),
  /** Lower-case `<vendor>-<model>`, the name devices use in `driver:`. */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'profile ids are lower-case, digits and "-"'),
  manufacturer: z.string().min(1),
  model: z.string().min(1),
  description: z.string().optional(),
  references: z.array(Reference).min(1, 'name the manual (title and revision) the register map comes from'),
};

/** A Modbus profile as written in YAML, before defaults are applied. */
export const ModbusProfileShape = z.strictObject({
  ...ProfileHeaderFields,
  protocol: z.literal('modbus'),
  defaults: ProfileDefaults.default({}),
  read: ReadLimits.default({}),
  unreadable: z.array(AddressRange).default([]),
  settings: z.record(z.string().regex(SNAKE_ID, 'setting names are snake_case'), ProfileSetting).default({}),
  points: z.array(ProfilePoint).min(1),
});

/** One meter model: a YAML file under drivers/. Points come out with defaults applied. */
export const DriverProfile = ModbusProfileShape
  .transform(({ points, ...rest }) => ({ ...rest, points: points.map((p) => resolvePoint(p, rest.defaults)) }))
  .superRefine((profile, ctx) => checkProfile(profile, ctx));
export type DriverProfile = z.infer<typeof DriverProfile>;

export interface PointProblem {
  /** Path inside the checked object, e.g. ['points', 3, 'bit']. */
  path: (string | number)[];
  message: string;
}

/**
 * The same checks a profile gets at load time (bit/length/type consistency, overlaps, ratio
 * references, canonical units, unreadable ranges), for point lists assembled elsewhere, e.g.
 * a device's inline points merged with its profile. Paths start with 'points' or 'settings'.
 */
export function pointProblems(
  points: readonly ModbusPoint[],
  settings: Readonly<Record<string, ProfileSetting>> = {},
  unreadable: readonly AddressRange[] = [],
  read: ReadLimits = {},
): PointProblem[] {
  const problems: PointProblem[] = [];
  const ctx: Ctx = {
    addIssue: (issue) => {
      if (typeof issue === 'string') problems.push({ path: [], message: issue });
      else problems.push({ path: (issue.path ?? []).map((k) => (typeof k === 'symbol' ? String(k) : k)), message: issue.message ?? 'invalid' });
    },
  };
  checkProfile({ points, settings, unreadable, read }, ctx);
  return problems;
}

import { quantityUnit, rateUnit } from '../core/quantity.js';
import { canonicalUnit } from '../profiles/canonical.js';
import type { AddressRange, DriverProfile, ModbusPoint } from '../profiles/schema.js';
import { decodeValue, encodeValue } from '../protocols/modbus/decode.js';
import { canonicalValues, loadShapeFor, SIM_UNITS, type LoadShape } from './physics.js';
import { RegisterMap } from './register-map.js';

export interface SimulatedMeterOptions {
  unitId: number;
  profile: Pick<DriverProfile, 'id' | 'points' | 'settings'> & {
    unreadable?: readonly AddressRange[];
    /** The model's request limits: a longer request is refused, as the meter refuses it. */
    read?: Pick<DriverProfile['read'], 'max_registers' | 'max_bits'>;
  };
  seed?: number;
  shape?: LoadShape;
  /**
   * Ratios the meter holds in its ratio registers (e.g. { ct_ratio: 40 }): it then serves
   * secondary-side values, as a meter behind a current transformer does.
   */
  ratios?: Record<string, number>;
  /**
   * Values of profile settings that stand for transformers the meter does not know about
   * (e.g. { ct_ratio: 40 } for a CHINT DDSU666 behind 200/5 A CTs, whose ratios are gateway
   * settings, not registers): the meter serves what it measures behind them, the secondary
   * side, and the gateway publishes the primary side when the device's `settings` say the same.
   * Without them, a setting stands at its profile default.
   */
  settings?: Record<string, number>;
  /** Simulation epoch; t = 0 there. */
  epochMs?: number;
  /**
   * Reuse the register image for this long (ms). 0 (the default) computes the values at the
   * exact time of every request; the benchmark uses 100 to keep simulators cheap.
   */
  imageCacheMs?: number;
  /**
   * How the meter refuses a read that touches an unreadable range: exception 2 (the
   * default), or no answer at all, as many serial meters do.
   */
  refuse?: 'exception' | 'silent';
  /**
   * Answer only for the registers the profile's points cover (RegisterMap) and refuse a read
   * that touches any other, as meters do that know nothing of the holes in their map. The
   * default answers any register of a read that touches at least one point.
   */
  strict?: boolean;
  /**
   * The most registers this meter answers in one request, when lower than its profile's
   * read.max_registers: a meter with a smaller buffer than its manual (or its profile) says.
   */
  maxRegisters?: number;
  /**
   * What a read longer than the limit gets: exception 3 (illegal data value, the Modbus rule
   * and the default), exception 2, which some meters answer instead, or 'silent': no answer
   * at all, as cheap meters with a short receive buffer do.
   */
  limitException?: LimitAnswer;
}

/** How a meter answers a read over its limit: with this exception, or not at all. */
export type LimitAnswer = 2 | 3 | 'silent';

type Word = number | boolean;
type Image = Map<ModbusPoint['function'], Map<number, Word>>;

/** Extra units a point may be declared in, as multiples of the simulated unit. */
const EXTRA_FACTORS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  V: { kV: 0.001 },
  A: { kA: 0.001 },
  W: { kW: 0.001, MW: 1e-6 },
  var: { kvar: 0.001 },
  VA: { kVA: 0.001 },
  kvarh: { varh: 1000, Mvarh: 0.001 },
  kVAh: { VAh: 1000 },
  degC: { K: 1 },
};

/** Factor from the simulated unit to a point's unit, 1 when unknown or equal. */
function unitFactor(from: string, to: string): number {
  if (from === to || to === '') return 1;
  const extra = EXTRA_FACTORS[from]?.[to];
  if (extra !== undefined) return extra;
  const a = quantityUnit(from);
  const b = quantityUnit(to);
  if (a.dimension !== 'other' && a.canonical === b.canonical) return a.scale / b.scale;
  const ra = rateUnit(from);
  const rb = rateUnit(to);
  if (ra && rb && ra.canonical === rb.canonical) return ra.scale / rb.scale;
  return 1;
}

/**
 * Register-level view of one simulated meter: what a real device would answer. It serves
 * every point of its profile — ratio registers with its ratios, measured values on the
 * secondary side — and refuses reads that touch the profile's unreadable ranges.
 */
export class SimulatedMeter {
  readonly unitId: number;
  readonly shape: LoadShape;
  readonly profileId: string;
  readonly refuse: 'exception' | 'silent';
  /** What a read of more registers (or coils) than maxCount gets. */
  readonly limitException: LimitAnswer;
  private readonly epochMs: number;
  private readonly points: readonly ModbusPoint[];
  private readonly byId: Map<string, ModbusPoint>;
  private readonly ratioIds: Set<string>;
  private readonly scaleRegisterIds: Set<string>;
  private readonly unreadable: readonly AddressRange[];
  /** Set when strict: the only registers the meter answers for. */
  private readonly map: RegisterMap | null;
  private readonly cacheMs: number;
  private image: { tMs: number; image: Image } | null = null;
  private readonly heldRatios = new Map<string, number>();

  constructor(private readonly opts: SimulatedMeterOptions) {
    this.unitId = opts.unitId;
    this.profileId = opts.profile.id;
    this.refuse = opts.refuse ?? 'exception';
    this.limitException = opts.limitException ?? 3;
    this.shape = opts.shape ?? loadShapeFor(opts.seed ?? opts.unitId);
    // Counting from now keeps counters in the range real meters show (and float32 exact enough).
    this.epochMs = opts.epochMs ?? Date.now();
    this.points = opts.profile.points;
    this.byId = new Map(this.points.map((p) => [p.id, p]));
    this.ratioIds = new Set(this.points.flatMap((p) => p.multiply_by).filter((id) => this.byId.has(id)));
    this.scaleRegisterIds = new Set(this.points.flatMap((p) => (p.scale_register ? [p.scale_register] : [])));
    this.unreadable = opts.profile.unreadable ?? [];
    this.map = opts.strict ? new RegisterMap(this.points) : null;
    this.cacheMs = opts.imageCacheMs ?? 0;
  }

  /**
   * The ratio a multiply_by name stands for on this meter: what its ratio register holds, or
   * for a ratio the meter does not hold, the setting it was built with, else the profile
   * setting's default (what the gateway uses when the device config sets nothing).
   */
  ratio(name: string): number {
    if (this.ratioIds.has(name)) {
      let held = this.heldRatios.get(name);
      if (held === undefined) {
        held = this.holdable(this.byId.get(name)!, this.opts.ratios?.[name] ?? 1);
        this.heldRatios.set(name, held);
      }
      return held;
    }
    return this.opts.settings?.[name] ?? this.opts.profile.settings[name]?.default ?? 1;
  }

  /**
   * The ratio as the register can hold it: a PT ratio of 2.5 in an integer register is 3 on
   * the wire, and the meter's secondary values must be consistent with what it holds.
   */
  private holdable(p: ModbusPoint, wanted: number): number {
    try {
      const held = decodeValue(p, encodeValue(p, wanted)).value;
      return typeof held === 'number' && held !== 0 ? held : 1;
    } catch {
      return 1;
    }
  }

  /**
   * What the gateway should publish for a numeric point at time tMs: primary side, in the
   * point's unit. For ids outside the profile, the simulated quantity in its own unit.
   */
  valueAt(pointId: string, tMs: number): number | undefined {
    const v = this.published(pointId, tMs);
    return typeof v === 'number' ? v : undefined;
  }

  /** What the gateway should publish for any point (numbers, strings, flags). */
  published(pointId: string, tMs: number): number | string | boolean | undefined {
    const values = canonicalValues(this.shape, (tMs - this.epochMs) / 1000);
    const p = this.byId.get(pointId);
    if (!p) return values[pointId];
    return this.primary(p, values);
  }

  /**
   * The most registers (or coils) this model answers in one request: its profile's read
   * limits, else the protocol's 125 registers and 2000 bits (Modbus Application Protocol §6.1-6.4);
   * the maxRegisters option only lowers the register limit.
   */
  maxCount(fn: ModbusPoint['function']): number {
    const bits = fn === 'coil' || fn === 'discrete';
    const limits = this.opts.profile.read;
    if (bits) return limits?.max_bits ?? 2000;
    return Math.min(limits?.max_registers ?? 125, this.opts.maxRegisters ?? 125);
  }

  /**
   * Whether the meter answers a read of [address, address+count): clear of the profile's
   * unreadable ranges, and for a strict meter, inside its map.
   */
  readable(fn: ModbusPoint['function'], address: number, count: number): boolean {
    const last = address + count - 1;
    if (this.unreadable.some((r) => r.function === fn && r.from <= last && address <= r.to)) return false;
    return this.map === null || this.map.covers(fn, address, count);
  }

  /** Registers [address, address+count) of one function at time tMs; null if none of them is mapped. */
  read(fn: ModbusPoint['function'], address: number, count: number, tMs: number): Word[] | null {
    const table = this.imageAt(tMs).get(fn);
    if (!table) return null;
    const bits = fn === 'coil' || fn === 'discrete';
    const out = new Array<Word>(count);
    let mapped = false;
    for (let i = 0; i < count; i++) {
      const w = table.get(address + i);
      if (w === undefined) out[i] = bits ? false : 0;
      else {
        out[i] = w;
        mapped = true;
      }
    }
    return mapped ? out : null;
  }

  private imageAt(tMs: number): Image {
    const key = this.cacheMs > 0 ? Math.floor(tMs / this.cacheMs) * this.cacheMs : tMs;
    if (this.image?.tMs === key) return this.image.image;
    const values = canonicalValues(this.shape, (key - this.epochMs) / 1000);
    const image: Image = new Map();
    for (const p of this.points) {
      let table = image.get(p.function);
      if (!table) image.set(p.function, (table = new Map()));
      const words = this.encode(p, values);
      words.forEach((w, i) => {
        const a = p.address + i;
        const prev = table.get(a);
        // Bit points share a register: OR them in.
        table.set(a, p.type === 'bit' && typeof w === 'number' && typeof prev === 'number' ? prev | w : w);
      });
    }
    this.image = { tMs: key, image };
    return image;
  }

  /** The published value of a point (primary side, point unit). */
  private primary(p: ModbusPoint, values: Record<string, number>): number | string | boolean {
    if (this.ratioIds.has(p.id)) return this.ratio(p.id);
    if (this.scaleRegisterIds.has(p.id)) return 0;
    if (p.type === 'string') return `SIM-${this.opts.profile.id}`.slice(0, (p.length ?? 1) * 2);
    if (p.type === 'bool' || p.type === 'bit') return false;
    const simUnit = canonicalUnit(p.id)?.unit ?? SIM_UNITS[p.id] ?? p.unit;
    let v = (values[p.id] ?? fallbackValue(p.id, values)) * unitFactor(simUnit, p.unit);
    // A counter rolls over at its maximum, as the real register does.
    if (p.counter?.max !== undefined) v %= p.counter.max;
    return v;
  }

  private encode(p: ModbusPoint, values: Record<string, number>): Word[] {
    const published = this.primary(p, values);
    let wire = published;
    if (typeof published === 'number' && !this.ratioIds.has(p.id)) {
      // The meter holds secondary values; the gateway multiplies the ratios back in.
      wire = p.multiply_by.reduce((v, name) => v / this.ratio(name), published);
    }
    try {
      return encodeValue(p, wire);
    } catch {
      // Out of the register's range: a real meter would show garbage; the test of every
      // profile catches it, since the published value then differs from the truth.
      return encodeValue(p, 0);
    }
  }
}

/** A plausible value for an id the physics does not know (new profiles keep working). */
function fallbackValue(id: string, v: Record<string, number>): number {
  const at = (key: string) => v[key] ?? 0;
  if (/^thd_/.test(id)) return 3;
  if (/energy/.test(id)) return at('active_energy_import_total') / (/_l[123]\b/.test(id) ? 3 : 1);
  if (/power_factor/.test(id)) return at('power_factor_total');
  if (/power/.test(id)) return at('active_power_total') / (/_l[123]\b/.test(id) ? 3 : 1);
  if (/voltage/.test(id)) return at('voltage_l1');
  if (/current/.test(id)) return at('current_l1');
  if (/temperature/.test(id)) return 40;
  return 1;
}

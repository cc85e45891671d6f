import type { DriverProfile, ModbusPoint } from '../profiles/schema.js';
import { encodeValue } from '../protocols/modbus/decode.js';
import { canonicalValues, loadShapeFor, type LoadShape } from './physics.js';

export interface SimulatedMeterOptions {
  unitId: number;
  profile: Pick<DriverProfile, 'id' | 'points' | 'settings'>;
  seed?: number;
  shape?: LoadShape;
  /** Ratio values the meter holds in its ratio registers (e.g. { ct_ratio: 60 }). */
  ratios?: Record<string, number>;
  /** Simulation epoch; t = 0 there. */
  epochMs?: number;
}

/** Register-level view of one simulated meter: what a real device would answer. */
export class SimulatedMeter {
  readonly unitId: number;
  readonly shape: LoadShape;
  private readonly epochMs: number;
  private readonly byFunction = new Map<string, ModbusPoint[]>();
  private readonly points: ModbusPoint[];

  constructor(private readonly opts: SimulatedMeterOptions) {
    this.unitId = opts.unitId;
    this.shape = opts.shape ?? loadShapeFor(opts.seed ?? opts.unitId);
    // Counting from now keeps counters in the range real meters show (and float32 exact enough).
    this.epochMs = opts.epochMs ?? Date.now();
    this.points = opts.profile.points;
    for (const p of this.points) {
      const list = this.byFunction.get(p.function) ?? [];
      list.push(p);
      this.byFunction.set(p.function, list);
    }
  }

  /** The published (primary-side, canonical-unit) value of a point at a time. */
  valueAt(pointId: string, tMs: number): number | undefined {
    return canonicalValues(this.shape, (tMs - this.epochMs) / 1000)[pointId];
  }

  /** Registers [address, address+count) of one function at time tMs; null if none of them is mapped. */
  read(fn: ModbusPoint['function'], address: number, count: number, tMs: number): Array<number | boolean> | null {
    const points = this.byFunction.get(fn) ?? [];
    const out: Array<number | boolean> = new Array<number | boolean>(count).fill(fn === 'coil' || fn === 'discrete' ? false : 0);
    const values = canonicalValues(this.shape, (tMs - this.epochMs) / 1000);
    let mapped = false;
    for (const p of points) {
      const words = this.encode(p, values);
      for (let i = 0; i < words.length; i++) {
        const a = p.address + i;
        if (a < address || a >= address + count) continue;
        mapped = true;
        const w = words[i]!;
        // Bit points share a register: OR them in.
        out[a - address] = p.type === 'bit' && typeof w === 'number' ? (out[a - address] as number) | w : w;
      }
    }
    return mapped ? out : null;
  }

  private encode(p: ModbusPoint, values: Record<string, number>): Array<number | boolean> {
    let value: number | string | boolean;
    if (this.isRatio(p.id)) {
      value = this.opts.ratios?.[p.id] ?? 1;
    } else if (p.type === 'string') {
      value = `SIM-${this.opts.profile.id}`.slice(0, (p.length ?? 1) * 2);
    } else if (p.type === 'bool' || p.type === 'bit') {
      value = false;
    } else if (this.isScaleRegister(p.id)) {
      value = 0;
    } else {
      const primary = values[p.id] ?? 0;
      const divisor = p.multiply_by.reduce((acc, name) => acc * (this.opts.ratios?.[name] ?? this.opts.profile.settings[name]?.default ?? 1), 1);
      value = primary / divisor;
    }
    try {
      return encodeValue(p, value);
    } catch {
      return encodeValue(p, 0);
    }
  }

  private isRatio(id: string): boolean {
    return this.points.some((q) => q.multiply_by.includes(id));
  }

  private isScaleRegister(id: string): boolean {
    return this.points.some((q) => q.scale_register === id);
  }
}

import type { ModbusPoint } from '../profiles/schema.js';
import type { SimulatedMeter } from './modbus-meter.js';

/** How a simulated unit misbehaves; tests switch these at run time. */
export type Fault =
  /** Never answers: a dead or unpowered device. */
  | { kind: 'silent' }
  /** Answers after this long: a slow device (or one slower than the gateway's timeout). */
  | { kind: 'delay'; ms: number }
  /** Answers every request with this exception code. */
  | { kind: 'exception'; code: number }
  /** Drops the connection when asked (TCP only): a gateway rebooting mid-poll. */
  | { kind: 'disconnect' };

export type Answer = { data: Array<number | boolean> } | { exception: number } | null;

export const FUNCTIONS: Record<number, ModbusPoint['function']> = { 1: 'coil', 2: 'discrete', 3: 'holding', 4: 'input' };

export interface AnswerContext {
  byUnit: ReadonlyMap<number, SimulatedMeter>;
  faults: ReadonlyMap<number, Fault>;
  now: () => number;
  /** What an absent unit does: a TCP gateway answers exception 11, an RS-485 line stays silent. */
  absentUnit: 'exception' | 'silent';
  /** Counts requests per unit, for tests that check the number of requests. */
  requests: Map<number, number>;
  onDisconnect?: () => void;
}

/**
 * The simulator's answer to one read request, whatever the transport. Resolves to null
 * when the unit stays silent.
 */
export async function answerRead(ctx: AnswerContext, unit: number, fc: number, address: number, count: number): Promise<Answer> {
  ctx.requests.set(unit, (ctx.requests.get(unit) ?? 0) + 1);
  const fault = ctx.faults.get(unit);
  if (fault?.kind === 'silent') return null;
  if (fault?.kind === 'disconnect') {
    ctx.onDisconnect?.();
    return null;
  }
  if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
  if (fault?.kind === 'exception') return { exception: fault.code };
  const meter = ctx.byUnit.get(unit);
  if (!meter) return ctx.absentUnit === 'silent' ? null : { exception: 11 };
  const fn = FUNCTIONS[fc];
  if (!fn) return { exception: 1 };
  if (!meter.readable(fn, address, count)) return { exception: 2 };
  const data = meter.read(fn, address, count, ctx.now());
  return data ? { data } : { exception: 2 };
}

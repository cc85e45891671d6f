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
  | { kind: 'disconnect' }
  /** RTU only: line noise — random bytes before the answer, and nothing else changed. */
  | { kind: 'noise'; bytes: number };

export interface SentAnswer {
  unit: number;
  data: Array<number | boolean>;
  /** How long the answer was held back by a `delay` fault. */
  delayedMs: number;
}

/** Answers kept in AnswerContext.answers. */
const ANSWER_LOG = 200;

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
  /** The latest answers with data, oldest first (tests tell a fresh answer from a late one). */
  answers: SentAnswer[];
  /** Requests being answered right now, and the most ever at once (one per bus is the rule). */
  inFlight: { now: number; max: number };
  onDisconnect?: () => void;
}

/**
 * The simulator's answer to one read request, whatever the transport. Resolves to null
 * when the unit stays silent.
 */
export async function answerRead(ctx: AnswerContext, unit: number, fc: number, address: number, count: number): Promise<Answer> {
  ctx.requests.set(unit, (ctx.requests.get(unit) ?? 0) + 1);
  ctx.inFlight.now += 1;
  ctx.inFlight.max = Math.max(ctx.inFlight.max, ctx.inFlight.now);
  // The fault in force when the request came decides how it is answered.
  const fault = ctx.faults.get(unit);
  try {
    const answer = await answer_(ctx, fault, unit, fc, address, count);
    if (answer && 'data' in answer) {
      ctx.answers.push({ unit, data: answer.data, delayedMs: fault?.kind === 'delay' ? fault.ms : 0 });
      if (ctx.answers.length > ANSWER_LOG) ctx.answers.splice(0, ctx.answers.length - ANSWER_LOG);
    }
    return answer;
  } finally {
    ctx.inFlight.now -= 1;
  }
}

async function answer_(ctx: AnswerContext, fault: Fault | undefined, unit: number, fc: number, address: number, count: number): Promise<Answer> {
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
  // A quantity the device does not serve in one request is exception 3 (§6.1-6.4), before
  // any address is looked at; a meter may be told to answer its limit with 2, as some do, or
  // to ignore such a read, as others do.
  if (count < 1) return { exception: 3 };
  if (count > meter.maxCount(fn)) return meter.limitException === 'silent' ? null : { exception: meter.limitException };
  if (!meter.readable(fn, address, count)) return meter.refuse === 'silent' ? null : { exception: 2 };
  const data = meter.read(fn, address, count, ctx.now());
  return data ? { data } : { exception: 2 };
}

// Cumulative-counter processing (reference §6.3), more conservative than Prometheus or
// Home Assistant because the result is billing-grade:
// - a small decrease is jitter: clamp to zero and keep the high-water mark;
// - a wrap is a rollover only near the top of the register's range AND when the
//   wrapped delta is plausible;
// - any other decrease is a reset candidate, held until the next reading decides
//   between a glitch (the level comes back: dropped) and a real reset (the counter
//   keeps counting from the low level: a RESET event, no delta across it unless the
//   channel is declared to restart at a known value, e.g. a PLC part counter at 0);
// - an increase above the plausible maximum is a spike candidate, held the same way:
//   confirmed when the next reading continues from the new level (a backlog after an
//   outage is real energy), dropped when it reverts (a glitchy read).
//
// All values are integer micro-units of the register's unit (see exact.ts).

export interface CounterRules {
  /** Register modulus M (micro-units): the value at which it wraps to 0. */
  modulusMicro?: number;
  /** |negative delta| at or below this is jitter (micro-units). */
  jitterMicro: number;
  /** Largest plausible increase per hour (micro-units/h), already including headroom. */
  maxRatePerHourMicro?: number;
  /** A rollover is only accepted when the previous reading is within this top share of range. */
  rolloverFraction: number;
  /** Value a reset counter restarts from (PLC part counters restart at 0); unknown when undefined. */
  resetToMicro?: number;
}

export interface CounterReading {
  tsMs: number;
  micro: number;
}

export interface PendingCandidate {
  kind: 'spike' | 'reset';
  tsMs: number;
  micro: number;
}

export interface CounterState {
  /** Last accepted time and the high-water value at that time. */
  last: CounterReading;
  pending?: PendingCandidate;
}

export type CounterFlag = 'valid' | 'jitter_clamped' | 'rollover' | 'reset' | 'spike_dropped' | 'spike_confirmed';

export interface CounterDelta {
  fromMs: number;
  toMs: number;
  micro: number;
  flags: CounterFlag[];
}

export interface CounterEvent {
  type: 'reset' | 'rollover' | 'spike_dropped' | 'spike_confirmed' | 'out_of_order';
  tsMs: number;
  previousMicro: number | null;
  /** Time of the last accepted reading before the event. */
  previousTsMs: number | null;
  micro: number;
  /** Delta credited because of this event (micro-units), null when none. */
  deltaMicro: number | null;
}

export interface CounterStep {
  state: CounterState;
  deltas: CounterDelta[];
  events: CounterEvent[];
}

/** Largest plausible increase over dtMs, or undefined when no rate limit is configured. */
function dMax(rules: CounterRules, dtMs: number): number | undefined {
  if (rules.maxRatePerHourMicro === undefined) return undefined;
  return (rules.maxRatePerHourMicro * Math.max(dtMs, 0)) / 3_600_000;
}

function plausibleIncrease(rules: CounterRules, d: number, dtMs: number): boolean {
  const limit = dMax(rules, dtMs);
  return d >= 0 && (limit === undefined || d <= limit);
}

/** Classifies r against the accepted reading p, ignoring pending candidates. */
type Verdict =
  | { kind: 'delta'; micro: number; flags: CounterFlag[]; newLast: CounterReading }
  | { kind: 'spike' }
  | { kind: 'reset' };

function classify(rules: CounterRules, p: CounterReading, r: CounterReading): Verdict {
  const d = r.micro - p.micro;
  const dt = r.tsMs - p.tsMs;
  const M = rules.modulusMicro;
  if (M !== undefined && d > 0 && r.micro < M && M - d <= rules.jitterMicro) {
    // Jitter across the wrap: a register at 0.00 read one step low shows 999,999.99.
    // Modulo M that is a small decrease, not a rise of (almost) a whole modulus, which
    // would otherwise be held as a spike and then "confirmed" by the next reading
    // rolling over from it (booking M of energy that was never counted).
    return { kind: 'delta', micro: 0, flags: ['jitter_clamped'], newLast: { tsMs: r.tsMs, micro: p.micro } };
  }
  if (d >= 0) {
    if (plausibleIncrease(rules, d, dt)) return { kind: 'delta', micro: d, flags: ['valid'], newLast: r };
    return { kind: 'spike' };
  }
  if (-d <= rules.jitterMicro) {
    // Keep the high-water mark: time advances, value does not go back.
    return { kind: 'delta', micro: 0, flags: ['jitter_clamped'], newLast: { tsMs: r.tsMs, micro: p.micro } };
  }
  if (M !== undefined && p.micro >= (1 - rules.rolloverFraction) * M && r.micro < M) {
    const wrapped = r.micro + M - p.micro;
    const limit = dMax(rules, dt);
    // Without a rate limit, a wrap must also land in the bottom share of the range.
    const plausible = limit !== undefined ? wrapped <= limit : r.micro <= rules.rolloverFraction * M;
    if (plausible) return { kind: 'delta', micro: wrapped, flags: ['rollover'], newLast: r };
  }
  return { kind: 'reset' };
}

/** Feeds one good reading to a counter. `state` undefined: first reading, a baseline only. */
export function stepCounter(rules: CounterRules, state: CounterState | undefined, r: CounterReading): CounterStep {
  if (!state) return { state: { last: r }, deltas: [], events: [] };
  const p = state.last;
  if (r.tsMs <= (state.pending?.tsMs ?? p.tsMs)) {
    // Out of order or repeated: a cumulative counter loses nothing by ignoring it.
    return { state, deltas: [], events: r.tsMs < p.tsMs ? [{ type: 'out_of_order', tsMs: r.tsMs, previousMicro: p.micro, previousTsMs: p.tsMs, micro: r.micro, deltaMicro: null }] : [] };
  }
  const pending = state.pending;
  if (!pending) return fresh(rules, p, r);

  if (pending.kind === 'spike') {
    const cont = classify(rules, pending, r);
    if (cont.kind === 'delta') {
      // The new level persists: the jump was real (e.g. a backlog). Book both parts.
      const jump = pending.micro - p.micro;
      const deltas: CounterDelta[] = [
        { fromMs: p.tsMs, toMs: pending.tsMs, micro: jump, flags: ['spike_confirmed'] },
        { fromMs: pending.tsMs, toMs: r.tsMs, micro: cont.micro, flags: cont.flags },
      ];
      return {
        state: { last: cont.newLast },
        deltas,
        events: [{ type: 'spike_confirmed', tsMs: pending.tsMs, previousMicro: p.micro, previousTsMs: p.tsMs, micro: pending.micro, deltaMicro: jump }],
      };
    }
    // Not a continuation: the candidate was a glitch. Judge r against the accepted level.
    const dropped: CounterEvent = { type: 'spike_dropped', tsMs: pending.tsMs, previousMicro: p.micro, previousTsMs: p.tsMs, micro: pending.micro, deltaMicro: null };
    const next = fresh(rules, p, r);
    return { ...next, deltas: next.deltas.map((d) => ({ ...d, flags: [...d.flags, 'spike_dropped'] })), events: [dropped, ...next.events] };
  }

  // Pending reset candidate.
  const back = classify(rules, p, r);
  if (back.kind === 'delta' && !back.flags.includes('rollover')) {
    // The level came back: the low reading was a glitch (e.g. a zero read).
    const dropped: CounterEvent = { type: 'spike_dropped', tsMs: pending.tsMs, previousMicro: p.micro, previousTsMs: p.tsMs, micro: pending.micro, deltaMicro: null };
    return { state: { last: back.newLast }, deltas: [{ fromMs: p.tsMs, toMs: r.tsMs, micro: back.micro, flags: [...back.flags, 'spike_dropped'] }], events: [dropped] };
  }
  const after = classify(rules, pending, r);
  if (after.kind === 'delta') {
    // The counter keeps counting from the low level: a real reset.
    const deltas: CounterDelta[] = [];
    let credited: number | null = null;
    if (rules.resetToMicro !== undefined && pending.micro >= rules.resetToMicro) {
      // Known restart value: what was counted since the reset is exact. What happened
      // between the last reading and the reset is unknown and not invented.
      credited = pending.micro - rules.resetToMicro;
      deltas.push({ fromMs: p.tsMs, toMs: pending.tsMs, micro: credited, flags: ['reset'] });
    }
    deltas.push({ fromMs: pending.tsMs, toMs: r.tsMs, micro: after.micro, flags: after.flags });
    return {
      state: { last: after.newLast },
      deltas,
      events: [{ type: 'reset', tsMs: pending.tsMs, previousMicro: p.micro, previousTsMs: p.tsMs, micro: pending.micro, deltaMicro: credited }],
    };
  }
  // Neither: replace the candidate with this reading and wait again.
  return fresh(rules, p, r);
}

function fresh(rules: CounterRules, p: CounterReading, r: CounterReading): CounterStep {
  const v = classify(rules, p, r);
  if (v.kind === 'delta') {
    const events: CounterEvent[] = v.flags.includes('rollover')
      ? [{ type: 'rollover', tsMs: r.tsMs, previousMicro: p.micro, previousTsMs: p.tsMs, micro: r.micro, deltaMicro: v.micro }]
      : [];
    return { state: { last: v.newLast }, deltas: [{ fromMs: p.tsMs, toMs: r.tsMs, micro: v.micro, flags: v.flags }], events };
  }
  return { state: { last: p, pending: { kind: v.kind, tsMs: r.tsMs, micro: r.micro } }, deltas: [], events: [] };
}

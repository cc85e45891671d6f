// The energy engine: device polls in, closed window records out. Pure: state and
// samples in, state and records out; no clock (the caller says what time it is),
// no I/O. Everything needed to resume lives in snapshot().
//
// Flow per reading: channel (counter rules or power integration) → delta in integer
// micro-units of the canonical unit, over a time span → split exactly across the
// clock-aligned windows of every series (account or EnPI × window length) that uses
// the channel → on advance(), windows whose end + grace has passed are closed into
// records, oldest first, each exactly once.
import type { DevicePoll } from './sample.js';
import type { EngineConfig } from './engine-config.js';
import type { CounterState } from './counter.js';
import { stepCounter } from './counter.js';
import { toMicro, scaleMicro, splitProRata } from './exact.js';
import { nextBoundary, windowStart } from './calendar.js';
import { buildModel, type Model, type ChannelModel, type SeriesModel } from './model.js';
import type { EngineRecord, EventRecord } from './records.js';
import { closeWindow, type OpenWindow } from './close.js';
import { integrateTrapezoid, type PowerSample } from './power.js';

export type { EngineConfig } from './engine-config.js';

export interface ChannelState {
  counter?: CounterState;
  /** Last good power sample (power channels). */
  power?: PowerSample;
  /** Canonical unit of the channel's deltas, as first seen. */
  unit?: string;
}

export interface SeriesState {
  /** Start of the first window of this series (set by the first reading). */
  startMs?: number;
  /** Every window ending at or before this instant has been emitted. */
  closedUntilMs?: number;
  /** Open windows by start_ms. */
  open: Record<string, OpenWindow>;
}

export interface EngineState {
  version: 1;
  channels: Record<string, ChannelState>;
  series: Record<string, SeriesState>;
  /** Unit each account books in (from its first delta). */
  accountUnits: Record<string, string>;
}

export interface Engine {
  /** Feed one device poll; returns event records (resets, rollovers, spikes). */
  ingest(poll: DevicePoll): EngineRecord[];
  /** Close every window whose end + grace ≤ nowMs; returns their records, oldest first. */
  advance(nowMs: number): EngineRecord[];
  /** JSON-serialisable state; createEngine(config, snapshot) resumes exactly. */
  snapshot(): EngineState;
}

export function emptyState(): EngineState {
  return { version: 1, channels: {}, series: {}, accountUnits: {} };
}

export function createEngine(config: EngineConfig, state?: EngineState): Engine {
  const model = buildModel(config);
  const st: EngineState = state ? structuredClone(state) : emptyState();
  return {
    ingest: (poll) => ingest(model, st, poll),
    advance: (nowMs) => advance(model, st, nowMs),
    snapshot: () => structuredClone(st),
  };
}

// ---------------------------------------------------------------- ingest

function ingest(model: Model, st: EngineState, poll: DevicePoll): EngineRecord[] {
  const out: EngineRecord[] = [];
  for (const [point, pv] of Object.entries(poll.values)) {
    const ch = model.channels.get(`${poll.device}/${point}`);
    if (!ch) continue;
    if (pv.quality !== 'good' || typeof pv.value !== 'number' || !Number.isFinite(pv.value)) continue;
    const tsMs = pv.sourceTsMs ?? poll.tsMs;
    const unit = ch.unit ?? pv.unit;
    if (ch.kind === 'power') ingestPower(model, st, ch, tsMs, pv.value, unit);
    else ingestCounter(model, st, ch, tsMs, pv.value, unit, out);
  }
  return out;
}

function channelState(st: EngineState, key: string): ChannelState {
  let cs = st.channels[key];
  if (!cs) {
    cs = {};
    st.channels[key] = cs;
  }
  return cs;
}

function ingestCounter(model: Model, st: EngineState, ch: ChannelModel, tsMs: number, value: number, unit: string, out: EngineRecord[]): void {
  const micro = toMicro(value);
  if (micro === undefined) return;
  const cs = channelState(st, ch.key);
  const q = ch.quantityUnit(unit);
  cs.unit ??= q.canonical;
  const first = cs.counter === undefined;
  const step = stepCounter(ch.rules(tsMs, q.scale), cs.counter, { tsMs, micro });
  cs.counter = step.state;
  if (first) startSeries(model, st, ch, tsMs);
  for (const d of step.deltas) {
    const scaled = scaleMicro(d.micro, q.scale * ch.multiplierAt(d.toMs));
    deliver(model, st, ch, d.fromMs, d.toMs, scaled, d.flags.filter((f) => f !== 'valid'));
  }
  for (const e of step.events) {
    const rec: EventRecord = {
      kind: 'event',
      id: `event/${e.type}/${ch.device}/${ch.point}/${e.tsMs}`,
      type: e.type,
      device: ch.device,
      point: ch.point,
      ts_ms: e.tsMs,
      previous_value: e.previousMicro === null ? null : e.previousMicro / 1e6,
      value: e.micro / 1e6,
      delta: e.deltaMicro === null ? null : scaleMicro(e.deltaMicro, q.scale * ch.multiplierAt(e.tsMs)) / 1e6,
      message: EVENT_MESSAGES[e.type],
    };
    out.push(rec);
  }
}

const EVENT_MESSAGES: Record<EventRecord['type'], string> = {
  reset: 'counter reset: no delta across the reset unless the restart value is configured',
  replacement: 'meter replaced: old final and new initial readings recorded',
  rollover: 'counter wrapped at the top of its range',
  spike_dropped: 'implausible reading dropped (it did not persist)',
  spike_confirmed: 'large increase confirmed by the next reading (e.g. a backlog after an outage)',
  manual_output: 'output entered manually',
  out_of_order: 'reading older than the last accepted one ignored',
};

function ingestPower(model: Model, st: EngineState, ch: ChannelModel, tsMs: number, value: number, unit: string): void {
  const cs = channelState(st, ch.key);
  const rate = ch.rateUnit(unit);
  if (!rate) return;
  cs.unit ??= rate.canonical;
  const sample: PowerSample = { tsMs, ratePerHour: value * rate.scale * ch.multiplierAt(tsMs) };
  const prev = cs.power;
  if (prev && tsMs <= prev.tsMs) return;
  cs.power = sample;
  if (!prev) {
    startSeries(model, st, ch, tsMs);
    return;
  }
  // Integrate only across normal poll spacing: a gap stays a gap (never zero-filled).
  if (tsMs - prev.tsMs > model.maxGapMs) return;
  const micro = integrateTrapezoid(prev, sample);
  if (micro === undefined) return;
  deliver(model, st, ch, prev.tsMs, tsMs, micro, ['estimated_value']);
}

function seriesState(st: EngineState, key: string): SeriesState {
  let ss = st.series[key];
  if (!ss) {
    ss = { open: {} };
    st.series[key] = ss;
  }
  return ss;
}

function startSeries(model: Model, st: EngineState, ch: ChannelModel, tsMs: number): void {
  for (const link of ch.links) {
    const s = link.series;
    const ss = seriesState(st, s.key);
    if (ss.startMs === undefined) ss.startMs = windowStart(model.timezone, s.spec, tsMs);
  }
}

// ---------------------------------------------------------------- distribute a delta

function getWindow(model: Model, s: SeriesModel, ss: SeriesState, startMs: number): OpenWindow {
  let w = ss.open[startMs];
  if (!w) {
    w = { startMs, endMs: nextBoundary(model.timezone, s.spec, startMs), sums: {}, coveredMs: {}, flags: [] };
    ss.open[startMs] = w;
  }
  return w;
}

function addFlag(w: OpenWindow, flag: string): void {
  if (!w.flags.includes(flag)) w.flags.push(flag);
}

/**
 * Books a delta that accrued over (fromMs, toMs] into every series using the channel.
 * Spread over several windows pro rata by time, exactly (integer parts). A spread over
 * a gap longer than maxGap is an estimate and flagged; parts that fall into windows
 * already emitted are booked in the oldest open window (totals stay exact) and flagged.
 */
function deliver(model: Model, st: EngineState, ch: ChannelModel, fromMs: number, toMs: number, micro: number, flags: string[]): void {
  const gap = toMs - fromMs > model.maxGapMs;
  for (const link of ch.links) {
    const s = link.series;
    const ss = seriesState(st, s.key);
    const accountUnitFactor = link.unitFactor(st, ch);
    if (accountUnitFactor === undefined) continue;
    const value = accountUnitFactor === 1 ? micro : scaleMicro(micro, accountUnitFactor);
    if (ss.startMs === undefined) ss.startMs = windowStart(model.timezone, s.spec, fromMs);
    // Segments of (fromMs, toMs] per window.
    const starts: number[] = [];
    const overlaps: number[] = [];
    let b = windowStart(model.timezone, s.spec, fromMs);
    for (;;) {
      const e = nextBoundary(model.timezone, s.spec, b);
      starts.push(b);
      overlaps.push(Math.min(e, toMs) - Math.max(b, fromMs));
      if (e >= toMs) break;
      b = e;
    }
    const parts = splitProRata(value, overlaps);
    const spread = starts.length > 1;
    for (let i = 0; i < starts.length; i++) {
      const segStart = starts[i] as number;
      const late = ss.closedUntilMs !== undefined && segStart < ss.closedUntilMs;
      const w = getWindow(model, s, ss, late ? (ss.closedUntilMs as number) : segStart);
      const part = parts[i] as number;
      for (const c of link.contributions) {
        w.sums[c.bucket] = (w.sums[c.bucket] ?? 0) + c.sign * part;
      }
      if (!gap && !late) w.coveredMs[ch.key] = (w.coveredMs[ch.key] ?? 0) + (overlaps[i] as number);
      for (const f of flags) addFlag(w, f);
      if (gap && spread) addFlag(w, 'estimated_distribution');
      if (late && part !== 0) addFlag(w, 'late_carried');
    }
  }
}

// ---------------------------------------------------------------- close windows

function advance(model: Model, st: EngineState, nowMs: number): EngineRecord[] {
  const out: EngineRecord[] = [];
  for (const s of model.series) {
    const ss = st.series[s.key];
    if (!ss || ss.startMs === undefined) continue;
    let cursor = ss.closedUntilMs ?? ss.startMs;
    for (;;) {
      const open = ss.open[cursor];
      const endMs = open?.endMs ?? nextBoundary(model.timezone, s.spec, cursor);
      if (endMs + model.graceMs > nowMs) break;
      const w = open ?? { startMs: cursor, endMs, sums: {}, coveredMs: {}, flags: [] };
      out.push(closeWindow(model, st, s, w));
      delete ss.open[cursor];
      ss.closedUntilMs = endMs;
      cursor = endMs;
    }
  }
  out.sort((a, b) => recordEnd(a) - recordEnd(b));
  return out;
}

function recordEnd(r: EngineRecord): number {
  return r.kind === 'event' ? r.ts_ms : r.end_ms;
}

// The energy engine: device polls in, closed window records out. Pure: state and
// samples in, state and records out; no clock (the caller says what time it is),
// no I/O. Everything needed to resume lives in snapshot().
//
// Flow per reading: channel (counter rules or power integration) → delta in integer
// micro-units of the canonical unit, over a time span → split exactly across the
// clock-aligned windows of every series (account or EnPI × window length) that uses
// the channel → on advance(), windows whose end + grace has passed are closed into
// records, oldest first, each exactly once.
import type { DevicePoll, PointValue } from './sample.js';
import type { EngineConfig } from './engine-config.js';
import type { CounterState } from './counter.js';
import { stepCounter } from './counter.js';
import { toMicro, scaleMicro, splitProRata } from './exact.js';
import { nextBoundary, parseWindow, windowStart, type WindowSpec } from './calendar.js';
import { buildModel, channelKey, manualOutputKey, manualQuantityKey, type HotWindow, type Link, type Model, type ChannelModel, type SeriesModel } from './model.js';
import type { DemandRecord, EngineRecord, EventRecord } from './records.js';
import { recordId } from './records.js';
import { closeWindow, type OpenWindow } from './close.js';
import { integrateTrapezoid, type PowerSample } from './power.js';
import { steamEnthalpy } from './steam.js';
import { demandKw, emptyPeriod, foldWindow, pushMinute, type DemandState, type PeriodMax } from './demand.js';

export type { EngineConfig } from './engine-config.js';

export interface ChannelState {
  counter?: CounterState;
  /** Last good power sample (power channels). */
  power?: PowerSample;
  /** Canonical unit of the channel's deltas, as first seen. */
  unit?: string;
  /**
   * A reset confirmed without a credited delta: what a later replacement record needs to
   * credit the energy across it (old final − prev, new reading − new initial).
   */
  openReset?: { prevTsMs: number; prevMicro: number; newTsMs: number; newMicro: number };
  /** Last known steam pressure (absolute MPa) and temperature (°C). */
  steam?: { pressureMpa?: number; temperatureC?: number };
}

export interface SeriesState {
  /** Start of the first window of this series (set by the first reading). */
  startMs?: number;
  /** Every window ending at or before this instant has been emitted. */
  closedUntilMs?: number;
  /** Open windows, oldest first (usually one or two). */
  open: OpenWindow[];
}

/** A meter replacement (换表) as recorded by an operator (CLI or MQTT request). */
export interface MeterReplacement {
  device: string;
  point: string;
  /** When the old meter was removed / the new one started counting. */
  ts_ms: number;
  /** Last reading of the old meter, in the point's unit (register side, before CT/PT). */
  old_final: number;
  /** First reading of the new meter. */
  new_initial: number;
  old_serial?: string;
  new_serial?: string;
  by?: string;
  note?: string;
}

/** Output entered by hand for an EnPI (or a correction on top of a counter). */
export interface ManualOutput {
  enpi: string;
  start_ms: number;
  end_ms: number;
  /** Quantity in the EnPI's output unit. Re-entering the same span replaces the earlier value. */
  quantity: number;
  by?: string;
  note?: string;
}

/** A quantity entered by hand for an account (e.g. diesel delivered, coal burnt per shift). */
export interface ManualQuantity {
  account: string;
  start_ms: number;
  end_ms: number;
  /** Quantity in the account's unit (carrier default: kWh, m3, t, GJ). Re-entering replaces. */
  quantity: number;
  by?: string;
  note?: string;
}

export interface EngineState {
  version: 1;
  channels: Record<string, ChannelState>;
  series: Record<string, SeriesState>;
  /** Unit each account books in (from its first delta). */
  accountUnits: Record<string, string>;
  /** Recorded meter replacements (kept: they are the audit trail), by device/point/ts. */
  replacements: Record<string, MeterReplacement>;
  /** Manual entries by target/start/end → booked micro-units (so a re-entry books the difference). */
  manual: Record<string, number>;
  /** Maximum-demand trackers per account. */
  demand: Record<string, DemandState>;
}

export interface Engine {
  /** Feed one device poll; returns event records (resets, rollovers, spikes). */
  ingest(poll: DevicePoll): EngineRecord[];
  /** Close every window whose end + grace ≤ nowMs; returns their records, oldest first. */
  advance(nowMs: number): EngineRecord[];
  /** JSON-serialisable state; createEngine(config, snapshot) resumes exactly. */
  snapshot(): EngineState;
  /**
   * The same state as JSON text, written straight from the live state: what the pipeline
   * stores. At a thousand meters the state is about half a megabyte, and copying it before
   * writing it doubled the cost of a commit.
   */
  stateJson(): string;
  /** Records a meter replacement; credits (old_final − last) + (new − new_initial). Idempotent. */
  recordReplacement(r: MeterReplacement): EngineRecord[];
  /** Enters output for an EnPI over a span (flagged manual). Idempotent per span. */
  recordOutput(o: ManualOutput): EngineRecord[];
  /** Enters a quantity for an account over a span (flagged manual). Idempotent per span. */
  recordQuantity(q: ManualQuantity): EngineRecord[];
}

export function emptyState(): EngineState {
  return { version: 1, channels: {}, series: {}, accountUnits: {}, replacements: {}, manual: {}, demand: {} };
}

export function createEngine(config: EngineConfig, state?: EngineState): Engine {
  const model = buildModel(config);
  // Tolerate snapshots written before a field existed.
  const st: EngineState = { ...emptyState(), ...(state ? structuredClone(state) : {}) };
  for (const ss of Object.values(st.series)) {
    // The first release kept open windows in an object keyed by start_ms.
    if (!Array.isArray(ss.open)) ss.open = Object.values(ss.open as Record<string, OpenWindow>).sort((a, b) => a.startMs - b.startMs);
  }
  // When each series' oldest window becomes due (runtime cache; derivable from state).
  const nextClose = new Map<string, number>();
  const byDevice = indexByDevice(model);
  return {
    ingest: (poll) => ingest(model, st, poll, byDevice),
    advance: (nowMs) => advance(model, st, nowMs, nextClose),
    snapshot: () => clonePlain(st),
    stateJson: () => JSON.stringify(st),
    recordReplacement: (r) => recordReplacement(model, st, r),
    recordOutput: (o) => recordManual(model, st, manualOutputKey(o.enpi), o, 'manual_output', `output for ${o.enpi}`),
    recordQuantity: (q) => recordManual(model, st, manualQuantityKey(q.account), q, 'manual_quantity', `quantity for ${q.account}`),
  };
}

/**
 * A deep copy of plain data (objects, arrays, primitives), which is all the state holds (it
 * is JSON-serialisable by contract). Several times cheaper than structuredClone on the
 * thousands of small objects a large gateway's state has, and the pipeline takes one
 * snapshot a second. Values are copied as they are: undefined, NaN and -0 stay.
 */
function clonePlain<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = clonePlain(value[i] as unknown);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const key in value) out[key] = clonePlain(value[key] as unknown);
  return out as T;
}

// ---------------------------------------------------------------- ingest

/**
 * The model's channels and steam watchers by device, then point (runtime only, derived from
 * the model): a poll is matched against its own device's few channels instead of building a
 * `device/point` key for every value it carries.
 */
interface DeviceChannels {
  channels: Map<string, ChannelModel>;
  steam: Map<string, Array<{ channel: ChannelModel; role: 'p' | 't' }>> | null;
  /** The device's one channel when it has exactly one and no steam watchers (the usual meter). */
  single: [point: string, channel: ChannelModel] | null;
}

function indexByDevice(model: Model): Map<string, DeviceChannels> {
  const index = new Map<string, DeviceChannels>();
  const entry = (device: string) => {
    let d = index.get(device);
    if (!d) {
      d = { channels: new Map(), steam: null, single: null };
      index.set(device, d);
    }
    return d;
  };
  for (const ch of model.channels.values()) {
    entry(ch.device).channels.set(ch.point, ch);
    if (!ch.steam) continue;
    for (const [point, role] of [[ch.steam.pressurePoint, 'p'], [ch.steam.temperaturePoint, 't']] as const) {
      if (point === undefined) continue;
      const d = entry(ch.device);
      d.steam ??= new Map();
      const list = d.steam.get(point) ?? [];
      list.push({ channel: ch, role });
      d.steam.set(point, list);
    }
  }
  for (const d of index.values()) {
    if (d.channels.size === 1 && d.steam === null) d.single = [...d.channels][0]!;
  }
  return index;
}

function ingest(model: Model, st: EngineState, poll: DevicePoll, index: Map<string, DeviceChannels>): EngineRecord[] {
  const out: EngineRecord[] = [];
  const dev = index.get(poll.device);
  if (!dev) return out;
  // Steam pressure/temperature first, so a mass delta in the same poll uses them.
  if (dev.steam) {
    for (const point in poll.values) {
      const watchers = dev.steam.get(point);
      const pv = poll.values[point]!;
      if (!watchers || pv.quality !== 'good' || typeof pv.value !== 'number' || !Number.isFinite(pv.value)) continue;
      for (const { channel, role } of watchers) {
        const cs = channelState(st, channel.key);
        cs.steam ??= {};
        if (role === 'p') cs.steam.pressureMpa = channel.steam!.toAbsMpa(pv.value);
        else cs.steam.temperatureC = pv.value;
      }
    }
  }
  if (dev.single) {
    // One channel: the order of the poll's values cannot matter.
    const pv = poll.values[dev.single[0]];
    if (pv) ingestValue(model, st, poll, dev.single[1], pv, out);
    return out;
  }
  // Several channels: in the poll's value order, as events and flags are ordered by it.
  for (const point in poll.values) {
    const ch = dev.channels.get(point);
    if (ch) ingestValue(model, st, poll, ch, poll.values[point]!, out);
  }
  return out;
}

function ingestValue(model: Model, st: EngineState, poll: DevicePoll, ch: ChannelModel, pv: PointValue, out: EngineRecord[]): void {
  if (pv.quality !== 'good' || typeof pv.value !== 'number' || !Number.isFinite(pv.value)) return;
  const tsMs = pv.sourceTsMs ?? poll.tsMs;
  const unit = ch.unit ?? pv.unit;
  if (ch.kind === 'power') ingestPower(model, st, ch, tsMs, pv.value, unit);
  else ingestCounter(model, st, ch, tsMs, pv.value, unit, out);
}

function channelState(st: EngineState, key: string): ChannelState {
  let cs = st.channels[key];
  if (!cs) {
    cs = {};
    st.channels[key] = cs;
  }
  return cs;
}

interface Amounts {
  q: number;
  heat: number;
  q_heat: number;
}

/** Quantity amounts of a scaled delta; steam mass also carries its heat when P is known. */
function amountsOf(ch: ChannelModel, cs: ChannelState, micro: number): { amounts: Amounts; flags: string[] } {
  if (!ch.steam || cs.unit !== 't') return { amounts: { q: micro, heat: 0, q_heat: 0 }, flags: [] };
  const p = cs.steam?.pressureMpa;
  const h = p === undefined ? undefined : steamEnthalpy({ pressureMpa: p, temperatureC: cs.steam?.temperatureC });
  if (!h) return { amounts: { q: micro, heat: 0, q_heat: 0 }, flags: [] };
  // t × kJ/kg = MJ; /1000 → GJ. Micro-units stay micro-units.
  const heat = Math.round((micro * (h.hKjPerKg - ch.steam.hRefKjPerKg)) / 1000);
  return { amounts: { q: micro, heat, q_heat: micro }, flags: [] };
}

/** Register delta over (fromMs, toMs] → canonical primary-side micro-units (unit scale × CT × PT). */
function scaleDelta(ch: ChannelModel, fromMs: number, toMs: number, micro: number, unitScale: number): number {
  const segs = ch.multiplierSegments(fromMs, toMs);
  if (segs.length === 1) return scaleMicro(micro, unitScale * (segs[0] as { factor: number }).factor);
  // A CT/PT change inside the span: each side at its own ratio, pro rata by time.
  const parts = splitProRata(micro, segs.map((s) => s.weightMs));
  return parts.reduce((acc, p, i) => acc + scaleMicro(p, unitScale * (segs[i] as { factor: number }).factor), 0);
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
    const scaled = scaleDelta(ch, d.fromMs, d.toMs, d.micro, q.scale);
    const { amounts } = amountsOf(ch, cs, scaled);
    deliver(model, st, ch, d.fromMs, d.toMs, amounts, d.flags.length === 1 && d.flags[0] === 'valid' ? NO_FLAGS : d.flags.filter((f) => f !== 'valid'));
  }
  for (const e of step.events) {
    if (e.type === 'reset') {
      // Remember the reset so a replacement record entered later can credit across it.
      if (e.deltaMicro === null && e.previousMicro !== null && e.previousTsMs !== null) {
        cs.openReset = { prevTsMs: e.previousTsMs, prevMicro: e.previousMicro, newTsMs: e.tsMs, newMicro: e.micro };
      }
      deliverFlag(model, st, ch, e.tsMs, 'reset');
    }
    if (e.type === 'spike_dropped') deliverFlag(model, st, ch, e.tsMs, 'spike_dropped');
    out.push({
      kind: 'event',
      id: `event/${e.type}/${ch.device}/${ch.point}/${e.tsMs}`,
      type: e.type,
      device: ch.device,
      point: ch.point,
      ts_ms: e.tsMs,
      previous_value: e.previousMicro === null ? null : e.previousMicro / 1e6,
      value: e.micro / 1e6,
      delta: e.deltaMicro === null ? null : scaleDelta(ch, e.previousTsMs ?? e.tsMs, e.tsMs, e.deltaMicro, q.scale) / 1e6,
      message: EVENT_MESSAGES[e.type],
    });
  }
}

/** The flags of a plain delta (only 'valid', which windows do not carry). */
const NO_FLAGS: readonly string[] = Object.freeze([]);

const EVENT_MESSAGES: Record<EventRecord['type'], string> = {
  reset: 'counter reset: no delta across the reset unless the restart value is configured or a replacement is recorded',
  replacement: 'meter replaced: old final and new initial readings recorded',
  rollover: 'counter wrapped at the top of its range',
  spike_dropped: 'implausible reading dropped (it did not persist)',
  spike_confirmed: 'large increase confirmed by the next reading (e.g. a backlog after an outage)',
  manual_output: 'output entered manually',
  manual_quantity: 'quantity entered manually',
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
  if (tsMs - prev.tsMs > (ch.maxGapMs ?? model.maxGapMs)) return;
  const micro = integrateTrapezoid(prev, sample);
  if (micro === undefined) return;
  deliver(model, st, ch, prev.tsMs, tsMs, { q: micro, heat: 0, q_heat: 0 }, ['estimated_value']);
}

function seriesState(st: EngineState, key: string): SeriesState {
  let ss = st.series[key];
  if (!ss) {
    ss = { open: [] };
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
  // Newest first: deltas arrive in time order, so the match is almost always the last one.
  for (let i = ss.open.length - 1; i >= 0; i--) {
    const o = ss.open[i] as OpenWindow;
    if (o.startMs === startMs) return o;
    if (o.startMs < startMs) {
      const w: OpenWindow = { startMs, endMs: nextBoundary(model.timezone, s.spec, startMs), sums: {}, coveredMs: {}, flags: [] };
      ss.open.splice(i + 1, 0, w);
      return w;
    }
  }
  const w: OpenWindow = { startMs, endMs: nextBoundary(model.timezone, s.spec, startMs), sums: {}, coveredMs: {}, flags: [] };
  ss.open.unshift(w);
  return w;
}

function addFlag(w: OpenWindow, flag: string): void {
  if (!w.flags.includes(flag)) w.flags.push(flag);
}

/** The open window a moment belongs to (the oldest open one if its own has closed). */
function windowAt(model: Model, s: SeriesModel, ss: SeriesState, tMs: number): { w: OpenWindow; late: boolean } {
  const start = windowStart(model.timezone, s.spec, tMs);
  const late = ss.closedUntilMs !== undefined && start < ss.closedUntilMs;
  return { w: getWindow(model, s, ss, late ? (ss.closedUntilMs as number) : start), late };
}

/** Marks the window containing tsMs (every series of the channel) with a flag. */
function deliverFlag(model: Model, st: EngineState, ch: ChannelModel, tsMs: number, flag: string): void {
  for (const link of ch.links) {
    const ss = seriesState(st, link.series.key);
    if (ss.startMs === undefined) ss.startMs = windowStart(model.timezone, link.series.spec, tsMs);
    addFlag(windowAt(model, link.series, ss, tsMs).w, flag);
  }
}

/**
 * The last window each series saw (runtime only, derivable, not state): most deltas fall
 * inside it, so they need no calendar arithmetic at all.
 */
const lastWindow = new WeakMap<WindowSpec, Map<string, { startMs: number; endMs: number }>>();

/** Segments of (fromMs, toMs] per window of a spec: window starts and overlap lengths. */
function segments(timezone: string, spec: WindowSpec, fromMs: number, toMs: number): { starts: number[]; overlaps: number[] } {
  let byZone = lastWindow.get(spec);
  if (!byZone) {
    byZone = new Map();
    lastWindow.set(spec, byZone);
  }
  const hint = byZone.get(timezone);
  if (hint && hint.startMs <= fromMs && toMs <= hint.endMs) return { starts: [hint.startMs], overlaps: [toMs - fromMs] };
  const r = segmentsSlow(timezone, spec, fromMs, toMs);
  const lastStart = r.starts[r.starts.length - 1] as number;
  byZone.set(timezone, { startMs: lastStart, endMs: nextBoundary(timezone, spec, lastStart) });
  return r;
}

function segmentsSlow(timezone: string, spec: WindowSpec, fromMs: number, toMs: number): { starts: number[]; overlaps: number[] } {
  const starts: number[] = [];
  const overlaps: number[] = [];
  // A zero-length span (a correction at one instant) belongs to the window containing it.
  let b = windowStart(timezone, spec, fromMs);
  for (;;) {
    const e = nextBoundary(timezone, spec, b);
    starts.push(b);
    overlaps.push(Math.max(0, Math.min(e, toMs) - Math.max(b, fromMs)));
    if (e >= toMs) break;
    b = e;
  }
  return { starts, overlaps };
}

/**
 * Books amounts that accrued over (fromMs, toMs] into every series using the channel.
 * Spread over several windows pro rata by time, exactly (integer parts). A spread over
 * a gap longer than maxGap is an estimate and flagged; parts that fall into windows
 * already emitted are booked in the oldest open window (totals stay exact) and flagged.
 */
function deliver(
  model: Model, st: EngineState, ch: ChannelModel, fromMs: number, toMs: number, amounts: Amounts, flags: readonly string[],
  coverage: 'by_gap' | 'always' | 'never' = 'by_gap',
): void {
  const gap = toMs - fromMs > (ch.maxGapMs ?? model.maxGapMs);
  // Covered: consecutive good readings (no gap), or a manual entry, which covers its span.
  const covers = coverage === 'always' || (coverage === 'by_gap' && !gap);
  // Spreading over several windows is an estimate unless the readings were consecutive.
  const estimatedSpread = gap || coverage !== 'by_gap';
  for (const link of ch.links) {
    const hot = link.hot;
    if (hot !== undefined && inHotWindow(hot, fromMs, toMs)) {
      // The whole span lies in the window this link booked into last, still the series'
      // newest open one (nearly every reading): one segment, no calendar arithmetic, no
      // split, and the unit factor found then (both units it depends on are set once).
      bookWhole(hot.w, link, amounts, hot.unitFactor);
      if (covers) hot.w.coveredMs[ch.key] = (hot.w.coveredMs[ch.key] ?? 0) + (toMs - fromMs);
      for (const f of flags) addFlag(hot.w, f);
      continue;
    }
    const s = link.series;
    const ss = seriesState(st, s.key);
    const unitFactor = link.unitFactor(st, ch);
    if (unitFactor === undefined) continue;
    if (ss.startMs === undefined) ss.startMs = windowStart(model.timezone, s.spec, fromMs);
    const { starts, overlaps } = segments(model.timezone, s.spec, fromMs, toMs);
    // Amounts that are zero (no steam heat, most of the time) are not split at all.
    const parts: Record<keyof Amounts, number[] | undefined> = {
      q: amounts.q === 0 ? undefined : splitProRata(scaleMicro(amounts.q, unitFactor), overlaps),
      q_heat: amounts.q_heat === 0 ? undefined : splitProRata(scaleMicro(amounts.q_heat, unitFactor), overlaps),
      heat: amounts.heat === 0 ? undefined : splitProRata(amounts.heat, overlaps),
    };
    const spread = starts.length > 1;
    for (let i = 0; i < starts.length; i++) {
      const segStart = starts[i] as number;
      const late = ss.closedUntilMs !== undefined && segStart < ss.closedUntilMs;
      const w = getWindow(model, s, ss, late ? (ss.closedUntilMs as number) : segStart);
      let any = false;
      for (const c of link.contributions) {
        const part = parts[c.amount]?.[i] ?? 0;
        if (part === 0) continue;
        any = true;
        w.sums[c.bucket] = (w.sums[c.bucket] ?? 0) + c.sign * part;
      }
      if (covers && !late) w.coveredMs[ch.key] = (w.coveredMs[ch.key] ?? 0) + (overlaps[i] as number);
      for (const f of flags) addFlag(w, f);
      if (estimatedSpread && spread) addFlag(w, 'estimated_distribution');
      if (late && any) addFlag(w, 'late_carried');
      if (i === starts.length - 1) link.hot = late ? undefined : { ss, w, unitFactor };
    }
  }
}

/**
 * Whether (fromMs, toMs] lies inside the link's last window, and that window is still the
 * newest open one of its series and not yet emitted: what the general path would then find
 * is one segment, booked whole into that very window.
 */
function inHotWindow(hot: HotWindow, fromMs: number, toMs: number): boolean {
  const { ss, w } = hot;
  return w.startMs <= fromMs && fromMs < w.endMs && toMs <= w.endMs
    && ss.open[ss.open.length - 1] === w
    && (ss.closedUntilMs === undefined || w.startMs >= ss.closedUntilMs);
}

/** Books a span's amounts whole into one window (splitProRata over one part is the whole). */
function bookWhole(w: OpenWindow, link: Link, amounts: Amounts, unitFactor: number): void {
  for (const c of link.contributions) {
    const amount = amounts[c.amount];
    if (amount === 0) continue;
    const part = c.amount === 'heat' ? amount : scaleMicro(amount, unitFactor);
    if (part === 0) continue;
    w.sums[c.bucket] = (w.sums[c.bucket] ?? 0) + c.sign * part;
  }
}

// ---------------------------------------------------------------- operator entries

/**
 * How far before the stated swap time a reset or held reading may lie and still be taken
 * for the swap. An electrician's written time is minutes off, and a poll is stamped at
 * its tick rather than when the meter answered; a reset further back than this is an
 * earlier, unrelated event and the readings since then are the old meter's.
 */
const REPLACEMENT_TIME_SLACK_MS = 3_600_000;

function recordReplacement(model: Model, st: EngineState, r: MeterReplacement): EngineRecord[] {
  const key = `${r.device}/${r.point}/${r.ts_ms}`;
  if (st.replacements[key]) return []; // redelivered request: already booked
  const ch = model.channels.get(channelKey(r.device, r.point));
  const oldFinal = toMicro(r.old_final);
  const newInitial = toMicro(r.new_initial);
  if (!ch || ch.kind !== 'counter' || oldFinal === undefined || newInitial === undefined) return [];
  st.replacements[key] = { ...r };
  const cs = channelState(st, ch.key);
  const unit = cs.unit ?? ch.unit ?? '';
  const scale = ch.quantityUnit(unit).scale;
  const book = (fromMs: number, toMs: number, micro: number) => {
    const scaled = scaleDelta(ch, fromMs, toMs, micro, scale);
    deliver(model, st, ch, fromMs, toMs, amountsOf(ch, cs, scaled).amounts, ['replaced'], 'never');
    return scaled;
  };
  let creditedMicro = 0;
  const c = cs.counter;
  const pending = c?.pending;
  const earliest = r.ts_ms - REPLACEMENT_TIME_SLACK_MS;
  // The swap happened between the old meter's last reading and the new meter's first;
  // the stated time only says roughly where, so it is clamped into that gap.
  const swapAt = (fromMs: number, toMs: number) => Math.min(Math.max(r.ts_ms, fromMs), toMs);
  if (c && pending && pending.tsMs >= earliest) {
    // The new meter's first reading is held as a reset/spike candidate: resolve it.
    const t = swapAt(c.last.tsMs, pending.tsMs);
    creditedMicro += book(c.last.tsMs, t, Math.max(0, oldFinal - c.last.micro));
    creditedMicro += book(t, pending.tsMs, Math.max(0, pending.micro - newInitial));
    cs.counter = { last: { tsMs: pending.tsMs, micro: pending.micro } };
  } else if (cs.openReset && cs.openReset.newTsMs >= earliest) {
    // A reset was already confirmed with no delta across it: credit both sides now.
    // Its first new reading may carry a stamp a little before the stated time (a poll
    // stamped at its tick, answered after the swap); the readings since then are the
    // new meter's and must not be taken for the old one's.
    const o = cs.openReset;
    const t = swapAt(o.prevTsMs, o.newTsMs);
    creditedMicro += book(o.prevTsMs, t, Math.max(0, oldFinal - o.prevMicro));
    creditedMicro += book(t, o.newTsMs, Math.max(0, o.newMicro - newInitial));
  } else if (c && r.ts_ms >= c.last.tsMs && !pending) {
    // Recorded before the new meter reported: close the old meter, start the new one.
    creditedMicro += book(c.last.tsMs, r.ts_ms, Math.max(0, oldFinal - c.last.micro));
    cs.counter = { last: { tsMs: r.ts_ms, micro: newInitial } };
  } else if (c && c.last.micro <= oldFinal) {
    // Readings stamped after the stated swap time still came from the old meter (the
    // time an electrician writes down is approximate): close the old meter at its last
    // reading and start the new one from there.
    creditedMicro += book(c.last.tsMs, c.last.tsMs, oldFinal - c.last.micro);
    cs.counter = { last: { tsMs: c.last.tsMs, micro: newInitial } };
  } else if (c) {
    // The new meter's readings were taken as a continuation (it started above the old
    // one): the continuous delta overcounted by new_initial − old_final.
    creditedMicro += book(r.ts_ms, r.ts_ms, oldFinal - newInitial);
  } else {
    // No history yet: the new meter starts here.
    cs.counter = { last: { tsMs: r.ts_ms, micro: newInitial } };
  }
  // Whatever reset was open is now either this swap or older than any swap to come.
  delete cs.openReset;
  const details: Record<string, string | number | null> = { old_final: r.old_final, new_initial: r.new_initial };
  for (const k of ['old_serial', 'new_serial', 'by', 'note'] as const) if (r[k] !== undefined) details[k] = r[k] ?? null;
  return [{
    kind: 'event',
    id: `event/replacement/${r.device}/${r.point}/${r.ts_ms}`,
    type: 'replacement',
    device: r.device,
    point: r.point,
    ts_ms: r.ts_ms,
    previous_value: r.old_final,
    value: r.new_initial,
    delta: creditedMicro / 1e6,
    message: EVENT_MESSAGES.replacement,
    details,
  }];
}

function recordManual(
  model: Model, st: EngineState, key: string,
  entry: { start_ms: number; end_ms: number; quantity: number; by?: string; note?: string },
  type: 'manual_output' | 'manual_quantity', what: string,
): EngineRecord[] {
  const ch = model.manual.get(key);
  const micro = toMicro(entry.quantity);
  if (!ch || micro === undefined || !(entry.end_ms > entry.start_ms)) return [];
  const entryKey = `${key}/${entry.start_ms}/${entry.end_ms}`;
  const before = st.manual[entryKey] ?? 0;
  const diff = micro - before;
  st.manual[entryKey] = micro;
  if (diff !== 0) {
    for (const link of ch.links) {
      const ss = seriesState(st, link.series.key);
      if (ss.startMs === undefined) ss.startMs = windowStart(model.timezone, link.series.spec, entry.start_ms);
    }
    // A first entry covers its span; a correction only changes the sums.
    deliver(model, st, ch, entry.start_ms, entry.end_ms, { q: diff, heat: 0, q_heat: 0 }, ['manual'], before === 0 ? 'always' : 'never');
  }
  const details: Record<string, string | number | null> = { start_ms: entry.start_ms, end_ms: entry.end_ms };
  if (entry.by !== undefined) details.by = entry.by;
  if (entry.note !== undefined) details.note = entry.note;
  return [{
    kind: 'event',
    id: `event/${type}/manual/${key.split('/').slice(1).join('/')}/${entry.start_ms}`,
    type,
    device: 'manual',
    point: key.split('/').slice(1).join('/'),
    ts_ms: entry.end_ms,
    previous_value: before / 1e6,
    value: entry.quantity,
    delta: diff / 1e6,
    message: `${what} entered manually`,
    details,
  }];
}

// ---------------------------------------------------------------- close windows

const FIFTEEN = parseWindow('15m') as WindowSpec;
const DAY = parseWindow('1d') as WindowSpec;
const MONTH = parseWindow('month') as WindowSpec;

function advance(model: Model, st: EngineState, nowMs: number, nextClose: Map<string, number>): EngineRecord[] {
  const out: EngineRecord[] = [];
  for (const s of model.series) {
    const due = nextClose.get(s.key);
    if (due !== undefined && nowMs < due) continue;
    const ss = st.series[s.key];
    if (!ss || ss.startMs === undefined) continue;
    let cursor = ss.closedUntilMs ?? ss.startMs;
    for (;;) {
      const open = ss.open[0]?.startMs === cursor ? ss.open[0] : undefined;
      const endMs = open?.endMs ?? nextBoundary(model.timezone, s.spec, cursor);
      if (endMs + model.graceMs > nowMs) {
        nextClose.set(s.key, endMs + model.graceMs);
        break;
      }
      const w = open ?? { startMs: cursor, endMs, sums: {}, coveredMs: {}, flags: [] };
      if (s.kind === 'demand') out.push(...closeMinute(model, st, s, w));
      else out.push(closeWindow(model, st, s, w));
      if (open) ss.open.shift();
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

function closeMinute(model: Model, st: EngineState, s: SeriesModel, w: OpenWindow): DemandRecord[] {
  const tz = model.timezone;
  const ds = (st.demand[s.ownerId] ??= { ring: [] });
  const len = w.endMs - w.startMs;
  const full = s.coverageChannels.every((k) => (w.coveredMs[k] ?? 0) >= len);
  const out: DemandRecord[] = [];
  const dayStart = windowStart(tz, DAY, w.startMs);
  const monthStart = windowStart(tz, MONTH, w.startMs);
  ds.day ??= emptyPeriod(dayStart, nextBoundary(tz, DAY, dayStart));
  ds.month ??= emptyPeriod(monthStart, nextBoundary(tz, MONTH, monthStart));
  for (const p of [ds.day, ds.month]) {
    p.minutes += 1;
    if (full) p.fullMinutes += 1;
  }
  const win = pushMinute(ds, { startMs: w.startMs, micro: w.sums.q ?? 0, full }, (t) => windowStart(tz, FIFTEEN, t) === t);
  if (win) {
    foldWindow(ds.day, win);
    foldWindow(ds.month, win);
  }
  // The period ends with this minute: emit it. Windows ending exactly here are included.
  if (w.endMs >= ds.day.endMs) {
    out.push(demandRecord(s.ownerId, '1d', ds.day));
    delete ds.day;
  }
  if (w.endMs >= ds.month.endMs) {
    out.push(demandRecord(s.ownerId, 'month', ds.month));
    delete ds.month;
  }
  return out;
}

function demandRecord(account: string, window: string, p: PeriodMax): DemandRecord {
  const periodMinutes = Math.round((p.endMs - p.startMs) / 60_000);
  const flags: string[] = [];
  if (p.partialWindows) flags.push('incomplete_windows');
  return {
    kind: 'demand',
    id: recordId('demand', account, window, p.startMs),
    account,
    window,
    start_ms: p.startMs,
    end_ms: p.endMs,
    fixed_max_kw: demandKw(p.fixedMaxMicro),
    fixed_max_start_ms: p.fixedAtMs,
    sliding_max_kw: demandKw(p.slidingMaxMicro),
    sliding_max_start_ms: p.slidingAtMs,
    period_ms: p.endMs - p.startMs,
    coverage: periodMinutes > 0 ? Math.round((p.fullMinutes / periodMinutes) * 1e6) / 1e6 : 0,
    flags,
  };
}

// The engine's compiled view of its config: which channels exist, which series
// (owner × window) each channel feeds, with what sign and into which bucket, and the
// per-channel counter rules and CT/PT multipliers. Built once per createEngine.
import type { EngineAccount, EngineChannel, EngineConfig, EngineEnpi, EngineFactors } from './engine-config.js';
import type { CounterRules } from './counter.js';
import { parseWindow, parseTimeOfDay, tzOffsetMs, type WindowSpec, type ShiftStart } from './calendar.js';
import { quantityUnit, rateUnit, convertFactor } from './quantity.js';
import { MICRO } from './exact.js';
import type { OpenWindow } from './close.js';
import type { SeriesState } from './engine.js';

/** Which amount of a delta a contribution books: the quantity, or the steam heat part. */
export type Amount = 'q' | 'heat' | 'q_heat';

export interface Contribution {
  bucket: string;
  sign: 1 | -1;
  amount: Amount;
}

export interface SeriesModel {
  key: string;
  /** demand: a hidden 1-minute series feeding the maximum-demand tracker. */
  kind: 'energy' | 'enpi' | 'demand';
  ownerId: string;
  windowId: string;
  spec: WindowSpec;
  account?: EngineAccount;
  enpi?: EngineEnpi;
  /** Accounts an EnPI sums (in order). */
  enpiAccounts?: EngineAccount[];
  /** Channel keys whose coverage bounds this series' coverage. */
  coverageChannels: string[];
}

/** Minimal view of engine state a link needs to pick a unit. */
export interface UnitState {
  accountUnits: Record<string, string>;
  channels: Record<string, { unit?: string }>;
}

export interface Link {
  series: SeriesModel;
  contributions: Contribution[];
  /** Factor from the channel's canonical unit to the series bucket unit; undefined: incompatible. */
  unitFactor(st: UnitState, ch: ChannelModel): number | undefined;
  /**
   * The series' state and the window this link booked into last (runtime only, set by the
   * engine and derivable from its state; never part of a snapshot).
   */
  hot?: HotWindow | undefined;
}

export interface HotWindow {
  ss: SeriesState;
  w: OpenWindow;
  /** unitFactor's answer then: fixed once the channel's and the series' units are set. */
  unitFactor: number;
}

export interface ChannelModel {
  key: string;
  device: string;
  point: string;
  kind: 'counter' | 'power' | 'manual';
  steam?: SteamModel | undefined;
  /** Gap threshold of this channel (e.g. a report-by-exception PLC counter), else the engine's. */
  maxGapMs?: number | undefined;
  /** Configured unit overriding the poll's. */
  unit?: string | undefined;
  links: Link[];
  /** Counter rules in register micro-units at time tsMs. */
  rules(tsMs: number, unitScale: number): CounterRules;
  /** CT × PT (× factor) in effect at tsMs. */
  multiplierAt(tsMs: number): number;
  /**
   * Multipliers over a delta's span (fromMs, toMs]: the one in effect at fromMs, then
   * one segment per change inside the span, weighted by time.
   */
  multiplierSegments(fromMs: number, toMs: number): Array<{ weightMs: number; factor: number }>;
  quantityUnit: typeof quantityUnit;
  rateUnit: typeof rateUnit;
}

export interface SteamModel {
  pressurePoint: string;
  /** Pressure in the point's unit → absolute MPa. */
  toAbsMpa(value: number): number;
  temperaturePoint?: string | undefined;
  hRefKjPerKg: number;
}

export interface Model {
  /** Steam pressure/temperature points to watch: device/point → steam channels needing it. */
  steamWatch: Map<string, Array<{ channel: ChannelModel; role: 'p' | 't' }>>;
  /** Virtual channels for manual entries: manual/account/<id>, manual/enpi/<id>. */
  manual: Map<string, ChannelModel>;
  timezone: string;
  graceMs: number;
  maxGapMs: number;
  channels: Map<string, ChannelModel>;
  series: SeriesModel[];
  accounts: Map<string, EngineAccount>;
  factors: EngineFactors;
  shifts: ShiftStart[];
}

/** Carrier default units (when no reading has told the account its unit yet). */
export const CARRIER_UNITS: Record<string, string> = {
  electricity: 'kWh', natural_gas: 'm3', steam: 't', heat: 'GJ', hot_water: 'GJ', diesel: 't', coal: 't',
  lpg: 't', water: 'm3', compressed_air: 'm3',
};

export function channelKey(device: string, point: string): string {
  return `${device}/${point}`;
}

export function manualOutputKey(enpiId: string): string {
  return `manual/enpi/${enpiId}`;
}

export function manualQuantityKey(accountId: string): string {
  return `manual/account/${accountId}`;
}

const PRESSURE_TO_MPA = { MPa: 1, kPa: 0.001, bar: 0.1 } as const;

function parseRatio(r: number | string | undefined): number {
  if (r === undefined) return 1;
  if (typeof r === 'number') return r;
  const [a, b] = r.split('/').map((x) => Number(x.trim()));
  return (a ?? 1) / (b ?? 1);
}

/** An ISO date (midnight in the site zone) or date-time (with its own offset) → UTC ms. */
export function parseLocalDate(timezone: string, text: string): number | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const wall = Date.parse(`${text}T00:00:00Z`);
    if (Number.isNaN(wall)) return undefined;
    let t = wall - tzOffsetMs(timezone, wall);
    t = wall - tzOffsetMs(timezone, t);
    return t;
  }
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/** Decimal step of a written number: 99999999.9 → 0.1, 4294967295 → 1. */
function stepOf(x: number): number {
  const s = String(x);
  const dot = s.indexOf('.');
  return dot < 0 ? 1 : 10 ** -(s.length - dot - 1);
}

function isRoundModulus(x: number): boolean {
  const l10 = Math.log10(x);
  const l2 = Math.log2(x);
  return Math.abs(l10 - Math.round(l10)) < 1e-12 || Math.abs(l2 - Math.round(l2)) < 1e-12;
}

function buildChannel(cfg: EngineChannel | undefined, device: string, point: string, timezone: string, isOutput: boolean): ChannelModel {
  const c = cfg?.counter ?? {};
  const resolution = c.resolution ?? (c.max !== undefined ? stepOf(c.max) : 0.01);
  // counter.max may be written as the largest shown value (99999999.9) or as the modulus itself (1e8, 2^32).
  const modulus = c.modulus ?? (c.max !== undefined ? (isRoundModulus(c.max) ? c.max : c.max + resolution) : undefined);
  const jitter = c.jitter ?? 2 * resolution;
  // PLC production counters restart at 0; energy registers do not restart on their own.
  const resetTo = c.reset_to ?? (isOutput ? 0 : undefined);
  const multipliers = (cfg?.multipliers ?? [])
    .map((m) => ({ fromMs: parseLocalDate(timezone, m.from) ?? 0, factor: parseRatio(m.ct) * parseRatio(m.pt) * (m.factor ?? 1) }))
    .sort((a, b) => a.fromMs - b.fromMs);
  const multiplierAt = (tsMs: number): number => {
    let f = multipliers[0]?.factor ?? 1;
    for (const m of multipliers) if (m.fromMs <= tsMs) f = m.factor;
    return f;
  };
  const multiplierSegments = (fromMs: number, toMs: number): Array<{ weightMs: number; factor: number }> => {
    const out = [{ weightMs: 0, factor: multiplierAt(fromMs) }];
    let cursor = fromMs;
    for (const m of multipliers) {
      if (m.fromMs <= fromMs || m.fromMs >= toMs) continue;
      (out[out.length - 1] as { weightMs: number }).weightMs = m.fromMs - cursor;
      out.push({ weightMs: 0, factor: m.factor });
      cursor = m.fromMs;
    }
    (out[out.length - 1] as { weightMs: number }).weightMs = toMs - cursor;
    return out;
  };
  const headroom = cfg?.rate_headroom ?? 1.2;
  let lastRules: { perRegister: number; rules: CounterRules } | undefined;
  const st = cfg?.steam;
  const scale = PRESSURE_TO_MPA[st?.pressure_unit ?? 'MPa'];
  return {
    key: channelKey(device, point),
    device,
    point,
    kind: cfg?.kind ?? 'counter',
    steam: st && {
      pressurePoint: st.pressure_point,
      toAbsMpa: (v) => v * scale + (st.gauge ? 0.101325 : 0),
      temperaturePoint: st.temperature_point,
      hRefKjPerKg: st.h_ref ?? 83.74,
    },
    unit: cfg?.unit,
    maxGapMs: cfg?.max_gap,
    links: [],
    multiplierAt,
    multiplierSegments,
    quantityUnit,
    rateUnit,
    rules(tsMs, unitScale) {
      const perRegister = unitScale * multiplierAt(tsMs);
      // The same rules poll after poll (they change only with a CT/PT change or another unit).
      if (lastRules !== undefined && lastRules.perRegister === perRegister) return lastRules.rules;
      const rules: CounterRules = {
        modulusMicro: modulus === undefined ? undefined : Math.round(modulus * MICRO),
        jitterMicro: Math.round(jitter * MICRO),
        maxRatePerHourMicro: cfg?.max_rate === undefined ? undefined : ((cfg.max_rate * headroom) / perRegister) * MICRO,
        rolloverFraction: c.rollover_fraction ?? 0.1,
        resetToMicro: resetTo === undefined ? undefined : Math.round(resetTo * MICRO),
      };
      lastRules = { perRegister, rules };
      return rules;
    },
  };
}

function manualChannel(key: string): ChannelModel {
  return {
    key, device: 'manual', point: key.slice('manual/'.length), kind: 'manual', links: [],
    multiplierAt: () => 1, multiplierSegments: (a, b) => [{ weightMs: b - a, factor: 1 }], quantityUnit, rateUnit,
    rules: () => ({ jitterMicro: 0, rolloverFraction: 0.1 }),
  };
}

/** Contributions of one account channel into the given bucket prefix ('' for an account series). */
function accountContributions(prefix: string, sign: 1 | -1, use: string): Contribution[] {
  return [
    { bucket: `${prefix}q`, sign, amount: 'q' },
    { bucket: `${prefix}use:${use}`, sign, amount: 'q' },
    { bucket: `${prefix}heat`, sign, amount: 'heat' },
    { bucket: `${prefix}q_heat`, sign, amount: 'q_heat' },
  ];
}

export function buildModel(config: EngineConfig): Model {
  const tz = config.timezone || 'Asia/Shanghai';
  const shifts: ShiftStart[] = (config.shifts ?? []).flatMap((s) => {
    const ms = parseTimeOfDay(s.start);
    return ms === undefined ? [] : [{ id: s.id, startMsOfDay: ms }];
  });
  const channelCfg = new Map((config.channels ?? []).map((c) => [channelKey(c.device, c.point), c]));
  const channels = new Map<string, ChannelModel>();
  const manual = new Map<string, ChannelModel>();
  const getChannel = (device: string, point: string, isOutput: boolean): ChannelModel => {
    const key = channelKey(device, point);
    let ch = channels.get(key);
    if (!ch) {
      ch = buildChannel(channelCfg.get(key), device, point, tz, isOutput);
      channels.set(key, ch);
    }
    return ch;
  };
  const getManual = (key: string): ChannelModel => {
    let ch = manual.get(key);
    if (!ch) {
      ch = manualChannel(key);
      manual.set(key, ch);
    }
    return ch;
  };
  const accounts = new Map(config.accounts.map((a) => [a.id, a]));
  const series: SeriesModel[] = [];

  const accountUnitFactor = (accountId: string, carrier: string) => (st: UnitState, ch: ChannelModel): number | undefined => {
    const from = st.channels[ch.key]?.unit ?? (ch.kind === 'manual' ? (st.accountUnits[accountId] ?? CARRIER_UNITS[carrier]) : undefined);
    if (from === undefined) return undefined;
    const unit = (st.accountUnits[accountId] ??= from);
    return convertFactor(from, unit);
  };

  const linkAccount = (s: SeriesModel, a: EngineAccount, prefix: string): void => {
    for (const m of a.meters) {
      const ch = getChannel(m.device, m.point, false);
      if (!s.coverageChannels.includes(ch.key)) s.coverageChannels.push(ch.key);
      ch.links.push({ series: s, contributions: accountContributions(prefix, m.sign, m.use), unitFactor: accountUnitFactor(a.id, a.carrier) });
    }
    // Manual quantities (e.g. diesel deliveries) book like a channel with use "fuel".
    getManual(manualQuantityKey(a.id)).links.push({
      series: s, contributions: accountContributions(prefix, 1, 'fuel'), unitFactor: accountUnitFactor(a.id, a.carrier),
    });
  };

  for (const a of config.accounts) {
    const windows = [...a.windows];
    for (const w of windows) {
      const spec = parseWindow(w, shifts);
      if (!spec) continue;
      const s: SeriesModel = { key: `energy/${a.id}/${w}`, kind: 'energy', ownerId: a.id, windowId: w, spec, account: a, coverageChannels: [] };
      series.push(s);
      linkAccount(s, a, '');
    }
    if (a.demand && a.carrier === 'electricity') {
      const spec = parseWindow('1m') as WindowSpec;
      const s: SeriesModel = { key: `demand/${a.id}/1m`, kind: 'demand', ownerId: a.id, windowId: '1m', spec, account: a, coverageChannels: [] };
      series.push(s);
      linkAccount(s, a, '');
    }
  }

  for (const e of config.enpi) {
    const enpiAccounts = e.accounts.flatMap((id) => accounts.get(id) ?? []);
    for (const w of e.windows) {
      const spec = parseWindow(w, shifts);
      if (!spec) continue;
      const s: SeriesModel = { key: `enpi/${e.id}/${w}`, kind: 'enpi', ownerId: e.id, windowId: w, spec, enpi: e, enpiAccounts, coverageChannels: [] };
      series.push(s);
      for (const a of enpiAccounts) linkAccount(s, a, `a:${a.id}:`);
      const outputUnitFactor = (st: UnitState, c: ChannelModel): number => {
        const from = st.channels[c.key]?.unit;
        return from === undefined ? 1 : (convertFactor(from, e.output.unit) ?? 1);
      };
      const outContribution: Contribution[] = [{ bucket: 'out', sign: 1, amount: 'q' }];
      if (e.output.device !== undefined) {
        const ch = getChannel(e.output.device, e.output.point, true);
        ch.links.push({ series: s, contributions: outContribution, unitFactor: outputUnitFactor });
        s.coverageChannels.push(ch.key);
      } else {
        s.coverageChannels.push(manualOutputKey(e.id));
      }
      // Manual output entries are always accepted (corrections, or the only source).
      getManual(manualOutputKey(e.id)).links.push({ series: s, contributions: outContribution, unitFactor: () => 1 });
    }
  }

  const steamWatch = new Map<string, Array<{ channel: ChannelModel; role: 'p' | 't' }>>();
  for (const ch of channels.values()) {
    if (!ch.steam) continue;
    for (const [point, role] of [[ch.steam.pressurePoint, 'p'], [ch.steam.temperaturePoint, 't']] as const) {
      if (point === undefined) continue;
      const key = channelKey(ch.device, point);
      const list = steamWatch.get(key) ?? [];
      list.push({ channel: ch, role });
      steamWatch.set(key, list);
    }
  }

  return {
    steamWatch,
    manual,
    timezone: tz,
    graceMs: config.graceMs,
    maxGapMs: config.maxGapMs ?? 300_000,
    channels,
    series,
    accounts,
    factors: config.factors ?? {},
    shifts,
  };
}

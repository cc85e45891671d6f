// The engine's compiled view of its config: which channels exist, which series
// (owner × window) each channel feeds, with what sign and into which bucket, and the
// per-channel counter rules and CT/PT multipliers. Built once per createEngine.
import type { EngineAccount, EngineChannel, EngineConfig, EngineEnpi, EngineFactors } from './engine-config.js';
import type { CounterRules } from './counter.js';
import { parseWindow, parseTimeOfDay, tzOffsetMs, type WindowSpec, type ShiftStart } from './calendar.js';
import { quantityUnit, rateUnit, convertFactor } from './quantity.js';
import { MICRO } from './exact.js';

export interface Contribution {
  bucket: string;
  sign: 1 | -1;
}

export interface SeriesModel {
  key: string;
  kind: 'energy' | 'enpi';
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
}

export interface ChannelModel {
  key: string;
  device: string;
  point: string;
  kind: 'counter' | 'power';
  /** Configured unit overriding the poll's. */
  unit?: string | undefined;
  links: Link[];
  /** Counter rules in register micro-units at time tsMs. */
  rules(tsMs: number, unitScale: number): CounterRules;
  /** CT × PT (× factor) in effect at tsMs. */
  multiplierAt(tsMs: number): number;
  quantityUnit: typeof quantityUnit;
  rateUnit: typeof rateUnit;
}

export interface Model {
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
  return `manual/${enpiId}`;
}

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
  const headroom = cfg?.rate_headroom ?? 1.2;
  return {
    key: channelKey(device, point),
    device,
    point,
    kind: cfg?.kind ?? 'counter',
    unit: cfg?.unit,
    links: [],
    multiplierAt,
    quantityUnit,
    rateUnit,
    rules(tsMs, unitScale) {
      const perRegister = unitScale * multiplierAt(tsMs);
      return {
        modulusMicro: modulus === undefined ? undefined : Math.round(modulus * MICRO),
        jitterMicro: Math.round(jitter * MICRO),
        maxRatePerHourMicro: cfg?.max_rate === undefined ? undefined : ((cfg.max_rate * headroom) / perRegister) * MICRO,
        rolloverFraction: c.rollover_fraction ?? 0.1,
        resetToMicro: resetTo === undefined ? undefined : Math.round(resetTo * MICRO),
      };
    },
  };
}

export function buildModel(config: EngineConfig): Model {
  const tz = config.timezone || 'Asia/Shanghai';
  const shifts: ShiftStart[] = (config.shifts ?? []).flatMap((s) => {
    const ms = parseTimeOfDay(s.start);
    return ms === undefined ? [] : [{ id: s.id, startMsOfDay: ms }];
  });
  const channelCfg = new Map((config.channels ?? []).map((c) => [channelKey(c.device, c.point), c]));
  const channels = new Map<string, ChannelModel>();
  const getChannel = (device: string, point: string, isOutput: boolean): ChannelModel => {
    const key = channelKey(device, point);
    let ch = channels.get(key);
    if (!ch) {
      ch = buildChannel(channelCfg.get(key), device, point, tz, isOutput);
      channels.set(key, ch);
    }
    return ch;
  };
  const accounts = new Map(config.accounts.map((a) => [a.id, a]));
  const series: SeriesModel[] = [];

  const accountUnitFactor = (accountId: string, carrier: string) => (st: UnitState, ch: ChannelModel): number | undefined => {
    const from = st.channels[ch.key]?.unit;
    if (from === undefined) return undefined;
    const unit = (st.accountUnits[accountId] ??= from ?? CARRIER_UNITS[carrier] ?? from);
    return convertFactor(from, unit);
  };

  for (const a of config.accounts) {
    for (const w of a.windows) {
      const spec = parseWindow(w, shifts);
      if (!spec) continue;
      const s: SeriesModel = { key: `energy/${a.id}/${w}`, kind: 'energy', ownerId: a.id, windowId: w, spec, account: a, coverageChannels: [] };
      series.push(s);
      for (const m of a.meters) {
        const ch = getChannel(m.device, m.point, false);
        if (!s.coverageChannels.includes(ch.key)) s.coverageChannels.push(ch.key);
        ch.links.push({
          series: s,
          contributions: [{ bucket: 'q', sign: m.sign }, { bucket: `use:${m.use}`, sign: m.sign }],
          unitFactor: accountUnitFactor(a.id, a.carrier),
        });
      }
    }
  }

  for (const e of config.enpi) {
    const enpiAccounts = e.accounts.flatMap((id) => accounts.get(id) ?? []);
    for (const w of e.windows) {
      const spec = parseWindow(w, shifts);
      if (!spec) continue;
      const s: SeriesModel = { key: `enpi/${e.id}/${w}`, kind: 'enpi', ownerId: e.id, windowId: w, spec, enpi: e, enpiAccounts, coverageChannels: [] };
      series.push(s);
      for (const a of enpiAccounts) {
        for (const m of a.meters) {
          const ch = getChannel(m.device, m.point, false);
          if (!s.coverageChannels.includes(ch.key)) s.coverageChannels.push(ch.key);
          ch.links.push({
            series: s,
            contributions: [{ bucket: `a:${a.id}`, sign: m.sign }, { bucket: `a:${a.id}:use:${m.use}`, sign: m.sign }],
            unitFactor: accountUnitFactor(a.id, a.carrier),
          });
        }
      }
      const outKey = e.output.device !== undefined ? channelKey(e.output.device, e.output.point) : manualOutputKey(e.id);
      if (e.output.device !== undefined) {
        const ch = getChannel(e.output.device, e.output.point, true);
        ch.links.push({
          series: s,
          contributions: [{ bucket: 'out', sign: 1 }],
          unitFactor: (st, c) => {
            const from = st.channels[c.key]?.unit;
            return from === undefined ? 1 : (convertFactor(from, e.output.unit) ?? 1);
          },
        });
      }
      s.coverageChannels.push(outKey);
    }
  }

  return {
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

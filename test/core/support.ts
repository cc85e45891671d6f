// Helpers shared by the energy-core tests (not a test file itself).
import type { EngineConfig } from '../../src/core/engine.js';
import type { DevicePoll } from '../../src/core/sample.js';
import type { EngineRecord, EnergyRecord, EnpiRecord, DemandRecord, EventRecord } from '../../src/core/records.js';
import { loadFactorSets } from '../../src/energy-io/factors.js';
import type { FactorSet } from '../../src/core/factors.js';

export const MIN = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** Midnight of a Shanghai calendar day, as UTC ms. */
export const shanghaiMidnight = (y: number, m: number, d: number): number => Date.UTC(y, m - 1, d) - 8 * HOUR;

export function poll(device: string, tsMs: number, values: Record<string, number | [number, string]>): DevicePoll {
  return {
    device,
    tsMs,
    values: Object.fromEntries(Object.entries(values).map(([k, v]) => {
      const [value, unit] = Array.isArray(v) ? v : [v, k.includes('count') ? 'count' : 'kWh'];
      return [k, { value, unit, quality: 'good' as const }];
    })),
  };
}

let cached: Map<string, FactorSet> | undefined;
export async function factorSets(): Promise<Map<string, FactorSet>> {
  cached ??= await loadFactorSets();
  return cached;
}
export async function factorSet(id: string): Promise<FactorSet> {
  const s = (await factorSets()).get(id);
  if (!s) throw new Error(`no factor set ${id}`);
  return s;
}

export const energyRecords = (rs: EngineRecord[], window?: string): EnergyRecord[] =>
  rs.filter((r): r is EnergyRecord => r.kind === 'energy' && (window === undefined || r.window === window));
export const enpiRecords = (rs: EngineRecord[], window?: string): EnpiRecord[] =>
  rs.filter((r): r is EnpiRecord => r.kind === 'enpi' && (window === undefined || r.window === window));
export const demandRecords = (rs: EngineRecord[]): DemandRecord[] => rs.filter((r): r is DemandRecord => r.kind === 'demand');
export const eventRecords = (rs: EngineRecord[]): EventRecord[] => rs.filter((r): r is EventRecord => r.kind === 'event');

/**
 * The net-metering setup the engine's property tests and their replayed counterexamples
 * share: two DL/T 645 XXXXXX.XX registers (modulus 1e6 kWh, resolution 0.01, so jitter
 * ≤ 0.02), a plausible rate of at most 4,000 kW × 1.2 headroom, and net = main − sub.
 */
export const NET_METERING = {
  /** 23:40 in Shanghai: a run from here crosses midnight. */
  t0: Date.UTC(2024, 4, 5, 15, 40),
  modulus: 1_000_000,
  maxKw: 4_000,
} as const;

export const netMeteringConfig: EngineConfig = {
  timezone: 'Asia/Shanghai',
  graceMs: 30_000,
  accounts: [{
    id: 'net', carrier: 'electricity', windows: ['5m', '15m', '1h', '1d'],
    meters: [
      { device: 'main', point: 'active_energy_import_total', sign: 1, use: 'power' },
      { device: 'sub', point: 'active_energy_import_total', sign: -1, use: 'power' },
    ],
  }],
  enpi: [],
  channels: ['main', 'sub'].map((device) => ({
    device, point: 'active_energy_import_total', counter: { modulus: NET_METERING.modulus, resolution: 0.01 }, max_rate: NET_METERING.maxKw, rate_headroom: 1.2,
  })),
};


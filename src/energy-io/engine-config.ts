// Completes the engine config derived from devices and drivers (src/app/engine-config.ts)
// with the `energy:` section: gap threshold, shifts, per-channel settings (counter
// rules, plausibility, CT/PT, steam) and the selected factor sets read from disk.
import type { EngineChannel, EngineConfig } from '../core/engine-config.js';
import type { EnergySettings } from '../config/energy.js';
import { loadSelectedFactors } from './factors.js';

/** Configured channel settings win over what was derived from profiles, field by field. */
export function mergeChannels(derived: readonly EngineChannel[], configured: readonly EngineChannel[]): EngineChannel[] {
  const byKey = new Map(derived.map((c) => [`${c.device}/${c.point}`, c]));
  for (const c of configured) {
    const key = `${c.device}/${c.point}`;
    const base = byKey.get(key);
    byKey.set(key, base ? { ...base, ...c, counter: { ...base.counter, ...c.counter } } : c);
  }
  return [...byKey.values()];
}

export async function completeEngineConfig(base: EngineConfig, energy: EnergySettings): Promise<EngineConfig> {
  const factors = await loadSelectedFactors(energy.factors);
  return {
    ...base,
    maxGapMs: energy.max_gap,
    shifts: energy.shifts,
    channels: mergeChannels(base.channels ?? [], energy.channels),
    factors,
  };
}

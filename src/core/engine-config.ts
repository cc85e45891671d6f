// The engine's view of its configuration. Plain interfaces (not zod) so the pure core
// imports nothing outside src/core; the parsed config sections in src/config/energy.ts
// are structurally assignable to them.
import type { FactorSet } from './factors.js';

export type Use = 'fuel' | 'power' | 'feedstock';

export interface EngineMeterChannel {
  device: string;
  point: string;
  sign: 1 | -1;
  use: Use;
}

export interface EngineAccount {
  id: string;
  carrier: string;
  level?: string;
  meters: EngineMeterChannel[];
  windows: string[];
  demand?: boolean;
}

export interface EngineEnpi {
  id: string;
  accounts: string[];
  output: { device?: string | undefined; point: string; unit: string };
  windows: string[];
  min_coverage: number;
}

export interface EngineMultiplier {
  from: string;
  ct?: number | string | undefined;
  pt?: number | string | undefined;
  factor?: number | undefined;
}

export interface EngineChannel {
  device: string;
  point: string;
  kind?: 'counter' | 'power';
  unit?: string | undefined;
  /** Gap threshold for this channel, ms (the config's duration after parsing). */
  max_gap?: number | undefined;
  counter?: {
    modulus?: number | undefined;
    max?: number | undefined;
    resolution?: number | undefined;
    jitter?: number | undefined;
    reset_to?: number | undefined;
    rollover_fraction?: number | undefined;
  };
  max_rate?: number | undefined;
  rate_headroom?: number | undefined;
  multipliers?: EngineMultiplier[];
  steam?: EngineSteam | undefined;
}

export interface EngineSteam {
  pressure_point: string;
  pressure_unit?: 'MPa' | 'kPa' | 'bar';
  gauge?: boolean;
  temperature_point?: string | undefined;
  h_ref?: number;
}

export interface EngineShift {
  id: string;
  start: string;
}

export interface EngineFactors {
  coal?: FactorSet | undefined;
  co2?: FactorSet | undefined;
}

export interface EngineConfig {
  /** IANA zone of the site, e.g. Asia/Shanghai. */
  timezone: string;
  /** A window closes once its end + grace is at or before advance(nowMs). */
  graceMs: number;
  /** Readings further apart are a gap (default 5 minutes). */
  maxGapMs?: number;
  accounts: EngineAccount[];
  enpi: EngineEnpi[];
  channels?: EngineChannel[];
  shifts?: EngineShift[];
  factors?: EngineFactors;
}

import type { Unit } from './units.js';

/**
 * Quality of one value. `good` is the only quality the energy core takes at face
 * value; everything else is carried through to sinks so a dashboard can show it.
 * - invalid: the device answered with a sentinel (e.g. 0xFFFF "not available")
 * - bad: the read failed or the server reported a Bad status
 * - uncertain: the server said Uncertain, or the value is outside its plausible range
 * - stale: the value was not refreshed within its poll class
 */
export type Quality = 'good' | 'uncertain' | 'invalid' | 'bad' | 'stale';

export interface PointValue {
  value: number | string | boolean | null;
  unit: Unit | string;
  quality: Quality;
  /** Source timestamp when the device or server provided one. */
  sourceTsMs?: number;
  /** Why the value is not good, in the source's words (an OPC UA status name such as BadNoMatch). */
  status?: string;
}

/** One device poll: what a protocol driver hands to the pipeline. */
export interface DevicePoll {
  device: string;
  tsMs: number;
  values: Record<string, PointValue>;
}

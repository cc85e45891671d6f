import type { Unit } from '../core/units.js';

/**
 * Canonical point ids carry one quantity each, whatever the brand, so dashboards and EnPIs
 * never care which meter is installed. A profile that publishes such an id must publish it
 * in the canonical unit (scaled on the primary side).
 */
interface UnitRule {
  /** Matches the point id. */
  pattern: RegExp;
  unit: Unit;
  quantity: string;
}

const RULES: readonly UnitRule[] = [
  { pattern: /^active_energy_/, unit: 'kWh', quantity: 'active energy' },
  { pattern: /^reactive_energy_/, unit: 'kvarh', quantity: 'reactive energy' },
  { pattern: /^apparent_energy_/, unit: 'kVAh', quantity: 'apparent energy' },
  { pattern: /^active_power(_|$)/, unit: 'W', quantity: 'active power' },
  { pattern: /^reactive_power(_|$)/, unit: 'var', quantity: 'reactive power' },
  { pattern: /^apparent_power(_|$)/, unit: 'VA', quantity: 'apparent power' },
  { pattern: /^voltage(_|$)/, unit: 'V', quantity: 'voltage' },
  { pattern: /^current(_|$)/, unit: 'A', quantity: 'current' },
  { pattern: /^power_factor(_|$)/, unit: '1', quantity: 'power factor' },
  { pattern: /^frequency$/, unit: 'Hz', quantity: 'frequency' },
  { pattern: /^volume_total(_|$)/, unit: 'm3', quantity: 'volume' },
  { pattern: /^mass_total(_|$)/, unit: 't', quantity: 'mass' },
  { pattern: /^heat_total(_|$)/, unit: 'GJ', quantity: 'heat' },
  { pattern: /^flow_rate$/, unit: 'm3/h', quantity: 'volume flow' },
  { pattern: /^production_count$/, unit: 'count', quantity: 'production count' },
];

/** The unit a canonical id must be published in, or undefined for a model-specific id. */
export function canonicalUnit(pointId: string): { unit: Unit; quantity: string } | undefined {
  const rule = RULES.find((r) => r.pattern.test(pointId));
  return rule ? { unit: rule.unit, quantity: rule.quantity } : undefined;
}

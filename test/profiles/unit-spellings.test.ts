// Units as manuals and plant engineers write them: "kVArh", "m³/h", "°C", "KWH". Each is one
// of the gateway's units in another spelling, so a profile takes it and publishes the
// canonical spelling (the one dashboards and the canonical-unit check compare with). A unit
// that is none of them is refused with file:line and the spellings to use.
import { describe, expect, it } from 'vitest';
import { parseProfile } from '../../src/profiles/catalogue.js';
import { PROFILE_HEAD } from './support.js';

const HEAD = `${PROFILE_HEAD}points:\n`;

function unitOf(id: string, unit: string): string {
  const result = parseProfile(`${HEAD}  - { id: ${id}, address: 0, unit: ${JSON.stringify(unit)} }\n`, 'meter.yaml');
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.profile.points[0]!.unit;
}

describe('unit spellings', () => {
  it.each([
    ['active_energy_import_total', 'KWH', 'kWh'],
    ['active_energy_import_total', 'kW·h', 'kWh'],
    ['active_energy_import_total', 'kW.h', 'kWh'],
    ['reactive_energy_import_total', 'kVArh', 'kvarh'],
    ['reactive_energy_import_total', 'kVARh', 'kvarh'],
    ['reactive_power_total', 'VAr', 'var'],
    ['reactive_power_total', 'VAR', 'var'],
    ['apparent_power_total', 'va', 'VA'],
    ['frequency', 'hz', 'Hz'],
    ['volume_total', 'm³', 'm3'],
    ['flow_rate', 'm³/h', 'm3/h'],
    ['flow_rate', 'm3/hr', 'm3/h'],
    ['temperature', '°C', 'degC'],
    ['temperature', '℃', 'degC'],
    ['thd_voltage_l1', 'percent', '%'],
  ])('%s in "%s" is published in %s', (id, written, canonical) => {
    expect(unitOf(id, written)).toBe(canonical);
  });

  it('still refuses a unit that is no spelling of a known one, with file:line', () => {
    const result = parseProfile(`${HEAD}  - { id: voltage_l1, address: 0, unit: volts-ish }\n`, 'meter.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems).toEqual([expect.stringMatching(/^meter\.yaml:8 points\[0\]\.unit: unknown unit "volts-ish"/)]);
  });

  it('still refuses a known unit on the wrong canonical id (kW on active_power_total: scale it)', () => {
    const result = parseProfile(`${HEAD}  - { id: active_power_total, address: 0, unit: KW }\n`, 'meter.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems[0]).toMatch(/^meter\.yaml:8 points\[0\]\.unit: active_power_total is active power, published in W/);
  });
});

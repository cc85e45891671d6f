import { describe, expect, it } from 'vitest';
import { applyDerived } from '../../src/profiles/derive.js';
import { resolvePoint, type ProfilePoint } from '../../src/profiles/schema.js';
import type { Decoded } from '../../src/protocols/modbus/decode.js';

const pt = (id: string, extra: Partial<ProfilePoint> = {}) => resolvePoint({ id, address: 0, unit: '', ...extra }, { function: 'holding' });
const good = (value: number): Decoded => ({ value, quality: 'good' });

describe('applyDerived', () => {
  const profile = {
    settings: { ct_ratio: { default: 1 }, pt_ratio: { default: 1 } },
    points: [
      pt('current_l1', { unit: 'A', multiply_by: ['ct_ratio'] }),
      pt('active_power_total', { unit: 'W', multiply_by: ['ct_ratio', 'pt_ratio'] }),
      pt('irat', { internal: true }),
      pt('active_energy_import_total', { unit: 'kWh', multiply_by: ['irat'] }),
      pt('power_sf', { type: 'int16', internal: true }),
      pt('reactive_power_total', { unit: 'var', type: 'int16', scale_register: 'power_sf' }),
    ],
  };

  it('puts values on the primary side and drops internal points', () => {
    const values = applyDerived(profile, {
      current_l1: good(2.5), active_power_total: good(500), irat: good(40),
      active_energy_import_total: good(12.5), power_sf: good(-2), reactive_power_total: good(1234),
    }, { ct_ratio: 40, pt_ratio: 100 });
    expect(values).toEqual({
      current_l1: { value: 100, unit: 'A', quality: 'good' },
      active_power_total: { value: 2_000_000, unit: 'W', quality: 'good' },
      active_energy_import_total: { value: 500, unit: 'kWh', quality: 'good' },
      reactive_power_total: { value: 12.34, unit: 'var', quality: 'good' },
    });
  });

  it('uses the profile default when the device config leaves a setting out', () => {
    const values = applyDerived(profile, { current_l1: good(2.5) });
    expect(values.current_l1).toEqual({ value: 2.5, unit: 'A', quality: 'good' });
  });

  it('an invalid or unread ratio register spoils the values that need it', () => {
    expect(applyDerived(profile, { irat: { value: null, quality: 'invalid' }, active_energy_import_total: good(1) }).active_energy_import_total)
      .toEqual({ value: null, unit: 'kWh', quality: 'invalid' });
    expect(applyDerived(profile, { active_energy_import_total: good(1) }).active_energy_import_total)
      .toEqual({ value: null, unit: 'kWh', quality: 'bad' });
  });

  it('points that were not read this poll are absent', () => {
    expect(Object.keys(applyDerived(profile, { current_l1: good(1) }))).toEqual(['current_l1']);
  });
});

// Invariants over every shipped profile and its golden fixture. Adding a driver without a
// fixture, with a unit that does not match its quantity, or with overlapping registers fails here.
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultDriversDir, loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { registerCount } from '../../src/protocols/modbus/decode.js';
import { expectation, readFixture, replayFixture } from './fixture.js';

const driversDir = defaultDriversDir();
const fixturesDir = join(driversDir, '..', 'test', 'fixtures', 'drivers');
const catalogue = loadCatalogueSync(driversDir);
const profiles = [...catalogue.values()];

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : []);
}

// Quantity of a canonical id → the one unit it is published in (DESIGN.md table).
const CANONICAL_UNITS: [RegExp, string][] = [
  [/^active_energy_/, 'kWh'], [/^reactive_energy_/, 'kvarh'], [/^apparent_energy_/, 'kVAh'],
  [/^active_power/, 'W'], [/^reactive_power/, 'var'], [/^apparent_power/, 'VA'],
  [/^voltage/, 'V'], [/^current/, 'A'], [/^power_factor/, '1'], [/^frequency$/, 'Hz'],
  [/^volume_total/, 'm3'], [/^mass_total/, 't'], [/^heat_total/, 'GJ'], [/^flow_rate$/, 'm3/h'],
];

describe('driver catalogue', () => {
  it('ships at least 12 real models, electricity as well as flow and heat/steam', () => {
    expect(profiles.length).toBeGreaterThanOrEqual(12);
    const publishes = (re: RegExp) => profiles.filter((p) => p.points.some((q) => !q.internal && re.test(q.id))).map((p) => p.id);
    expect(publishes(/^active_energy_import_(total|t1)$/).length).toBeGreaterThanOrEqual(10);
    expect(publishes(/^volume_total$/), 'a gas or water flow meter').not.toEqual([]);
    expect(publishes(/^(heat_total|mass_total)$/), 'a heat or steam meter').not.toEqual([]);
  });

  it('includes every model the library issue requires', () => {
    for (const id of ['eastron-sdm630', 'eastron-sdm120', 'chint-dtsu666', 'chint-ddsu666', 'acrel-adl400',
      'schneider-pm5300', 'schneider-iem3255', 'siemens-pac3200', 'abb-b23']) {
      expect(catalogue.has(id), id).toBe(true);
    }
  });

  it('models secondary-side Chinese meters with their ratio registers', () => {
    for (const id of ['chint-dtsu666', 'acrel-adl400']) {
      const profile = catalogue.get(id)!;
      const energy = profile.points.find((p) => p.id === 'active_energy_import_total')!;
      expect(energy.multiply_by.sort(), id).toEqual(['ct_ratio', 'pt_ratio']);
      for (const ratio of energy.multiply_by) expect(profile.points.find((p) => p.id === ratio)?.internal, `${id} ${ratio}`).toBe(true);
    }
  });

  it('gives a direct-connected meter its ratios as settings, not as registers of unknown meaning', () => {
    const profile = catalogue.get('chint-ddsu666')!;
    const energy = profile.points.find((p) => p.id === 'active_energy_import_total')!;
    expect(energy.multiply_by.sort()).toEqual(['ct_ratio', 'pt_ratio']);
    for (const ratio of energy.multiply_by) {
      expect(profile.points.some((p) => p.id === ratio)).toBe(false);
      expect(profile.settings[ratio]?.default).toBe(1);
    }
  });

  it('names every file after its id: drivers/<vendor>/<model>.yaml holds <vendor>-<model>', () => {
    for (const file of yamlFiles(driversDir)) {
      const vendor = basename(dirname(file));
      const expectedId = `${vendor}-${basename(file, '.yaml')}`;
      expect(catalogue.protocolOf(expectedId), `${relative(driversDir, file)} should hold id ${expectedId}`).toBeDefined();
    }
  });
});

describe.each(profiles.map((p) => [p.id, p] as const))('%s', (id, profile) => {
  it('names the manual it was transcribed from', () => {
    expect(profile.references.length).toBeGreaterThan(0);
    for (const ref of profile.references) {
      expect(ref.title.trim()).not.toBe('');
      expect(ref.revision.trim()).not.toBe('');
    }
  });

  it('has unique point ids and no overlapping registers', () => {
    const ids = profile.points.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const owner = new Map<string, string>();
    for (const p of profile.points) {
      for (let a = p.address; a < p.address + registerCount(p); a++) {
        const key = `${p.function}:${a}${p.type === 'bit' ? `.${p.bit}` : ''}`;
        const whole = `${p.function}:${a}`;
        const clash = owner.get(key) ?? (p.type === 'bit' ? undefined : owner.get(whole));
        expect(clash, `${p.id} overlaps ${clash} at ${p.function} ${a}`).toBeUndefined();
        owner.set(key, p.id);
        if (p.type !== 'bit') owner.set(whole, p.id);
      }
    }
  });

  it('publishes canonical ids in their canonical units', () => {
    for (const p of profile.points.filter((q) => !q.internal)) {
      const rule = CANONICAL_UNITS.find(([re]) => re.test(p.id));
      if (rule) expect(p.unit, p.id).toBe(rule[1]);
    }
  });

  it('has a golden fixture that decodes to the expected primary-side values', () => {
    const path = join(fixturesDir, `${id}.yaml`);
    expect(existsSync(path), `missing fixture ${relative(process.cwd(), path)}`).toBe(true);
    const fixture = readFixture(path);
    expect(fixture.profile).toBe(id);
    const { values, requests } = replayFixture(profile, fixture);

    const published = profile.points.filter((p) => !p.internal).map((p) => p.id).sort();
    expect(Object.keys(fixture.expected).sort(), 'every published point has an expectation').toEqual(published);
    for (const [pointId, expected] of Object.entries(fixture.expected)) {
      const want = expectation(expected);
      const got = values[pointId];
      expect(got?.quality, pointId).toBe(want.quality);
      if (typeof want.value === 'number') {
        expect(got?.value, pointId).toBeTypeOf('number');
        // float32 carries ~7 significant digits
        expect(Math.abs((got?.value as number) - want.value), `${pointId}: ${String(got?.value)} vs ${want.value}`)
          .toBeLessThanOrEqual(Math.max(1e-9, Math.abs(want.value) * 1e-6));
      } else {
        expect(got?.value, pointId).toEqual(want.value);
      }
    }
    const limit = profile.read.max_registers ?? 125;
    for (const r of requests) if (r.function === 'holding' || r.function === 'input') expect(r.count).toBeLessThanOrEqual(limit);
  });
});

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CatalogueError, defaultDriversDir, loadCatalogue, loadCatalogueSync, parseProfile } from '../../src/profiles/catalogue.js';

const dirs: string[] = [];
function tempDrivers(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'drivers-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const GOOD = `schema: energy-gateway.driver/v1
id: acme-m1
manufacturer: Acme
model: M1
references: [{ title: M1 Modbus map, revision: "2.0" }]
protocol: modbus
defaults: { function: holding, type: float32, order: word-swap }
points:
  - { id: voltage_l1, address: 0x10, unit: V }
  - { id: active_energy_import_total, address: 0x20, unit: kWh, counter: {} }
`;

describe('loadCatalogue', () => {
  it('finds the shipped drivers folder and loads the SDM630', async () => {
    expect(defaultDriversDir()).toMatch(/drivers$/);
    const catalogue = await loadCatalogue();
    const sdm = catalogue.get('eastron-sdm630');
    expect(sdm?.manufacturer).toBe('Eastron');
    expect(sdm?.points.find((p) => p.id === 'voltage_l1')).toMatchObject({ address: 0, function: 'input', type: 'float32', order: 'ABCD', unit: 'V' });
  });

  it('reads nested folders and applies defaults, normalising order aliases', async () => {
    const catalogue = await loadCatalogue(tempDrivers({ 'acme/m1.yaml': GOOD }));
    const point = catalogue.get('acme-m1')!.points[0]!;
    expect(point).toMatchObject({ function: 'holding', type: 'float32', order: 'CDAB', address: 16 });
  });

  it('lists every problem in every file, with file and line', async () => {
    const shapeErrors = GOOD.replace('unit: V }', 'unit: kV }').replace('order: word-swap', 'order: sideways');
    const unitError = GOOD.replace('id: acme-m1', 'id: acme-m2').replace('unit: kWh', 'unit: Wh');
    const dir = tempDrivers({ 'acme/m1.yaml': shapeErrors, 'acme/m2.yaml': unitError });
    const error = await loadCatalogue(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CatalogueError);
    expect((error as CatalogueError).problems).toEqual([
      expect.stringMatching(/m1\.yaml:7 defaults\.order: unknown order "sideways"/),
      expect.stringMatching(/m1\.yaml:9 points\[0\]\.unit: unknown unit "kV"/),
      expect.stringMatching(/m2\.yaml:10 points\[1\]\.unit: active_energy_import_total is active energy, published in kWh/),
    ]);
  });

  it('reports overlaps and unknown ratio names at their line', () => {
    const text = GOOD.replace('address: 0x20, unit: kWh, counter: {}', 'address: 0x11, unit: kWh, multiply_by: [ct_ratio]');
    const result = parseProfile(text, 'm1.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems).toEqual(expect.arrayContaining([
        expect.stringMatching(/^m1\.yaml:10 points\[1\]\.address: .*overlap "voltage_l1"/),
        expect.stringMatching(/^m1\.yaml:10 points\[1\]\.multiply_by\[0\]: "ct_ratio" is neither a point nor a setting/),
      ]));
    }
  });

  it('rejects two files claiming the same id', () => {
    const dir = tempDrivers({ 'a.yaml': GOOD, 'b/c.yaml': GOOD });
    expect(() => loadCatalogueSync(dir)).toThrow(/duplicate profile id "acme-m1"/);
  });

  it('reports a missing drivers folder as a catalogue problem', async () => {
    await expect(loadCatalogue('/nonexistent/drivers')).rejects.toThrow(/drivers folder not found/);
    expect(() => loadCatalogueSync('/nonexistent/drivers')).toThrow(CatalogueError);
  });

  it('reports YAML syntax errors with their line', () => {
    const dir = tempDrivers({ 'x.yaml': 'schema: [unclosed\nid: x\n' });
    expect(() => loadCatalogueSync(dir)).toThrow(/x\.yaml:\d+ \(yaml\)/);
  });
});

const OPCUA = `schema: energy-gateway.driver/v1
id: acme-press
manufacturer: Acme
model: Press energy module
references: [{ title: Press OPC UA interface, revision: "1.2" }]
protocol: opcua
namespaces: { acme: "urn:acme:press" }
points:
  - { id: active_power_total, browse_path: "acme:Energy/acme:Power", unit: W }
  - { id: active_energy_import_total, browse_path: "acme:Energy/acme:EnergyWh", unit: kWh, scale: 0.001, counter: {} }
  - { id: production_count, node_id: "nsu=urn:acme:press;s=Counters.Good", unit: count, counter: {} }
`;

describe('OPC UA profiles in the catalogue', () => {
  it('loads protocol: opcua files next to Modbus ones, kept apart by protocol', () => {
    const catalogue = loadCatalogueSync(tempDrivers({ 'acme/m1.yaml': GOOD, 'acme/press.yaml': OPCUA }));
    expect([...catalogue.keys()]).toEqual(['acme-m1']);
    expect(catalogue.opcua.get('acme-press')?.points[1]).toMatchObject({ browse_path: 'acme:Energy/acme:EnergyWh', scale: 0.001, counter: {} });
    expect(catalogue.protocolOf('acme-press')).toBe('opcua');
    expect(catalogue.protocolOf('acme-m1')).toBe('modbus');
    expect(catalogue.protocolOf('nope')).toBeUndefined();
  });

  it('an OPC UA profile and a Modbus profile cannot share an id', () => {
    const dir = tempDrivers({ 'a.yaml': GOOD, 'b.yaml': OPCUA.replace('id: acme-press', 'id: acme-m1') });
    expect(() => loadCatalogueSync(dir)).toThrow(/duplicate profile id "acme-m1"/);
  });

  it('reports undeclared namespace aliases, missing or double targets, Modbus fields and wrong units at their line', () => {
    const text = OPCUA
      .replace('"acme:Energy/acme:Power"', '"other:Power"')
      .replace('unit: kWh, scale: 0.001', 'node_id: "ns=3;s=E", unit: Wh')
      .replace('node_id: "nsu=urn:acme:press;s=Counters.Good"', 'address: 12');
    const result = parseProfile(text, 'press.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems).toEqual(expect.arrayContaining([
        expect.stringMatching(/^press\.yaml:9 points\[0\]\.browse_path: unknown namespace alias "other"/),
        expect.stringMatching(/^press\.yaml:10 points\[1\]: give either browse_path .* or node_id, not both/),
        expect.stringMatching(/^press\.yaml:10 points\[1\]\.unit: active_energy_import_total is active energy, published in kWh/),
        expect.stringMatching(/^press\.yaml:11 points\[2\]: Unrecognized key: "address"/),
      ]));
    }
  });

  it('names both protocols when a profile has another', () => {
    const result = parseProfile(GOOD.replace('protocol: modbus', 'protocol: bacnet'), 'm1.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems).toEqual(['m1.yaml:6 protocol: expected modbus or opcua, got "bacnet"']);
  });
});

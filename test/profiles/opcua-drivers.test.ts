// Invariants over every shipped OPC UA profile (protocol: opcua) and its golden fixture.
// The end-to-end replay against a real server is test/protocols/opcua/profiles.test.ts.
import { describe, expect, it } from 'vitest';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { canonicalUnit } from '../../src/profiles/canonical.js';
import { parseBrowsePath } from '../../src/profiles/opcua-schema.js';
import { applyScale } from '../../src/profiles/scale.js';
import { readOpcuaFixture } from './opcua-fixture.js';

const catalogue = loadCatalogueSync();
const profiles = [...catalogue.opcua.values()];

describe('OPC UA profile catalogue', () => {
  it('ships at least one OPC UA profile that publishes active energy', () => {
    const withEnergy = profiles.filter((p) => p.points.some((q) => q.id === 'active_energy_import_total'));
    expect(withEnergy.map((p) => p.id)).toContain('opc-34100-energy-profile-e2');
  });

  it('keeps Modbus and OPC UA ids apart: a Modbus lookup never returns an OPC UA profile', () => {
    for (const p of profiles) {
      expect(catalogue.has(p.id), p.id).toBe(false);
      expect(catalogue.protocolOf(p.id)).toBe('opcua');
    }
    expect(catalogue.protocolOf('eastron-sdm630')).toBe('modbus');
  });
});

describe.each(profiles.map((p) => [p.id, p] as const))('%s', (id, profile) => {
  it('names the specification or manual it was taken from', () => {
    expect(profile.references.length).toBeGreaterThan(0);
    for (const ref of profile.references) {
      expect(ref.title.trim()).not.toBe('');
      expect(ref.revision.trim()).not.toBe('');
    }
  });

  it('has unique point ids and unique addresses, every browse name qualified by a declared namespace URI', () => {
    const ids = profile.points.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const addresses = profile.points.map((p) => p.browse_path ?? p.node_id);
    expect(new Set(addresses).size).toBe(addresses.length);
    for (const p of profile.points) {
      if (p.browse_path !== undefined) {
        const steps = parseBrowsePath(p.browse_path);
        expect(Array.isArray(steps), p.id).toBe(true);
        for (const s of steps as Exclude<typeof steps, string>) {
          // Index 0 is the only index that is the same on every server.
          if (/^[0-9]+$/.test(s.prefix)) expect(s.prefix, p.id).toBe('0');
          else expect(profile.namespaces[s.prefix], `${p.id}: ${s.prefix}`).toMatch(/^(urn:|https?:\/\/)/);
        }
      } else {
        // A fixed node id names its namespace by URI, never by an index that differs per server.
        expect(p.node_id, p.id).toMatch(/^(nsu=|i=)/);
      }
    }
  });

  it('publishes canonical ids in their canonical units', () => {
    for (const p of profile.points) {
      const canonical = canonicalUnit(p.id);
      if (canonical) expect(p.unit, p.id).toBe(canonical.unit);
    }
  });

  it('has a golden fixture whose raw values scale to the expected published values', () => {
    const fixture = readOpcuaFixture(id);
    expect(fixture, `missing test/profiles/opcua-fixtures/${id}.yaml`).toBeDefined();
    expect(fixture!.profile).toBe(id);
    expect(Object.keys(fixture!.expected).sort(), 'every point has an expectation').toEqual(profile.points.map((p) => p.id).sort());
    for (const p of profile.points) {
      const raw = fixture!.nodes[p.browse_path ?? p.node_id ?? ''];
      expect(raw, `${p.id}: no raw value in the fixture`).toBeDefined();
      if (raw!.data_type === 'Float') expect(Math.fround(raw!.value as number), `${p.id}: not exact in Float`).toBe(raw!.value);
      const published = typeof raw!.value === 'number' ? applyScale(raw!.value, p.scale, p.offset) : raw!.value;
      expect(published, p.id).toBe(fixture!.expected[p.id]);
    }
  });
});

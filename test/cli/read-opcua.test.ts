// `read` on a device of an OPC UA bus: a real node-opcua server (free port, PKI in a temp
// dir) serves the E2 profile's address space with one node in a Bad state; the device is
// configured with nothing but driver: and root:.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { startProfileServer, type ProfileServer } from '../../src/sim/opcua/profile-server.js';
import { freePort } from '../support/servers.js';
import { runCliAsync } from '../support/cli.js';
import { readOpcuaFixture } from '../profiles/opcua-fixture.js';

const PROFILE = 'opc-34100-energy-profile-e2';
const profile = loadCatalogueSync().opcua.get(PROFILE)!;
const fixture = readOpcuaFixture(PROFILE)!;
let dir: string;
let server: ProfileServer;

function writeConfig(name: string, endpoint: string, root: string): string {
  const file = join(dir, name);
  writeFileSync(file, `version: 1
gateway: { id: edge-01, site: plant-a, data_dir: "${join(dir, 'data')}" }
buses:
  - { id: plc1, type: opcua, endpoint: "${endpoint}", timeout: 2s, reconnect_max: 1s }
devices:
  - { id: machine, bus: plc1, driver: ${PROFILE}, root: "${root}" }
`);
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'eg-read-opcua-'));
  server = await startProfileServer({
    profile,
    values: { ...fixture.nodes, 'ecm:AcActiveEnergyTotalExportLp': { ...fixture.nodes['ecm:AcActiveEnergyTotalExportLp']!, status: 'BadSensorFailure' } },
    pkiDir: join(dir, 'server-pki'),
  });
}, 60_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('read on an OPC UA device', () => {
  it('--json prints every profile point in canonical units, and the status name of the bad one', async () => {
    const file = writeConfig('gateway.yaml', server.endpoint, server.root);
    const { code, stdout, stderr } = await runCliAsync(['read', '--config', file, '--device', 'machine', '--json']);
    expect(code, stderr).toBe(0);
    const out = JSON.parse(stdout) as { device: string; values: Record<string, { value: unknown; unit: string; quality: string; status?: string }> };
    expect(out.device).toBe('machine');
    expect(Object.keys(out.values).sort()).toEqual(profile.points.map((p) => p.id).sort());
    expect(out.values.active_energy_export_total).toEqual({ value: null, unit: 'kWh', quality: 'bad', status: 'BadSensorFailure' });
    for (const p of profile.points.filter((q) => q.id !== 'active_energy_export_total')) {
      expect(out.values[p.id], p.id).toEqual({ value: fixture.expected[p.id], unit: p.unit, quality: 'good' });
    }
  }, 60_000);

  it('exits 1 saying why when the server is not there', async () => {
    const file = writeConfig('nobody.yaml', `opc.tcp://127.0.0.1:${await freePort()}`, server.root);
    const { code, stdout, stderr } = await runCliAsync(['read', '--config', file, '--device', 'machine']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/energy-gateway read: machine \(on plc1, opc\.tcp:\/\/127\.0\.0\.1:\d+\): /);
  }, 60_000);
});

// `read --json` through the real CLI against the byte-scripted Modbus TCP server: the JSON
// shape of DESIGN.md, and exit codes when the device is dead, refuses a block, or there is
// no server at all — never a silent zero, never exit 0 for a read that did not fully happen.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planProfile } from '../../src/profiles/planner.js';
import { catalogue, runCliAsync } from '../protocols/modbus/helpers.js';
import { startScripted, type Scripted, type ScriptedRequest } from '../protocols/modbus/scripted.js';
import { freePort } from '../support/servers.js';

const sdm630 = catalogue.get('eastron-sdm630')!;
/** Unit 2 refuses every request covering this register (SDM630's line-to-line block) with exception 3. */
const REFUSED = 0x00c8;
/** Requests the SDM630's plan makes at the device's interval (every class due at a one-shot read). */
const sdm630Requests = () => planProfile(sdm630, 1000).reduce((n, c) => n + c.requests.length, 0);
const covers = (r: ScriptedRequest, address: number) => r.address <= address && address < r.address + r.count;

interface ReadJson {
  device: string;
  ts: number;
  values: Record<string, { value: unknown; unit: string; quality: string; status?: string }>;
}

describe('read --json, device faults (real CLI, scripted server)', () => {
  let server: Scripted;
  let dir: string;
  let config: string;

  beforeAll(async () => {
    server = await startScripted('mbap', (req, reply) => {
      if (req.unit === 3) return; // dead
      if (req.unit === 2 && covers(req, REFUSED)) {
        // 3 (illegal data value): the block is read again in pieces, the piece holding 0xC8
        // point by point; only the point on 0xC8 stays refused.
        reply.send(reply.frame(Buffer.from([req.unit, req.fc | 0x80, 3])));
        return;
      }
      // 0x4000_0000 is 2.0 as a float32: every value is a plausible number, none of them zero.
      reply.send(reply.frame(reply.answerPdu(req.unit, req.fc, Array.from({ length: req.count }, (_, i) => (i % 2 === 0 ? 0x4000 : 0)))));
    });
    const closed = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'eg-qa-read-'));
    config = join(dir, 'gateway.yaml');
    writeFileSync(config, `version: 1
gateway: { id: gw, site: plant, data_dir: ${dir} }
buses:
  - { id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${server.port}, timeout: 300ms }
  - { id: nowhere, type: modbus_tcp, host: 127.0.0.1, port: ${closed}, timeout: 300ms }
devices:
  - { id: good, driver: eastron-sdm630, bus: panel, unit_id: 1 }
  - { id: partial, driver: eastron-sdm630, bus: panel, unit_id: 2 }
  - { id: dead, driver: eastron-sdm630, bus: panel, unit_id: 3, retries: 1 }
  - { id: unplugged, driver: eastron-sdm630, bus: nowhere, unit_id: 1 }
`);
  });

  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints { device, ts, values } with value, unit and quality per point, and exits 0', async () => {
    const before = Date.now();
    const r = await runCliAsync(['read', '--config', config, '--device', 'good', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as ReadJson;
    expect(Object.keys(out).sort()).toEqual(['device', 'ts', 'values']);
    expect(out.device).toBe('good');
    expect(out.ts).toBeGreaterThanOrEqual(before - 1000);
    expect(out.ts).toBeLessThanOrEqual(Date.now());
    expect(Object.keys(out.values).sort()).toEqual(sdm630.points.filter((p) => !p.internal).map((p) => p.id).sort());
    for (const v of Object.values(out.values)) {
      expect(Object.keys(v).sort()).toEqual(['quality', 'unit', 'value']);
      expect(v.quality).toBe('good');
    }
    // 2.0 in the meter's float registers, in their canonical units.
    expect(out.values.voltage_l1).toEqual({ value: 2, unit: 'V', quality: 'good' });
    expect(out.values.active_energy_import_total).toEqual({ value: 2, unit: 'kWh', quality: 'good' });
  }, 60_000);

  it('exits 1 when a block is refused, printing the other values and the refused ones as null with the reason', async () => {
    const r = await runCliAsync(['read', '--config', config, '--device', 'partial', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('illegal data value');
    // The refused block, the requests it is read in now, and the one refused to the end.
    expect(r.stderr).toMatch(/refused input 200\+\d+ \(read in \d+ pieces, \d+ of them single points\):/);
    expect(r.stderr).toContain('(reading input 200+2)');
    // The table's header says what was sent against the plan: the smaller requests cost more.
    const table = await runCliAsync(['read', '--config', config, '--device', 'partial']);
    const sent = /, (\d+) requests \((\d+) planned\)/.exec(table.stdout);
    expect(sent, table.stdout.split('\n')[0]).not.toBeNull();
    expect(Number(sent![2])).toBe(sdm630Requests());
    expect(Number(sent![1])).toBeGreaterThan(Number(sent![2]));
    const out = JSON.parse(r.stdout) as ReadJson;
    const refused = sdm630.points.filter((p) => p.address === REFUSED).map((p) => p.id);
    expect(refused).toHaveLength(1);
    for (const p of sdm630.points.filter((q) => q.address > REFUSED && q.address < 0x100 && !q.internal)) {
      expect(out.values[p.id]!.quality, p.id).toBe('good');
    }
    for (const id of refused) {
      expect(out.values[id]).toMatchObject({ value: null, quality: 'bad' });
      expect(out.values[id]!.status).toContain('exception 3');
    }
    expect(out.values.voltage_l1).toEqual({ value: 2, unit: 'V', quality: 'good' });
    expect(out.values.active_energy_import_l1).toEqual({ value: 2, unit: 'kWh', quality: 'good' });
  }, 60_000);

  it.each([
    ['dead', /timeout \(reading input 0\+\d+\)/],
    ['unplugged', /cannot connect bus nowhere/],
  ])('exits 1 with the reason and prints no values when %s', async (device, reason) => {
    const r = await runCliAsync(['read', '--config', config, '--device', device, '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(reason);
    expect(r.stderr).toContain(`energy-gateway read: ${device} (unit`);
  }, 60_000);

  it('asks a dead device its first block, then that block\'s first point alone, each 1 + retries times', async () => {
    const before = server.requests.filter((q) => q.unit === 3).length;
    const r = await runCliAsync(['read', '--config', config, '--device', 'dead', '--json']);
    const asked = server.requests.filter((q) => q.unit === 3).slice(before).map((q) => q.count);
    // A meter that ignores reads longer than it serves answers the short one; a dead one does not.
    expect(asked).toEqual([80, 80, 2, 2]);
    expect(r.stderr).toContain('its first point alone, as input 0+80 timed out whole last time');
  }, 60_000);
});

// The commissioning commands against a real simulator: browse and certs.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run as browse } from '../../../src/cli/browse.js';
import { run as opcua } from '../../../src/cli/opcua.js';
import { startLineSimulator, type LineSimulator } from '../../../src/sim/opcua/line.js';
import { tempDir } from './helpers.js';

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { out += String(chunk); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { err += String(chunk); return true; });
  try {
    return { code: await fn(), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('opcua commissioning CLI', { timeout: 60_000 }, () => {
  let sim: LineSimulator;
  const tmp = tempDir('opcua-cli');
  const dataDir = join(tmp.dir, 'data');
  beforeAll(async () => {
    sim = await startLineSimulator({ pkiDir: join(tmp.dir, 'server-pki'), idleMs: 0 });
  });
  afterAll(async () => {
    await sim.stop();
    tmp.remove();
  });

  it('browse --json lists the line tags with node ids, data types and current values', async () => {
    const r = await capture(() => browse(['--endpoint', sim.endpoint, '--json', '--data-dir', dataDir]));
    expect(r.code).toBe(0);
    const vars = JSON.parse(r.out) as Array<{ node_id: string; path: string; data_type: string; value: unknown; quality: string }>;
    expect(vars).toContainEqual(expect.objectContaining({ node_id: 'ns=1;s=Line1.GoodParts', path: 'Line1/GoodParts', data_type: 'UInt32', quality: 'good' }));
    expect(vars).toContainEqual(expect.objectContaining({ node_id: 'ns=1;s=Line1.Energy', data_type: 'Double' }));
    expect(typeof vars.find((v) => v.node_id === 'ns=1;s=Line1.Power')?.value).toBe('number');
    // The Server object's diagnostics are left out unless asked for.
    expect(vars.some((v) => v.path.startsWith('Server/'))).toBe(false);
  });

  it('browse from a node with a depth prints a table a person can read', async () => {
    const r = await capture(() => browse(['--endpoint', sim.endpoint, '--node', 'ns=1;s=Line1', '--depth', '1', '--data-dir', dataDir]));
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^node_id\s+data_type\s+value\s+path$/);
    expect(lines).toHaveLength(7);
    expect(r.out).toMatch(/ns=1;s=Line1\.MachineState\s+Int32\s+1\s+MachineState/);
  });

  it('browse of an unreachable endpoint fails with exit 1 and a one-line reason', async () => {
    const r = await capture(() => browse(['--endpoint', 'opc.tcp://127.0.0.1:1', '--data-dir', dataDir]));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^browse opc\.tcp:\/\/127\.0\.0\.1:1 failed: /);
  });

  it('the application certificate is created once and reused; certs list shows it', async () => {
    const first = await capture(() => opcua(['certs', 'list', '--data-dir', dataDir, '--json']));
    expect(first.code).toBe(0);
    const own = (JSON.parse(first.out) as Array<{ status: string; thumbprint: string; application_uri: string }>).filter((c) => c.status === 'own');
    expect(own).toHaveLength(1);
    expect(own[0]?.application_uri).toMatch(/^urn:.+:energy-gateway$/);
    await capture(() => browse(['--endpoint', sim.endpoint, '--depth', '1', '--data-dir', dataDir]));
    const again = await capture(() => opcua(['certs', 'list', '--data-dir', dataDir, '--json']));
    expect((JSON.parse(again.out) as Array<{ status: string; thumbprint: string }>).filter((c) => c.status === 'own')).toEqual([expect.objectContaining({ thumbprint: own[0]?.thumbprint })]);
  });

  it('certs trust with an unknown thumbprint exits 1 and says so; bad usage exits 2', async () => {
    const r = await capture(() => opcua(['certs', 'trust', 'deadbeefdeadbeef', '--data-dir', dataDir]));
    expect(r.code).toBe(1);
    expect(r.err).toContain('no certificate with thumbprint "deadbeefdeadbeef"');
    expect((await capture(() => opcua(['certs', 'frobnicate', '--data-dir', dataDir]))).code).toBe(2);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeCommand } from '../../src/cli/probe.js';
import { SimulatedMeter } from '../../src/sim/modbus-meter.js';
import { startModbusTcpSimulator, type SimServerHandle } from '../../src/sim/modbus-server.js';
import { captureStdout, catalogue, runCliAsync } from '../protocols/modbus/helpers.js';

const AT_MS = Date.UTC(2025, 5, 1, 12);

interface ProbeJson {
  address: number;
  count: number;
  reads: Array<{ address: number; words: number[] | null; error?: string; decodings: Array<{ type: string; order: string; value: number | null }> }>;
}

describe('energy-gateway probe', () => {
  let sim: SimServerHandle;
  const sdm630 = new SimulatedMeter({ unitId: 1, profile: catalogue.get('eastron-sdm630')!, epochMs: AT_MS - 60_000 });
  // MagFlux sends its floats low word first (CDAB), in m3/s.
  const magflux = new SimulatedMeter({ unitId: 2, profile: catalogue.get('xylem-magflux')!, epochMs: AT_MS - 60_000 });

  const strict = new SimulatedMeter({
    unitId: 3, profile: { ...catalogue.get('eastron-sdm630')!, unreadable: [{ function: 'input', from: 0x33, to: 0x33 }] }, epochMs: AT_MS - 60_000,
  });

  // The same, but it ignores such a read instead of answering exception 2.
  const mute = new SimulatedMeter({
    unitId: 4, profile: { ...catalogue.get('eastron-sdm630')!, unreadable: [{ function: 'input', from: 0x33, to: 0x33 }] }, epochMs: AT_MS - 60_000, refuse: 'silent',
  });

  beforeAll(async () => {
    sim = await startModbusTcpSimulator([sdm630, magflux, strict, mute], { now: () => AT_MS });
  });
  afterAll(() => sim?.stop());

  const probe = async (args: string[]) => {
    const { code, stdout } = await captureStdout(() => probeCommand.run(['--host', '127.0.0.1', '--port', String(sim.port), '--json', ...args]));
    expect(code).toBe(0);
    return JSON.parse(stdout) as ProbeJson;
  };
  const at = (p: ProbeJson, address: number, type: string, order: string) =>
    p.reads.find((r) => r.address === address)!.decodings.find((d) => d.type === type && d.order === order)!.value;

  it('shows the right reading under the right order, and nonsense under the others', async () => {
    const p = await probe(['--unit', '1', '--address', '0x34']);
    const truth = Math.fround(sdm630.valueAt('active_power_total', AT_MS)!);
    expect(at(p, 0x34, 'float32', 'ABCD')).toBe(truth);
    for (const order of ['CDAB', 'BADC', 'DCBA']) expect(at(p, 0x34, 'float32', order)).not.toBeCloseTo(truth, 0);
  });

  it('shows the neighbours, where an off-by-one address would land', async () => {
    const p = await probe(['--unit', '1', '--address', '0x34']);
    expect(p.reads.map((r) => r.address)).toEqual([0x33, 0x34, 0x35]);
    const truth = Math.fround(sdm630.valueAt('active_power_total', AT_MS)!);
    // Read one register late, the power is gone from every decoding.
    expect(p.reads.find((r) => r.address === 0x35)!.decodings.map((d) => d.value)).not.toContain(truth);
  });

  it('finds a low-word-first float under CDAB', async () => {
    const p = await probe(['--unit', '2', '--address', '600', '--function', 'holding']);
    const wire = Math.fround(magflux.valueAt('flow_rate', AT_MS)! / 3600);
    expect(at(p, 600, 'float32', 'CDAB')).toBe(wire);
    expect(at(p, 600, 'float32', 'ABCD')).not.toBe(wire);
  });

  it('reads 16- and 64-bit widths, and skips a neighbour the device refuses', async () => {
    const p16 = await probe(['--unit', '2', '--address', '600', '--count', '1', '--function', 'holding']);
    expect(new Set(p16.reads[0]!.decodings.map((d) => d.type))).toEqual(new Set(['uint16', 'int16']));
    // MagFlux volume_total: uint64 at 604, mm3 low word first; address 603 is the end of flow_rate's block.
    const p64 = await probe(['--unit', '2', '--address', '604', '--count', '4', '--function', 'holding']);
    expect(at(p64, 604, 'uint64', 'CDAB')).toBe(Math.round(magflux.valueAt('volume_total', AT_MS)! * 1e9));
    // At address 0 there is no A-1.
    const p0 = await probe(['--unit', '1', '--address', '0']);
    expect(p0.reads.map((r) => r.address)).toEqual([0, 1]);
    // A meter that refuses register 0x33: the block read fails, each reading is tried alone.
    const p3 = await probe(['--unit', '3', '--address', '0x34']);
    expect(p3.reads[0]).toMatchObject({ address: 0x33, words: null });
    expect(p3.reads[0]!.error).toContain('illegal data address');
    expect(at(p3, 0x34, 'float32', 'ABCD')).toBe(Math.fround(strict.valueAt('active_power_total', AT_MS)!));
  });

  it('reads the address alone when a meter ignores the block around it', async () => {
    const { code, stdout } = await captureStdout(() => probeCommand.run(['--host', '127.0.0.1', '--port', String(sim.port), '--json', '--timeout', '300', '--unit', '4', '--address', '0x34']));
    expect(code).toBe(0);
    const p = JSON.parse(stdout) as ProbeJson;
    expect(p.reads.map((r) => r.address)).toEqual([0x33, 0x34, 0x35]);
    expect(p.reads[0]).toMatchObject({ address: 0x33, words: null, error: expect.stringContaining('timeout') });
    expect(at(p, 0x34, 'float32', 'ABCD')).toBe(Math.fround(mute.valueAt('active_power_total', AT_MS)!));
    expect(p.reads[2]!.words).toHaveLength(2);
  });

  it('exits 2 when the registers asked for run past 65535 (it printed nothing and exited 1)', async () => {
    const r = await runCliAsync(['probe', '--host', '127.0.0.1', '--port', String(sim.port), '--unit', '1', '--address', '65535', '--count', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('runs past register 65535');
  }, 30_000);

  it('prints a table for people, and exits 1 when the unit does not answer', async () => {
    const { code, stdout } = await captureStdout(() => probeCommand.run(['--host', '127.0.0.1', '--port', String(sim.port), '--unit', '1', '--address', '52']));
    expect(code).toBe(0);
    expect(stdout).toContain('address 52 (manual 30053)');
    expect(stdout).toMatch(/float32 +ABCD \d/);
    sim.faults.set(1, { kind: 'silent' });
    try {
      const r = await runCliAsync(['probe', '--host', '127.0.0.1', '--port', String(sim.port), '--unit', '1', '--address', '52', '--timeout', '300']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('timeout');
    } finally {
      sim.faults.clear();
    }
  }, 60_000);

  it('says which address a manual register number stands for when it was typed as the address', async () => {
    // Manual register 30053 is wire address 52, where the SDM630 serves total active power.
    const wrong = await runCliAsync(['probe', '--host', '127.0.0.1', '--port', String(sim.port), '--unit', '1', '--address', '30053']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('hint: 30053 is how manuals number input register address 52; try --function input --address 52');
    const right = await runCliAsync(['probe', '--host', '127.0.0.1', '--port', String(sim.port), '--unit', '1', '--address', '52']);
    expect(right.code).toBe(0);
    expect(right.stderr).not.toContain('hint:');
    // Six digits cannot be a wire address at all: a usage error that says what to type.
    const six = await runCliAsync(['probe', '--host', '127.0.0.1', '--port', String(sim.port), '--unit', '1', '--address', '416415']);
    expect(six.code).toBe(2);
    expect(six.stderr).toContain('416415 is how manuals number holding register address 16414: try --function holding --address 16414');
  }, 30_000);
});

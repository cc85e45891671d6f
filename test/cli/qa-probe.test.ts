// `probe` at the edges of the register space and on both functions, against the byte-scripted
// server: every register holds a word computed from its own address, so each reading can be
// checked against what is really at that address. And the table people read: one value per
// column, never two run together.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/command.js';
import { probeCommand } from '../../src/cli/probe.js';
import { captureStdout } from '../protocols/modbus/helpers.js';
import { startScripted, type Scripted } from '../protocols/modbus/scripted.js';

/** 228.0212 as an ABCD float32: its BADC and DCBA readings are 1.44e22 and 1.65e29. */
const PLAUSIBLE = [0x4364, 0x0570];
/** The word at an address: differs by function (fc 3 or 4) so a wrong function shows. */
const wordAt = (fc: number, address: number) => (fc === 3 && address >= 5000 && address < 5002 ? PLAUSIBLE[address - 5000]! : (address * 7 + fc * 1000) & 0xffff);

interface ProbeJson {
  function: string;
  address: number;
  count: number;
  reads: Array<{ address: number; words: number[] | null; error?: string }>;
}

describe('probe at the edges, on input and holding registers', () => {
  let server: Scripted;
  beforeAll(async () => {
    server = await startScripted('mbap', (req, reply) => {
      const words = Array.from({ length: req.count }, (_, i) => wordAt(req.fc, req.address + i));
      reply.send(reply.frame(reply.answerPdu(req.unit, req.fc, words)));
    });
  });
  afterAll(() => server.stop());

  const probe = async (args: string[]) => {
    const { code, stdout } = await captureStdout(() => probeCommand.run(['--host', '127.0.0.1', '--port', String(server.port), '--unit', '1', '--timeout', '500', ...args]));
    return { code, stdout };
  };

  it.each([
    ['input', 4, 0, 2, [0, 1]],
    ['holding', 3, 0, 2, [0, 1]],
    ['input', 4, 65535, 1, [65534, 65535]],
    ['holding', 3, 65534, 2, [65533, 65534]],
    ['holding', 3, 1000, 4, [999, 1000, 1001]],
  ])('%s (fc %i) at %i ×%i: the words at each address shown, none past the ends', async (fn, fc, address, count, shown) => {
    const { code, stdout } = await probe(['--json', '--function', fn, '--address', String(address), '--count', String(count)]);
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as ProbeJson;
    expect(out).toMatchObject({ function: fn, address, count });
    expect(out.reads.map((r) => r.address)).toEqual(shown);
    for (const r of out.reads) expect(r.words).toEqual(Array.from({ length: count }, (_, i) => wordAt(fc, r.address + i)));
    // Every request stayed inside 0..65535 and used the function asked for.
    for (const q of server.requests) {
      expect(q.address + q.count - 1).toBeLessThanOrEqual(65535);
    }
    expect(server.requests.at(-1)!.fc).toBe(fc);
  });

  it('prints each decoding in its own column, with seven significant digits for floats', async () => {
    // The BADC/DCBA cells of a plausible reading are usually huge floats, which String()
    // prints with 17 digits (a float that large is an integer to JavaScript).
    const { code, stdout } = await probe(['--function', 'holding', '--address', '5000']);
    expect(stdout).toContain('float32  ABCD 228.0212');
    expect(code).toBe(0);
    for (const line of stdout.split('\n').filter((l) => /^\s+(float|u?int)/.test(l))) {
      const cells = line.trim().split(/\s+(?=ABCD |CDAB |BADC |DCBA )/);
      expect(cells.map((c) => c.split(' ')[0]), line).toEqual([expect.stringMatching(/^(u?int|float)\d+$/), 'ABCD', 'CDAB', 'BADC', 'DCBA'].slice(0, cells.length));
      expect(cells, line).toHaveLength(5);
      for (const c of cells.slice(1)) {
        const value = c.split(' ')[1]!;
        if (line.trim().startsWith('float')) expect(value.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').length, line).toBeLessThanOrEqual(7);
      }
    }
  });
});

describe('probe usage on a serial line', () => {
  it.each([
    [['--path', '/dev/null', '--unit', '0'], '0 is broadcast'],
    [['--path', '/dev/null', '--unit', '248'], '248 is reserved'],
    [['--host', '127.0.0.1', '--rtu-over-tcp', '--unit', '0'], '0 is broadcast'],
  ])('%j: exits 2 at once instead of timing out', async (args, message) => {
    const t0 = performance.now();
    await expect(probeCommand.run([...args, '--address', '0'])).rejects.toThrow(UsageError);
    await expect(probeCommand.run([...args, '--address', '0'])).rejects.toThrow(message);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

import { describe, expect, it } from 'vitest';
import { spawnCli } from '../support/cli.js';

describe('energy-gateway demo', () => {
  it('shows live meter values and closed windows, then stops cleanly on Ctrl-C', async () => {
    const child = spawnCli(['demo']);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const startedMs = Date.now();

    const waitFor = async (re: RegExp, ms: number) => {
      const deadline = Date.now() + ms;
      while (!re.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      return re.test(out);
    };
    // A device row with a power reading (kW) and a counter (kWh).
    const live = await waitFor(/main-incomer\s+online\s+\d+\.\d{2}\s+\d+\.\d{3}/, 20_000);
    expect(live, `stdout:\n${out}\nstderr:\n${err}`).toBe(true);
    // The launcher (tsx) costs a few seconds on a loaded machine; the promise to a user is 10 s of demo time.
    expect(Date.now() - startedMs).toBeLessThan(20_000);
    expect(await waitFor(/site\s+10s\s+\d\d:\d\d:\d\d\s+\d+\.\d{3}/, 25_000), out).toBe(true);
    // Energy per part from the press line's PLC counter (OPC UA).
    expect(await waitFor(/press-per-part\s+10s\s+\d\d:\d\d:\d\d\s+\d+\s+\d+\.\d{4}/, 15_000), out).toBe(true);
    // Library chatter goes to the demo log, not the screen.
    expect(out).not.toContain('NODE-OPCUA');

    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(out).toContain('stopped.');
    expect(err).toBe('');
  }, 60_000);
});

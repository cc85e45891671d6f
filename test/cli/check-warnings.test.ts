import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../support/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'eg-warn-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(tmp, name);
  writeFileSync(file, text);
  return file;
}

const stderrLines = (stderr: string) => stderr.trim().split('\n').filter((l) => l !== '');

// A copy-paste: incomer's line duplicated without changing its unit id, both in the account,
// and the same channel listed twice in another account.
const COPY_PASTE = `version: 1
gateway: { id: edge-01, site: plant-a, data_dir: ${JSON.stringify(join(tmp, 'data'))} }
buses:
  - { id: panel, type: modbus_tcp, host: 127.0.0.1, port: 1 }
  - { id: rs485, type: modbus_rtu, path: /dev/ttyUSB9 }
devices:
  - { id: incomer, driver: eastron-sdm630, bus: panel, unit_id: 1 }
  - { id: press, driver: eastron-sdm630, bus: panel, unit_id: 1 }
  - { id: a, driver: eastron-sdm630, bus: rs485, unit_id: 1 }
  - { id: b, driver: eastron-sdm630, bus: rs485, unit_id: 2 }
  - { id: spare, driver: eastron-sdm630, bus: rs485, unit_id: 2, enabled: false }
accounts:
  - id: site
    meters: [{ device: incomer }, { device: press }]
  - id: line
    meters:
      - { device: a }
      - { device: a, point: active_energy_export_total, sign: -1 }
      - { device: a }
`;

const UNIT_WARNING = 'devices[1].unit_id: unit 1 on bus "panel" is also device "incomer" (devices[0]), and both read the same registers: '
  + 'this reads one meter twice and, with both in accounts, counts its energy twice';
const ACCOUNT_WARNING = 'accounts[1].meters[2]: device "a" point active_energy_import_total is already meters[0]: its energy would count twice in this account';

describe('energy-gateway check: warnings', () => {
  it('a config with only warnings exits 0, lists each at its file:line on stderr and counts them in the summary', () => {
    const file = write('copy-paste.yaml', COPY_PASTE);
    const r = runCli(['check', '--config', file]);
    expect(r.code).toBe(0);
    // Unit 1 on panel and on rs485 is two buses; the disabled spare is not polled; a's import
    // minus its export is a net account, not a duplicate.
    expect(stderrLines(r.stderr)).toEqual([
      `warning: ${file}:8 ${UNIT_WARNING}`,
      `warning: ${file}:19 ${ACCOUNT_WARNING}`,
    ]);
    expect(r.stdout).toBe(`${file}: ok — 2 buses, 5 devices, 2 accounts, 0 EnPIs, 2 warnings\n`);
  });

  it('a config with problems and warnings exits 2 and lists the problems, then the warnings', () => {
    const file = write('both.yaml', COPY_PASTE
      .replace('site: plant-a,', 'site: plant-a, colour: red,')
      .replace('{ id: b, driver: eastron-sdm630,', '{ id: b, driver: eastron-sdm999,'));
    const r = runCli(['check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(stderrLines(r.stderr)).toEqual([
      `${file}:2 gateway.colour: unknown key`,
      `${file}:10 devices[3].driver: unknown driver "eastron-sdm999" (did you mean eastron-sdm120, eastron-sdm630, eastron-sdm72dm?)`,
      `warning: ${file}:8 ${UNIT_WARNING}`,
      `warning: ${file}:19 ${ACCOUNT_WARNING}`,
    ]);
  });

  it('does not warn about a unit id or enabled flag that is itself a problem (its default stands in)', () => {
    const file = write('patched.yaml', `version: 1
gateway: { id: edge-01, site: plant-a }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1 }]
devices:
  - { id: m1, driver: eastron-sdm630, bus: panel }
  - { id: m2, driver: eastron-sdm630, bus: panel, unit_id: "two" }
  - { id: m3, driver: eastron-sdm630, bus: panel, unit_id: 3, enabled: "no" }
  - { id: m4, driver: eastron-sdm630, bus: panel, unit_id: 3 }
`);
    const r = runCli(['check', '--config', file]);
    expect(r.code).toBe(2);
    expect(stderrLines(r.stderr)).toEqual([
      `${file}:6 devices[1].unit_id: Invalid input: expected number, received string`,
      `${file}:7 devices[2].enabled: Invalid input: expected boolean, received string`,
    ]);
  });

  it('says whether two devices at one unit id read the same registers, some, or none (a multi-circuit meter)', () => {
    const file = write('circuits.yaml', `version: 1
gateway: { id: edge-01, site: plant-a }
buses:
  - { id: dtu, type: modbus_rtu_over_tcp, host: 10.0.0.30 }
devices:
  - id: circuit_1
    bus: dtu
    unit_id: 5
    points: [{ id: active_energy_import_total, address: 0, type: float32, unit: kWh, counter: {} }]
  - id: circuit_2
    bus: dtu
    unit_id: 5
    points: [{ id: active_energy_import_total, address: 2, type: float32, unit: kWh, counter: {} }]
  - { id: m1, driver: eastron-sdm630, bus: dtu, unit_id: 8, only_points: [active_energy_import_total, voltage_l1] }
  - { id: m2, driver: eastron-sdm630, bus: dtu, unit_id: 8, only_points: [active_energy_import_total, voltage_l2] }
accounts:
  - { id: line, meters: [{ device: circuit_1 }, { device: circuit_2 }] }
`);
    const r = runCli(['check', '--config', file]);
    expect(r.code).toBe(0);
    expect(stderrLines(r.stderr)).toEqual([
      `warning: ${file}:12 devices[1].unit_id: unit 5 on bus "dtu" is also device "circuit_1" (devices[0]); they read different registers, `
        + 'as the circuits of a multi-circuit meter do; if this is a copy-paste instead, it reads one meter twice and, with both in accounts, counts its energy twice',
      `warning: ${file}:15 devices[3].unit_id: unit 8 on bus "dtu" is also device "m1" (devices[2]), and both read active_energy_import_total at the same registers: `
        + 'if this is a copy-paste, it reads one meter twice and, if both are put in accounts, counts its energy twice (a multi-circuit meter has one device per circuit, at different registers)',
    ]);
    expect(r.stdout).toBe(`${file}: ok — 1 buses, 4 devices, 1 accounts, 0 EnPIs, 2 warnings\n`);
  });

  it('one channel twice with opposite signs cancels out, and is said so', () => {
    const file = write('cancel.yaml', `version: 1
gateway: { id: edge-01, site: plant-a }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1 }]
devices: [{ id: incomer, driver: eastron-sdm630, bus: panel }]
accounts:
  - id: site
    meters:
      - { device: incomer }
      - { device: incomer, sign: -1 }
`);
    const r = runCli(['check', '--config', file]);
    expect(r.code).toBe(0);
    expect(stderrLines(r.stderr)).toEqual([
      `warning: ${file}:9 accounts[0].meters[1]: device "incomer" point active_energy_import_total is already meters[0]: `
        + 'with opposite signs the two cancel out and this account never sees its energy',
    ]);
    expect(r.stdout).toBe(`${file}: ok — 1 buses, 1 devices, 1 accounts, 0 EnPIs, 1 warning\n`);
  });

  it('plan prints the warnings on stderr and keeps stdout for the plan', () => {
    const file = write('plan.yaml', COPY_PASTE);
    const r = runCli(['plan', '--config', file, '--json']);
    expect(r.code).toBe(0);
    expect(stderrLines(r.stderr)).toEqual([
      `warning: ${file}:8 ${UNIT_WARNING}`,
      `warning: ${file}:19 ${ACCOUNT_WARNING}`,
    ]);
    expect((JSON.parse(r.stdout) as Array<{ bus: string }>).map((b) => b.bus)).toEqual(['panel', 'rs485']);
  });

  it('run logs each warning once at start, at level warn, with file:line and path in the message', async () => {
    const file = write('run.yaml', `version: 1
gateway: { id: edge-01, site: plant-a, data_dir: ${JSON.stringify(join(tmp, 'run-data'))} }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: 1, timeout: 100ms }]
devices:
  - { id: incomer, driver: eastron-sdm630, bus: panel, poll_interval: 200ms }
  - { id: press, driver: eastron-sdm630, bus: panel, poll_interval: 200ms }
`);
    const child = spawnCli(['run', '--config', file]);
    let stdout = '';
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // A few polls of the unreachable meters after the start: the warning must not come back with them.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${stdout}`)), 30_000);
      let started = false;
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (!started && stdout.includes('"gateway started"')) {
          started = true;
          setTimeout(() => { clearTimeout(timer); resolve(); }, 1000);
        }
      });
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const warnings = stdout.split('\n').filter((l) => l.includes('config warning'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; line: number; path: string });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, line: 6, path: 'devices[1].unit_id' });
    expect(warnings[0]!.msg).toBe(`config warning: ${file}:6 devices[1].unit_id: unit 1 on bus "panel" is also device "incomer" (devices[0]), `
      + 'and both read the same registers: this reads one meter twice and, if both are put in accounts, counts its energy twice');
  }, 60_000);
});

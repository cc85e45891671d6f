// A bad config is reported in one pass: every problem of every bus and device, each as
// `file:line path: message`, exit 2. Especially the ones found only by the driver checks
// (unknown profile, unit id on a serial line), which used to wait until the device's or its
// bus's schema problems were fixed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'eg-qa-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function check(name: string, text: string): { file: string; code: number; lines: string[] } {
  const file = join(tmp, name);
  writeFileSync(file, text);
  const r = runCli(['check', '--config', file]);
  return { file, code: r.code, lines: r.stderr.trim().split('\n') };
}

describe('check: every bus and device problem at once', () => {
  it('reports an unknown driver and a serial unit id on devices that also have schema problems, or sit on a bus that has', () => {
    const { file, code, lines } = check('all.yaml', `version: 1
gateway: { id: gw, site: s }
buses:
  - { id: b1, type: modbus_tcp, host: 127.0.0.1, port: 5020 }
  - { id: rs, type: modbus_rtu, path: /dev/ttyX, baud_rate: fast }
devices:
  - { id: d1, driver: nosuch-a, bus: b1, unit_id: 300 }
  - { id: d2, driver: nosuch-b, bus: b1, timeout: 5x }
  - { id: d3, driver: nosuch-c, bus: rs, unit_id: 1 }
  - { id: d4, driver: eastron-sdm630, bus: rs, unit_id: 0 }
  - { id: d5, driver: eastron-sdm630, bus: b1, unit_id: 2, retries: 9, colour: red }
  - { id: d1, driver: eastron-sdm630, bus: b1, unit_id: 3 }
`);
    expect(code).toBe(2);
    const at = (line: number, path: string, message: string | RegExp) => expect(lines.some((l) => l.startsWith(`${file}:${line} ${path}: `) && (typeof message === 'string' ? l.includes(message) : message.test(l))), `${line} ${path} ${String(message)}\n${lines.join('\n')}`).toBe(true);
    at(5, 'buses[1].baud_rate', 'expected number');
    at(7, 'devices[0].unit_id', 'a unit id is 0..255 (1..247 on a serial line)');
    at(7, 'devices[0].driver', 'unknown driver "nosuch-a"');
    at(8, 'devices[1].timeout', 'invalid duration "5x"');
    at(8, 'devices[1].driver', 'unknown driver "nosuch-b"');
    at(9, 'devices[2].driver', 'unknown driver "nosuch-c"');
    at(10, 'devices[3].unit_id', '0 is broadcast');
    at(11, 'devices[4].retries', '5');
    at(11, 'devices[4].colour', 'unknown key');
    at(12, 'devices[5].id', 'duplicate id "d1"');
    // Nothing is said twice, and nothing about a value that was never given (a patched key's default).
    expect(lines).toHaveLength(10);
  });
});

describe('check: a bad value is reported once, and its stand-in says nothing about the rest', () => {
  it('does not hold other intervals against the default of a poll_interval that is wrong', () => {
    const { file, code, lines } = check('interval.yaml', `version: 1
gateway: { id: gw, site: s }
buses: [{ id: b1, type: modbus_tcp, host: 127.0.0.1 }]
devices:
  - { id: d1, driver: eastron-sdm630, bus: b1, poll_interval: 0s, counter_interval: 1s, point_intervals: { nope: 2s } }
`);
    expect(code).toBe(2);
    expect(lines).toEqual([
      `${file}:5 devices[0].poll_interval: invalid duration "0s" (use e.g. 500ms, 5s, 15m, 1h, 1d)`,
      `${file}:5 devices[0].point_intervals.nope: no point "nope" on this device`,
    ]);
  });
});

describe('check: a device on a bus the config does not have', () => {
  it('is reported with its unknown driver in the same pass', () => {
    const { file, code, lines } = check('nobus.yaml', `version: 1
gateway: { id: gw, site: s }
buses: [{ id: b1, type: modbus_tcp, host: 127.0.0.1 }]
devices:
  - { id: d1, driver: eastron-sdm999, bus: b2, unit_id: 1 }
  - { id: d2, driver: eastron-sdm630, bus: b3, unit_id: 1 }
`);
    expect(code).toBe(2);
    expect(lines).toEqual([
      `${file}:5 devices[0].bus: unknown bus "b2" (known: b1)`,
      `${file}:5 devices[0].driver: unknown driver "eastron-sdm999" (did you mean eastron-sdm120, eastron-sdm630, eastron-sdm72dm?)`,
      `${file}:6 devices[1].bus: unknown bus "b3" (known: b1)`,
    ]);
  });
});


import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'eg-check-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const fixture = (name: string) => `test/fixtures/configs/${name}`;

/** Writes a config, runs check on it and expects exit 2: the file, and the problem lines. */
function checkFails(name: string, text: string): { file: string; lines: string[] } {
  const file = join(tmp, name);
  writeFileSync(file, text);
  const r = runCli(['check', '--config', file]);
  expect(r.code).toBe(2);
  return { file, lines: r.stderr.trim().split('\n') };
}

describe('energy-gateway check', () => {
  it('accepts a valid config and the documented example', () => {
    for (const file of [fixture('valid.yaml'), 'config/example.yaml']) {
      const r = runCli(['check', '--config', file], { MQTT_PASSWORD: 'x', INFLUX_PASSWORD: 'y', PLC1_PASSWORD: 'z' });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`${file}: ok`);
    }
  });

  // Each broken config must exit 2 and point at the file, the line and the key to fix.
  it.each([
    ['unknown-key.yaml', 4, 'buses[0].speed: unknown key'],
    ['wrong-type.yaml', 9, 'devices[0].unit_id: Invalid input: expected number, received string'],
    ['unknown-bus.yaml', 7, 'devices[1].bus: unknown bus "pannel"'],
    ['duplicate-device.yaml', 7, 'devices[1].id: duplicate id "incomer"'],
    ['bad-duration.yaml', 4, 'buses[0].timeout: invalid duration "1 second"'],
    ['missing-key.yaml', 2, 'gateway.id: required key is missing'],
  ])('%s exits 2 naming file, line and path', (name, line, message) => {
    const r = runCli(['check', '--config', fixture(name)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${fixture(name)}:${line} ${message}`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('lists every problem of a file at once', () => {
    const r = runCli(['check', '--config', fixture('many-problems.yaml')]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    const expected = [
      ':2 gateway.colour: unknown key',
      ':4 buses[0].port: a port is 1..65535',
      ':5 buses[1].type: unknown type',
      ':7 devices[0].poll_interval: invalid duration "5x"',
      ':8 devices[1].id: duplicate id "incomer"',
      ':8 devices[1].bus: unknown bus "nowhere"',
      ':9 mqtt.url: environment variable EG_TEST_UNSET_VARIABLE is not set',
    ];
    for (const e of expected) expect(lines.some((l) => l.includes(e)), `missing "${e}" in:\n${r.stderr}`).toBe(true);
  });

  it('lists driver and point problems together with schema problems elsewhere in the file', () => {
    const { file, lines } = checkFails('mixed.yaml', `version: 1
gateway: { id: gw, site: plant, colour: red }
buses:
  - { id: b, type: modbus_tcp, host: 127.0.0.1 }
devices:
  - { id: m1, driver: eastron-sdm999, bus: b }
  - id: plc
    bus: b
    points:
      - { id: x, address: 1, type: floatt }
  - { id: m3, driver: eastron-sdm630, bus: b, retries: 99 }
mqtt: { url: "mqtt://broker", qos_telemetry: 2 }
`);
    expect(lines).toEqual([
      `${file}:2 gateway.colour: unknown key`,
      `${file}:6 devices[0].driver: unknown driver "eastron-sdm999" (did you mean eastron-sdm120, eastron-sdm630, eastron-sdm72dm?)`,
      expect.stringContaining(`${file}:10 devices[1].points[0].type: unknown type "floatt"`),
      expect.stringContaining(`${file}:11 devices[2].retries:`),
      `${file}:12 mqtt.qos_telemetry: expected 0 or 1`,
      // The same pass warns: three devices left at the default unit id 1 of one bus.
      `warning: ${file}:7 devices[1].unit_id: unit 1 on bus "b" is also device "m1" (devices[0]): unless it is a multi-circuit meter read at different registers, this reads one meter twice and, if both are put in accounts, counts its energy twice`,
      `warning: ${file}:11 devices[2].unit_id: unit 1 on bus "b" is also device "m1" (devices[0]): unless it is a multi-circuit meter read at different registers, this reads one meter twice and, if both are put in accounts, counts its energy twice`,
    ]);
  });

  it('lists every problem of every inline point, schema-level or not', () => {
    const { file, lines } = checkFails('points.yaml', `version: 1
gateway: { id: gw, site: plant }
buses:
  - { id: t, type: modbus_tcp, host: 10.0.0.1 }
devices:
  - id: plc
    bus: t
    points:
      - { id: a, address: 70000 }
      - { id: b, address: 1, order: sideways }
      - { id: b, address: 2 }
      - { id: c, address: 3, interval: 5 minutes }
      - { id: Bad-Id, address: 4 }
      - { id: d, address: 5, invalid: ["0xZZ"] }
      - { id: e, address: 6, type: bit }
`);
    expect(lines).toEqual([
      expect.stringContaining(`${file}:9 devices[0].points[0].address: Too big`),
      expect.stringContaining(`${file}:10 devices[0].points[1].order: unknown order "sideways"`),
      `${file}:11 devices[0].points[2].id: duplicate point id "b" (also points[1])`,
      expect.stringContaining(`${file}:12 devices[0].points[3].interval: invalid duration "5 minutes"`),
      `${file}:13 devices[0].points[4].id: point ids are snake_case`,
      expect.stringContaining(`${file}:14 devices[0].points[5].invalid[0]: write a number, or a 0x… string`),
      `${file}:15 devices[0].points[6].bit: type bit needs "bit: 0..15"`,
    ]);
  });

  it('refuses two buses on one physical line (a serial port opened twice, one host:port queued twice)', () => {
    const { file, lines } = checkFails('lines.yaml', `version: 1
gateway: { id: gw, site: plant }
buses:
  - { id: a, type: modbus_tcp, host: 10.0.0.1 }
  - { id: b, type: modbus_tcp, host: 10.0.0.1, port: 502 }
  - { id: c, type: modbus_rtu, path: /dev/ttyUSB0 }
  - { id: d, type: modbus_rtu, path: /dev/ttyUSB0, baud_rate: 19200 }
  - { id: e, type: modbus_tcp, host: 10.0.0.1, port: 503 }
  - { id: f, type: modbus_rtu_over_tcp, host: 10.0.0.1, port: 503 }
`);
    expect(lines).toEqual([
      `${file}:5 buses[1]: 10.0.0.1:502 is already bus "a": one bus per physical line, with all its devices on it`,
      `${file}:7 buses[3]: serial port /dev/ttyUSB0 is already bus "c": one bus per physical line, with all its devices on it`,
      `${file}:9 buses[5]: 10.0.0.1:503 is already bus "e": one bus per physical line, with all its devices on it`,
    ]);
  });

  it('reports the problems of an empty file at its first line', () => {
    const { file, lines } = checkFails('empty.yaml', '');
    expect(lines).toEqual([
      `${file}:1 version: required key is missing (expected 1)`,
      `${file}:1 gateway: required key is missing (expected object)`,
    ]);
  });

  it('reports an unknown driver at its line, suggesting the models of that vendor', () => {
    const r = runCli(['check', '--config', fixture('unknown-driver.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${fixture('unknown-driver.yaml')}:8 devices[1].driver: unknown driver "eastron-sdm999"`);
    expect(r.stderr).toContain('eastron-sdm630');
  });

  it('never prints a secret it resolved', () => {
    const r = runCli(['check', '--config', 'config/example.yaml'], { MQTT_PASSWORD: 'hunter2-secret', INFLUX_PASSWORD: 'influx-secret', PLC1_PASSWORD: 'plc-secret' });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain('hunter2-secret');
  });

  it('exits 2 with usage for a missing --config and for an unknown command', () => {
    expect(runCli(['check']).code).toBe(2);
    expect(runCli(['frobnicate']).code).toBe(2);
  });
});

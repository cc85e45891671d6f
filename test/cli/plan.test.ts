import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'eg-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `version: 1\ngateway: { id: gw, site: plant, data_dir: ${dir} }\n${body}`);
  return file;
}

const mixed = config('mixed.yaml', `buses:
  - { id: panel, type: modbus_tcp, host: 10.0.0.20 }
  - { id: rs485, type: modbus_rtu, path: /dev/ttyUSB0, baud_rate: 9600 }
devices:
  - { id: incomer, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s }
  - { id: fussy, driver: eastron-sdm630, bus: panel, unit_id: 2, poll_interval: 5s, per_point: true }
  - { id: small, driver: eastron-sdm630, bus: panel, unit_id: 3, poll_interval: 5s, max_registers: 20, counter_interval: 15m }
${[1, 2, 3, 4].map((u) => `  - { id: line${u}, driver: eastron-sdm630, bus: rs485, unit_id: ${u}, poll_interval: 1s }`).join('\n')}
`);

interface PlanJson {
  bus: string;
  fits: boolean;
  worst_tick_requests: number;
  worst_tick_ms: number;
  devices: Array<{ device: string; classes: Array<{ interval_ms: number; requests: Array<{ function: string; address: number; count: number; points: string[] }> }> }>;
}

describe('energy-gateway plan', () => {
  it('prints the requests per bus and device, with the points each one covers', () => {
    const r = runCli(['plan', '--config', mixed, '--device', 'incomer']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('bus panel: modbus_tcp 10.0.0.20:502');
    expect(r.stdout).toContain('incomer (unit 1, eastron-sdm630): 3 request(s) per full poll');
    expect(r.stdout).toMatch(/fc4 input +0x0000 \+80 +\(30001…30080\)/);
    expect(r.stdout).not.toContain('fussy (');
  });

  it('shows the whole SDM630 in 3 requests, one per point for a fussy device, smaller ones under max_registers', () => {
    const r = runCli(['plan', '--config', mixed, '--json']);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as PlanJson[];
    const panel = plan.find((b) => b.bus === 'panel')!;
    const requests = (id: string) => panel.devices.find((d) => d.device === id)!.classes.flatMap((c) => c.requests);
    expect(requests('incomer')).toHaveLength(3);
    expect(requests('incomer').flatMap((q) => q.points)).toHaveLength(55);
    expect(requests('fussy')).toHaveLength(55);
    expect(Math.max(...requests('small').map((q) => q.count))).toBeLessThanOrEqual(20);
    expect(panel.devices.find((d) => d.device === 'small')!.classes.map((c) => c.interval_ms)).toEqual([5000, 900_000]);
    expect(panel.fits).toBe(true);
  });

  it('flags a bus that cannot fit its cycle: four SDM630s at 9600 baud every second', () => {
    const r = runCli(['plan', '--config', mixed]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('WARNING: bus rs485 cannot fit its cycle in 1 s');
    expect(r.stdout).not.toContain('WARNING: bus panel');
    const rs485 = (JSON.parse(runCli(['plan', '--config', mixed, '--json']).stdout) as PlanJson[]).find((b) => b.bus === 'rs485')!;
    expect(rs485.fits).toBe(false);
    expect(rs485.worst_tick_requests).toBe(12);
    // 12 requests, 1 320 bytes of answers and 96 of requests at ~1.15 ms per byte, plus turnaround.
    expect(rs485.worst_tick_ms).toBeGreaterThan(1000);
    expect(rs485.worst_tick_ms).toBeLessThan(2000);
  });

  it('prints manual register numbers in six digits where five cannot hold them (DTSU666 energy at 401EH)', () => {
    const dtsu = config('dtsu.yaml', `buses: [{ id: rs, type: modbus_rtu, path: /dev/ttyUSB0 }]
devices:
  - { id: m, driver: chint-dtsu666, bus: rs }
`);
    const r = runCli(['plan', '--config', dtsu]);
    expect(r.code).toBe(0);
    // 0x2000 = 8192 is holding register 8193; 0x401E = 16414 is register 16415, beyond 4xxxx.
    expect(r.stdout).toMatch(/fc3 holding +0x2000 \+\d+ +\(48193…/);
    expect(r.stdout).toMatch(/fc3 holding +0x401E \+\d+ +\(416415…4164\d\d\)/);
  });

  it('warns about a read that would outlast the timeout behind a device server of unknown speed', () => {
    const slow = config('slow.yaml', `buses:
  - { id: rs, type: modbus_rtu, path: /dev/ttyUSB0, baud_rate: 2400, timeout: 500ms }
  - { id: gw, type: modbus_rtu_over_tcp, host: 10.0.0.9, timeout: 150ms }
  - { id: gw2, type: modbus_rtu_over_tcp, host: 10.0.0.10, baud_rate: 9600, timeout: 150ms }
devices:
  - { id: m, driver: eastron-sdm630, bus: rs }
  - { id: n, driver: eastron-sdm630, bus: gw }
  - { id: o, driver: eastron-sdm630, bus: gw2 }
`);
    const r = runCli(['plan', '--config', slow]);
    expect(r.code).toBe(0);
    // 80 registers at the assumed 9600 baud: 8 + 165 bytes of 10 bits each, about 180 ms + 5 ms
    // turnaround. On the serial port and behind the device server with a baud_rate the bus adds
    // that time to the timeout itself (test/protocols/modbus/bus-queue.test.ts): no warning.
    expect(r.stdout).toMatch(/fc4 input +0x0000 \+80 .*\n +WARNING: this request takes about 18\d ms on the serial line at 9600 baud \(assumed\), longer than n's timeout of 150 ms/);
    expect(r.stdout).not.toContain("longer than m's timeout");
    expect(r.stdout).not.toContain("longer than o's timeout");
  });

  it('exits 2 for an unknown device', () => {
    const r = runCli(['plan', '--config', mixed, '--device', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no enabled Modbus device "nope"');
  });

  it('rejects a device setting that cannot work, at config time', () => {
    const bad = config('bad.yaml', `buses: [{ id: panel, type: modbus_tcp, host: 10.0.0.20 }]
devices:
  - { id: m, driver: eastron-sdm630, bus: panel, poll_interval: 5s, counter_interval: 1s, point_intervals: { no_such_point: 1m } }
`);
    const r = runCli(['plan', '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('counter_interval');
    expect(r.stderr).toContain('no point "no_such_point"');
  });
});

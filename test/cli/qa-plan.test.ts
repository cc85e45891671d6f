// `plan`'s expected cycle time against what a real run takes: the real bus and scheduler,
// the byte-scripted server stamping each request and answer. Pauses are chosen long enough
// to dominate, so the comparison is about the plan's arithmetic, not about localhost speed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/loader.js';
import type { ModbusBusConfig } from '../../src/config/schema.js';
import { ModbusBus } from '../../src/protocols/modbus/bus.js';
import { resolveModbusDevices } from '../../src/protocols/modbus/device.js';
import { BusScheduler } from '../../src/protocols/modbus/scheduler.js';
import { silentLogger } from '../../src/log/logger.js';
import { catalogue } from '../protocols/modbus/helpers.js';
import { sleep, startScripted } from '../protocols/modbus/scripted.js';
import { runCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'eg-qa-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('plan: expected cycle time against a real run', () => {
  it('takes the longer of inter-frame delay and pause_between_requests before a device\'s next request, not their sum', async () => {
    const stamps: Array<{ rx: number; tx: number }> = [];
    const server = await startScripted('mbap', (req, reply) => {
      const rx = performance.now();
      reply.send(reply.frame(reply.answerPdu()));
      stamps.push({ rx, tx: performance.now() });
    });
    const yaml = `version: 1
gateway: { id: gw, site: plant, data_dir: ${dir} }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${server.port}, inter_frame_delay: 20ms, timeout: 500ms }]
devices:
  - { id: m1, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 2s, pause_between_requests: 100ms }
  - { id: m2, driver: eastron-sdm630, bus: panel, unit_id: 2, poll_interval: 2s, pause_between_requests: 100ms }
`;
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, yaml);
    const r = runCli(['plan', '--config', file, '--json']);
    expect(r.code).toBe(0);
    const [plan] = JSON.parse(r.stdout) as Array<{ worst_tick_requests: number; worst_tick_ms: number }>;
    expect(plan!.worst_tick_requests).toBe(6);

    const config = parseConfigText(yaml, file);
    const { byBus } = resolveModbusDevices(config, catalogue);
    const bus = new ModbusBus(config.buses[0] as ModbusBusConfig, silentLogger());
    const scheduler = new BusScheduler(bus, byBus.get('panel')!, { onPoll: () => undefined, onAvailability: () => undefined }, silentLogger());
    try {
      scheduler.start();
      await sleep(4_500);
    } finally {
      await scheduler.stop();
      await bus.close();
      await server.stop();
    }
    // Each tick is six requests; the real cycle runs from its first request to its last answer.
    expect(stamps.length).toBeGreaterThanOrEqual(12);
    const cycles: number[] = [];
    for (let i = 0; i + 6 <= stamps.length; i += 6) cycles.push(stamps[i + 5]!.tx - stamps[i]!.rx);
    // Waits alone, per tick: m1 100 + 100, then m2 after m1's last answer 20, then 100 + 100.
    const waitsMs = 420;
    for (const c of cycles) expect(c).toBeGreaterThanOrEqual(waitsMs);
    const realMs = Math.min(...cycles);
    // The plan may allow for slower answers than localhost's, not for waits that do not happen:
    // within 30 % of the real cycle (it said 780 ms, nearly twice the real one).
    expect(plan!.worst_tick_ms).toBeGreaterThanOrEqual(waitsMs);
    expect(plan!.worst_tick_ms).toBeLessThanOrEqual(realMs * 1.3);
  }, 30_000);

  it('warns when a tick cannot fit before the next one of another interval (2 s and 3 s classes)', () => {
    const file = join(dir, 'uneven.yaml');
    // Three meters every 2 s (about 1.2 s at 9600 baud) and one every 3 s: the busiest tick
    // (all four, every 6 s) fits in 2 s, but a 2 s tick has a 3 s one a second later.
    writeFileSync(file, `version: 1
gateway: { id: gw, site: plant, data_dir: ${dir} }
buses: [{ id: rs, type: modbus_rtu, path: /dev/ttyUSB0, baud_rate: 9600 }]
devices:
  - { id: a1, driver: eastron-sdm630, bus: rs, unit_id: 1, poll_interval: 2s }
  - { id: a2, driver: eastron-sdm630, bus: rs, unit_id: 2, poll_interval: 2s }
  - { id: a3, driver: eastron-sdm630, bus: rs, unit_id: 3, poll_interval: 2s }
  - { id: b1, driver: eastron-sdm630, bus: rs, unit_id: 4, poll_interval: 3s }
`);
    const r = runCli(['plan', '--config', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/WARNING: bus rs cannot fit every tick: a tick of the 2 s poll class\(es\) needs about 1\d\d\d ms, and one of the 3 s class\(es\) comes 1 s after it/);
    const json = runCli(['plan', '--config', file, '--json']);
    const [bus] = JSON.parse(json.stdout) as Array<{ fits: boolean; worst_tick_ms: number; tightest_tick: { gap_ms: number } }>;
    expect(bus!.worst_tick_ms).toBeLessThan(2000);
    expect(bus!.fits).toBe(false);
    expect(bus!.tightest_tick.gap_ms).toBe(1000);
  });
});

// The whole bus goes away (the device server or gateway is switched off, the Modbus TCP
// server restarted) and comes back: every device behind it goes degraded, then offline, once
// each; once the bus answers again they are back online within a few ticks, not after the
// exponential backoff a dead device earns — the devices did nothing wrong, and the bus's own
// reconnect backoff already spaces the connection attempts.
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/loader.js';
import type { ModbusBusConfig } from '../../../src/config/schema.js';
import { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { resolveModbusDevices } from '../../../src/protocols/modbus/device.js';
import { BusScheduler, type Availability } from '../../../src/protocols/modbus/scheduler.js';
import { silentLogger } from '../../../src/log/logger.js';
import { catalogue } from './helpers.js';
import { sleep, startScripted, type Scripted } from './scripted.js';

let server: Scripted | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

const answer = (req: Parameters<Parameters<typeof startScripted>[1]>[0], reply: Parameters<Parameters<typeof startScripted>[1]>[1]) => reply.send(reply.frame(reply.answerPdu()));

describe('the whole bus away and back', () => {
  it('publishes degraded and offline once per device, and online again within a few ticks of the bus\'s return', async () => {
    server = await startScripted('mbap', answer);
    const port = server.port;
    const config = parseConfigText(`version: 1
gateway: { id: gw, site: s }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${port}, timeout: 300ms, reconnect_max: 1s }]
devices:
  - { id: m1, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s }
  - { id: m2, driver: eastron-sdm630, bus: panel, unit_id: 2, poll_interval: 1s }
`, 'outage.yaml');
    const { byBus } = resolveModbusDevices(config, catalogue);
    const bus = new ModbusBus(config.buses[0] as ModbusBusConfig, silentLogger());
    const availability: Array<{ device: string; state: Availability; atMs: number }> = [];
    const scheduler = new BusScheduler(bus, byBus.get('panel')!, {
      onPoll: () => undefined,
      onAvailability: (device, state) => availability.push({ device, state, atMs: Date.now() }),
    }, silentLogger());
    let backAtMs = 0;
    try {
      scheduler.start();
      await sleep(2_500);
      await server.stop();
      // Long enough for a dead device's backoff to reach 16 s (failures at 1, 2, 4, 8 s…).
      await sleep(9_000);
      server = await startScripted('mbap', answer, port);
      backAtMs = Date.now();
      const deadline = backAtMs + 20_000;
      while (Date.now() < deadline && !['m1', 'm2'].every((d) => availability.filter((a) => a.device === d).at(-1)?.state === 'online' && availability.filter((a) => a.device === d).length > 1)) await sleep(100);
    } finally {
      await scheduler.stop();
      await bus.close();
    }
    for (const d of ['m1', 'm2']) {
      const mine = availability.filter((a) => a.device === d);
      expect(mine.map((a) => a.state), d).toEqual(['online', 'degraded', 'offline', 'online']);
      // Back within the bus's reconnect backoff (at most 1 s) and two ticks.
      expect(mine[3]!.atMs - backAtMs, d).toBeLessThan(3_500);
    }
  }, 40_000);
});

// A device that answers correctly but just under its timeout, among fast ones on the same
// Modbus TCP bus, in real time: the real bus and scheduler against a simulator. The slow
// device stays online and good, and the fast ones keep their one-second cycle.
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/loader.js';
import type { ModbusBusConfig } from '../../../src/config/schema.js';
import type { DevicePoll } from '../../../src/core/sample.js';
import { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { resolveModbusDevices } from '../../../src/protocols/modbus/device.js';
import { BusScheduler, type Availability } from '../../../src/protocols/modbus/scheduler.js';
import { silentLogger } from '../../../src/log/logger.js';
import { SimulatedMeter } from '../../../src/sim/modbus-meter.js';
import { startFastModbusTcpSimulator } from '../../../src/sim/modbus-server.js';
import { catalogue } from './helpers.js';

describe('a slow device among fast ones (real time)', () => {
  it('keeps the fast devices on their cycle and the slow one online', async () => {
    const sdm630 = catalogue.get('eastron-sdm630')!;
    const units = [1, 2, 3, 4];
    const sim = await startFastModbusTcpSimulator(units.map((unitId) => new SimulatedMeter({ unitId, profile: sdm630 })));
    // SDM630: three requests a poll. 180 ms each, under the 250 ms timeout: 540 ms of the 1 s cycle.
    sim.faults.set(3, { kind: 'delay', ms: 180 });
    const config = parseConfigText(`version: 1
gateway: { id: gw, site: s }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${sim.port}, timeout: 250ms }]
devices:
${units.map((u) => `  - { id: m${u}, driver: eastron-sdm630, bus: panel, unit_id: ${u}, poll_interval: 1s, retries: 0 }`).join('\n')}
`, 'test.yaml');
    const { byBus, problems } = resolveModbusDevices(config, catalogue);
    expect(problems).toEqual([]);
    const busConfig = config.buses[0] as ModbusBusConfig;
    const bus = new ModbusBus(busConfig, silentLogger());
    const polls: DevicePoll[] = [];
    const availability: Array<{ device: string; state: Availability }> = [];
    const scheduler = new BusScheduler(bus, byBus.get('panel')!, {
      onPoll: (p) => polls.push(p),
      onAvailability: (device, state) => availability.push({ device, state }),
    }, silentLogger());
    try {
      scheduler.start();
      await new Promise((r) => setTimeout(r, 4_300));
    } finally {
      await scheduler.stop();
      await bus.close();
      await sim.stop();
    }
    for (const u of units) {
      const mine = polls.filter((p) => p.device === `m${u}`);
      // Four ticks (the first whole second after start, then one a second): at least three polls.
      expect(mine.length, `m${u}`).toBeGreaterThanOrEqual(3);
      // Every value published good: nothing of a slow answer was cut off or zeroed.
      for (const p of mine) expect(Object.values(p.values).every((v) => v.quality === 'good'), `m${u}`).toBe(true);
      if (u !== 3) {
        // Fast devices: one poll per second, never a skipped tick.
        const ticks = mine.map((p) => Math.round(p.tsMs / 1000));
        for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!, `m${u}`).toBe(1);
      }
    }
    expect(availability.filter((a) => a.state !== 'online')).toEqual([]);
  }, 20_000);
});

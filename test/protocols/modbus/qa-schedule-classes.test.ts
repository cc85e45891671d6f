// Poll classes on a bus that overruns: a slow class (energy counters every 15 s) must still
// be read when the tick on its boundary was one of the ticks an overrun skipped.
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/loader.js';
import type { DevicePoll } from '../../../src/core/sample.js';
import type { ModbusBusConfig } from '../../../src/config/schema.js';
import { resolveModbusDevices, type ModbusDevice } from '../../../src/protocols/modbus/device.js';
import { BusScheduler } from '../../../src/protocols/modbus/scheduler.js';
import { FakeBus, FakeClock } from './fakes.js';
import { capturingLogger, catalogue } from './helpers.js';

const T0 = Date.UTC(2025, 2, 3, 8, 0, 0);

function devicesFrom(yaml: string): ModbusDevice[] {
  const config = parseConfigText(`version: 1\ngateway: { id: gw, site: s }\n${yaml}`, 'test.yaml');
  const { byBus, problems } = resolveModbusDevices(config, catalogue);
  expect(problems).toEqual([]);
  return byBus.get((config.buses[0] as ModbusBusConfig).id) ?? [];
}

function run(devices: ModbusDevice[], latencyMs: number) {
  const clock = new FakeClock(T0);
  const bus = new FakeBus(clock, latencyMs);
  const polls: DevicePoll[] = [];
  const scheduler = new BusScheduler(bus, devices, {
    onPoll: (p) => polls.push(p),
    onAvailability: () => undefined,
  }, capturingLogger().log, { clock });
  return { clock, bus, polls, scheduler };
}

describe('poll classes on an overrunning bus', () => {
  it('reads the 15 s counters in every 15 s window although the bus never keeps its 1 s cycle', async () => {
    // SDM630 with counters every 15 s: 2 requests at 1 s, 2 more at 15 s. At 600 ms a request
    // a 1 s tick takes 1.2 s: every tick overruns, and the ticks that are skipped are those
    // at whole 5 s — every 15 s boundary among them.
    const devices = devicesFrom(`buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, timeout: 900ms }]
devices:
  - { id: m1, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s, counter_interval: 15s }
`);
    expect(devices[0]!.classes.map((c) => [c.intervalMs, c.requests.length])).toEqual([[1000, 2], [15000, 2]]);
    const h = run(devices, 600);
    h.scheduler.start();
    await h.clock.runUntil(T0 + 90_000);
    await h.clock.stopping(h.scheduler.stop());
    expect(h.scheduler.overruns.count).toBeGreaterThan(10);
    const energy = h.polls.filter((p) => 'active_energy_import_total' in p.values).map((p) => Math.floor(p.tsMs / 15_000));
    // Six 15 s windows began in those 90 s (at 15, 30, …, 90 s; the one at 90 s may be cut
    // off): the counters were read in at least five of them, once each.
    expect(new Set(energy).size).toBeGreaterThanOrEqual(5);
    expect(energy.length).toBe(new Set(energy).size);
    // And the 1 s points were read at every tick that ran.
    expect(h.polls.every((p) => 'active_power_total' in p.values)).toBe(true);
  });
});

describe('a wall clock stepped back (NTP correcting a clock that ran fast)', () => {
  it('keeps polling every second on the new clock, and probes a backing-off device as before', async () => {
    const devices = devicesFrom(`buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, timeout: 300ms }]
devices:
  - { id: m1, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s }
  - { id: m2, driver: eastron-sdm630, bus: panel, unit_id: 2, poll_interval: 1s }
`);
    const fake = new FakeClock(T0);
    // Timers run on elapsed time, as real ones do; only the wall clock is stepped.
    let stepMs = 0;
    const clock = { now: () => fake.now() - stepMs, setTimer: (fn: () => void, ms: number) => fake.setTimer(fn, ms) };
    const bus = new FakeBus(fake, 10);
    bus.behaviour.set(2, { kind: 'silent' });
    const polls: Array<{ device: string; atMs: number }> = [];
    const scheduler = new BusScheduler(bus, devices, {
      onPoll: (p) => polls.push({ device: p.device, atMs: fake.now() }),
      onAvailability: () => undefined,
    }, capturingLogger().log, { clock, maxBackoffMs: 4000 });
    scheduler.start();
    await fake.runUntil(T0 + 10_500);
    stepMs = 3_600_000;
    await fake.runUntil(T0 + 20_500);
    bus.behaviour.delete(2);
    await fake.runUntil(T0 + 30_500);
    await fake.stopping(scheduler.stop());
    // m1: one poll a second all along, the ten seconds after the step too (elapsed time).
    const after = polls.filter((p) => p.device === 'm1' && p.atMs > T0 + 10_500 && p.atMs <= T0 + 20_500);
    expect(after.length).toBeGreaterThanOrEqual(9);
    // m2 came back at T0 + 20.5 s; with its backoff at most 4 s it is polled again within 5 s.
    const back = polls.filter((p) => p.device === 'm2' && p.atMs > T0 + 20_500);
    expect(back.length).toBeGreaterThan(0);
    expect(back[0]!.atMs).toBeLessThanOrEqual(T0 + 20_500 + 5_000);
  });
});

describe('intervals that do not divide each other', () => {
  // Three meters every 2 s and one every 3 s at 9600 baud: a 2 s tick takes about 1.15 s and
  // the busiest one (every 6 s, all four) 1.5 s, within 2 s. But the 2 s tick at 8 s is
  // followed by the 3 s tick at 9 s, one second later: it cannot fit there.
  const yaml = `buses: [{ id: rs, type: modbus_rtu, path: /dev/null, baud_rate: 9600, timeout: 500ms }]
devices:
  - { id: a1, driver: eastron-sdm630, bus: rs, unit_id: 1, poll_interval: 2s }
  - { id: a2, driver: eastron-sdm630, bus: rs, unit_id: 2, poll_interval: 2s }
  - { id: a3, driver: eastron-sdm630, bus: rs, unit_id: 3, poll_interval: 2s }
  - { id: b1, driver: eastron-sdm630, bus: rs, unit_id: 4, poll_interval: 3s }
`;

  it('overrun in a real run (fake bus at those frame times)', async () => {
    const devices = devicesFrom(yaml);
    // SDM630 at 9600 8N1: 3 requests, 342 bytes of frames ≈ 356 ms, + 3 × (5 ms turnaround + 4 ms silence).
    const perRequestMs = Math.ceil(((342 * 10 * 1000) / 9600 + 3 * 9) / 3);
    const h = run(devices, perRequestMs);
    h.scheduler.start();
    await h.clock.runUntil(T0 + 60_000);
    await h.clock.stopping(h.scheduler.stop());
    expect(h.scheduler.overruns.count).toBeGreaterThan(0);
  });

  it('are judged tick by tick: the plan does not fit, and the scheduler says so at start', () => {
    const config = parseConfigText(`version: 1\ngateway: { id: gw, site: s }\n${yaml}`, 'test.yaml');
    const devices = devicesFrom(yaml);
    const h = run(devices, 1);
    const scheduler = new BusScheduler(Object.assign(h.bus, { config: config.buses[0] as ModbusBusConfig }), devices, { onPoll: () => undefined, onAvailability: () => undefined }, capturingLogger().log, { clock: h.clock });
    // The busiest tick alone would fit in the shortest interval…
    expect(scheduler.estimate!.worstTickMs).toBeLessThan(2000);
    // …but a 2 s tick has one second before a 3 s one.
    expect(scheduler.estimate!.fits).toBe(false);
  });
});

describe('timers that fire a little early (they count from the event loop\'s cached time)', () => {
  it('never takes that for a clock stepped back: one tick a second, no tick run twice', async () => {
    const devices = devicesFrom(`buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, timeout: 300ms }]
devices:
  - { id: m1, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s }
`);
    const fake = new FakeClock(T0);
    // Every timer fires 1 ms before the wall clock reaches the time it was set for.
    const clock = { now: () => fake.now(), setTimer: (fn: () => void, ms: number) => fake.setTimer(fn, Math.max(0, ms - 1)) };
    const bus = new FakeBus(fake, 0);
    const { log, lines } = capturingLogger();
    const polls: number[] = [];
    const scheduler = new BusScheduler(bus, devices, { onPoll: (p) => polls.push(p.tsMs), onAvailability: () => undefined }, log, { clock });
    scheduler.start();
    await fake.runUntil(T0 + 10_500);
    await fake.stopping(scheduler.stop());
    expect(lines.filter((l) => l.msg === 'wall clock went back, modbus ticks follow it')).toEqual([]);
    expect(polls.length).toBeGreaterThanOrEqual(9);
    expect(polls.length).toBeLessThanOrEqual(11);
  });
});


// Scheduling logic on a fake clock and a fake bus: aligned ticks, poll classes, failure
// isolation, availability, backoff, overruns. No sockets and no sleeping.
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/loader.js';
import type { DevicePoll } from '../../../src/core/sample.js';
import type { ModbusBusConfig } from '../../../src/config/schema.js';
import { resolveModbusDevices, type ModbusDevice } from '../../../src/protocols/modbus/device.js';
import { BusScheduler, type Availability } from '../../../src/protocols/modbus/scheduler.js';
import { FakeBus, FakeClock } from './fakes.js';
import { capturingLogger, catalogue } from './helpers.js';

const T0 = Date.UTC(2025, 2, 3, 8, 0, 0) + 345;

function devicesFrom(yaml: string): { devices: ModbusDevice[]; bus: ModbusBusConfig } {
  const config = parseConfigText(`version: 1\ngateway: { id: gw, site: s }\n${yaml}`, 'test.yaml');
  const { byBus, problems } = resolveModbusDevices(config, catalogue);
  expect(problems).toEqual([]);
  const bus = config.buses[0] as ModbusBusConfig;
  return { devices: byBus.get(bus.id) ?? [], bus };
}

function sixMeters(extra = ''): string {
  return `buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, timeout: 300ms }]
devices:
${[1, 2, 3, 4, 5, 6].map((u) => `  - { id: m${u}, driver: eastron-sdm630, bus: panel, unit_id: ${u}, poll_interval: 1s${extra} }`).join('\n')}
`;
}

function harness(devices: ModbusDevice[], busConfig?: ModbusBusConfig) {
  const clock = new FakeClock(T0);
  const bus = new FakeBus(clock);
  const polls: DevicePoll[] = [];
  const availability: Array<{ device: string; state: Availability; atMs: number }> = [];
  const { log, lines } = capturingLogger();
  const scheduler = new BusScheduler(Object.assign(bus, { config: busConfig }), devices, {
    onPoll: (p) => polls.push(p),
    onAvailability: (device, state) => availability.push({ device, state, atMs: clock.now() }),
  }, log, { clock });
  return { clock, bus, polls, availability, lines, scheduler };
}

describe('bus scheduler', () => {
  it('polls on ticks aligned to the wall clock, every device once per tick', async () => {
    const { devices } = devicesFrom(sixMeters());
    const h = harness(devices);
    h.scheduler.start();
    await h.clock.runUntil(T0 + 3_500);
    await h.clock.stopping(h.scheduler.stop());
    const firstRequests = h.bus.log.filter((r) => r.unit === 1).map((r) => r.startMs);
    // SDM630: 3 requests per poll; the first poll starts on the next whole second.
    expect(firstRequests.filter((_, i) => i % 3 === 0)).toEqual([T0 - 345 + 1000, T0 - 345 + 2000, T0 - 345 + 3000]);
    expect(h.polls).toHaveLength(18);
    expect(Object.keys(h.polls[0]!.values)).toHaveLength(55);
  });

  it('reads counters in their own slower poll class', async () => {
    const { devices } = devicesFrom(`buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1 }]
devices:
  - { id: m1, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s, counter_interval: 5s }
`);
    expect(devices[0]!.classes.map((c) => c.intervalMs)).toEqual([1000, 5000]);
    const h = harness(devices);
    h.scheduler.start();
    await h.clock.runUntil(T0 + 10_500);
    await h.clock.stopping(h.scheduler.stop());
    const withEnergy = h.polls.filter((p) => 'active_energy_import_total' in p.values).map((p) => p.tsMs % 5000);
    expect(h.polls).toHaveLength(10);
    expect(withEnergy).toEqual([0, 0]);
    expect('active_power_total' in h.polls[1]!.values).toBe(true);
  });

  it('skips a dead device for the rest of its cycle, backs it off, and keeps the others on time', async () => {
    const { devices } = devicesFrom(sixMeters());
    const h = harness(devices);
    h.bus.behaviour.set(3, { kind: 'silent' });
    h.scheduler.start();
    await h.clock.runUntil(T0 + 60_500);
    await h.clock.stopping(h.scheduler.stop());

    // The dead device's turn ends at its first failed request.
    const deadAttempts = h.bus.log.filter((r) => r.unit === 3);
    expect(deadAttempts.every((r) => r.address === 0)).toBe(true);
    // First poll in its place (it was healthy then), later ones after every healthy device.
    const ticks = [...new Set(deadAttempts.map((r) => Math.floor(r.startMs / 1000) * 1000))];
    const gaps = ticks.slice(1).map((t, i) => (t - ticks[i]!) / 1000);
    expect(gaps).toEqual([1, 2, 4, 8, 16]);
    // Healthy devices: polled every second, each at the same offset into the tick after
    // the first failure, as if the dead device were not there.
    for (const u of [1, 2, 4, 5, 6]) {
      const starts = h.bus.log.filter((r) => r.unit === u && r.address === 0).map((r) => r.startMs % 1000);
      expect(starts).toHaveLength(60);
      const offsets = new Set(starts.slice(2));
      expect(offsets.size, `unit ${u}`).toBe(1);
    }
    expect(h.availability.filter((a) => a.device === 'm3').map((a) => a.state)).toEqual(['degraded', 'offline']);
    expect(h.lines.filter((l) => l.msg === 'modbus device poll failed' && l.device === 'm3')).toHaveLength(1);
    expect(h.lines.filter((l) => l.msg === 'device availability changed' && l.device === 'm3')).toHaveLength(2);
  });

  it('caps the backoff, and brings a device back online at its next probe', async () => {
    const { devices } = devicesFrom(sixMeters());
    const clock = new FakeClock(T0);
    const bus = new FakeBus(clock);
    const states: Availability[] = [];
    const scheduler = new BusScheduler(bus, devices, {
      onPoll: () => undefined,
      onAvailability: (device, state) => { if (device === 'm2') states.push(state); },
    }, capturingLogger().log, { clock, maxBackoffMs: 4000 });
    bus.behaviour.set(2, { kind: 'exception', code: 4, latencyMs: 5 });
    scheduler.start();
    await clock.runUntil(T0 + 30_000);
    const probes = bus.log.filter((r) => r.unit === 2).map((r) => r.startMs);
    expect(Math.max(...probes.slice(1).map((t, i) => t - probes[i]!))).toBeLessThanOrEqual(4000 + 1000);
    bus.behaviour.delete(2);
    await clock.runUntil(T0 + 40_000);
    await clock.stopping(scheduler.stop());
    expect(states).toEqual(['degraded', 'offline', 'online']);
  });

  it('retries a failed request of a healthy device, but never of one that is backing off', async () => {
    const { devices } = devicesFrom(sixMeters(', retries: 2'));
    const h = harness(devices.slice(0, 1));
    h.bus.behaviour.set(1, { kind: 'silent' });
    h.scheduler.start();
    await h.clock.runUntil(T0 + 2_700);
    await h.clock.stopping(h.scheduler.stop());
    const attempts = h.bus.log.map((r) => Math.floor(r.startMs / 1000));
    // Tick 1: the request and two retries; tick 2: one probe, no retries.
    expect(attempts.filter((s) => s === attempts[0])).toHaveLength(3);
    expect(attempts.filter((s) => s !== attempts[0])).toHaveLength(1);
  });

  it.each([
    [6, 'busy', 2],
    [11, 'gateway target failed to respond', 2],
    // (1, not 2 or 3: a block refused with those is read again in pieces, see
    // qa-schedule-exceptions and fallback.)
    [1, 'illegal function', 1],
  ])('exception %i (%s): asked again only when it can pass (%i requests for the first block)', async (code, _name, requests) => {
    const { devices } = devicesFrom(sixMeters(', retries: 2'));
    const h = harness(devices.slice(0, 1));
    h.bus.behaviour.set(1, { kind: 'exception', code, latencyMs: 5, once: true });
    h.scheduler.start();
    await h.clock.runUntil(T0 + 900);
    await h.clock.stopping(h.scheduler.stop());
    const first = h.bus.log.filter((r) => r.address === h.bus.log[0]!.address && r.startMs < T0 + 900);
    expect(first).toHaveLength(requests);
    // Either way the poll is published: after the retry, or with the refused block bad.
    expect(h.polls).toHaveLength(1);
    const bad = Object.values(h.polls[0]!.values).filter((v) => v.quality === 'bad');
    expect(bad.length > 0).toBe(requests === 1);
  });

  it('asks the next device before handing on the last poll, and hands on every poll, the last one too', async () => {
    const { devices } = devicesFrom(sixMeters());
    const h = harness(devices.slice(0, 3));
    const trace: string[] = [];
    const read = h.bus.read.bind(h.bus);
    h.bus.read = (unit, fn, address, count, options) => {
      trace.push(`ask ${unit}@${address}`);
      return read(unit, fn, address, count, options);
    };
    const onPoll = h.polls.push.bind(h.polls);
    h.polls.push = (...p) => {
      for (const x of p) trace.push(`poll ${x.device}`);
      return onPoll(...p);
    };
    h.scheduler.start();
    await h.clock.runUntil(T0 + 1_500);
    await h.clock.stopping(h.scheduler.stop());
    // SDM630: three requests a poll. Device 2's first request goes out before device 1's poll
    // is handed on, so the bus does not wait while the gateway works on that poll.
    const [a, b, c] = devices[0]!.classes[0]!.requests.map((r) => r.address);
    expect(trace).toEqual([
      `ask 1@${a}`, `ask 1@${b}`, `ask 1@${c}`, `ask 2@${a}`, 'poll m1', `ask 2@${b}`, `ask 2@${c}`,
      `ask 3@${a}`, 'poll m2', `ask 3@${b}`, `ask 3@${c}`, 'poll m3',
    ]);
  });

  it('puts every bus\'s next request on the line before handing on the polls whose answers came in the same turn', async () => {
    const { devices } = devicesFrom(sixMeters());
    const clock = new FakeClock(T0);
    const trace: string[] = [];
    const { log } = capturingLogger();
    const schedulers = ['a', 'b'].map((name) => {
      const bus = new FakeBus(clock);
      const read = bus.read.bind(bus);
      bus.read = (unit, fn, address, count, options) => {
        trace.push(`ask ${name}${unit}@${address}`);
        return read(unit, fn, address, count, options);
      };
      return new BusScheduler(bus, devices.slice(0, 2), {
        onPoll: (p) => trace.push(`poll ${name}:${p.device}`),
        onAvailability: () => undefined,
      }, log, { clock });
    });
    for (const s of schedulers) s.start();
    await clock.runUntil(T0 + 900); // one tick
    await clock.stopping(Promise.all(schedulers.map((s) => s.stop())).then(() => undefined));
    // Both buses answer their first device's last request at the same instant: both ask
    // their second device before either first poll is handed on.
    const at = (entry: string) => trace.indexOf(entry);
    const firstOfSecond = devices[1]!.classes[0]!.requests[0]!.address;
    expect(at(`ask a2@${firstOfSecond}`)).toBeLessThan(at('poll a:m1'));
    expect(at(`ask b2@${firstOfSecond}`)).toBeLessThan(at('poll a:m1'));
    expect(trace.filter((e) => e.startsWith('poll'))).toEqual(['poll a:m1', 'poll b:m1', 'poll a:m2', 'poll b:m2']);
  });

  it('keeps polling when whoever listens throws on a poll, and logs it', async () => {
    const { devices } = devicesFrom(sixMeters());
    const h = harness(devices.slice(0, 3));
    const handed: string[] = [];
    const onPoll = h.polls.push.bind(h.polls);
    h.polls.push = (...p) => {
      for (const x of p) {
        handed.push(x.device);
        if (x.device === 'm2') throw new Error('listener broke');
      }
      return onPoll(...p);
    };
    h.scheduler.start();
    await h.clock.runUntil(T0 + 2_500);
    await h.clock.stopping(h.scheduler.stop());
    // Two ticks, three devices each: every poll was handed on, m2's too.
    expect(handed).toEqual(['m1', 'm2', 'm3', 'm1', 'm2', 'm3']);
    expect(h.lines.filter((l) => l.msg === 'handing on a modbus poll failed')).toHaveLength(2);
  });

  it('counts an overrun and runs only the latest missed tick, never a backlog', async () => {
    const { devices } = devicesFrom(sixMeters());
    const h = harness(devices);
    for (const u of [1, 2, 3, 4, 5, 6]) h.bus.behaviour.set(u, { kind: 'ok', latencyMs: 150 });
    // 6 devices × 3 requests × 150 ms = 2.7 s per cycle at a 1 s interval.
    h.scheduler.start();
    await h.clock.runUntil(T0 + 30_000);
    await h.clock.stopping(h.scheduler.stop());
    expect(h.scheduler.overruns.count).toBeGreaterThan(5);
    const cycles = h.polls.length / 6;
    expect(cycles).toBeLessThanOrEqual(30_000 / 2_700 + 1);
    expect(h.lines.filter((l) => l.msg === 'modbus bus cycle overran its interval')).toHaveLength(1);
  });

  it('warns at start when a bus cannot fit its planned cycle, from frame times at the baud rate', async () => {
    const rtu = (n: number) => `buses: [{ id: rs485, type: modbus_rtu, path: /dev/null, baud_rate: 9600 }]
devices:
${Array.from({ length: n }, (_, i) => `  - { id: m${i + 1}, driver: eastron-sdm630, bus: rs485, unit_id: ${i + 1}, poll_interval: 1s }`).join('\n')}
`;
    const few = devicesFrom(rtu(1));
    const many = devicesFrom(rtu(4));
    const hFew = harness(few.devices, few.bus);
    const hMany = harness(many.devices, many.bus);
    hFew.scheduler.start();
    hMany.scheduler.start();
    await Promise.all([hFew.scheduler.stop(), hMany.scheduler.stop()]);
    // One SDM630 at 9600 baud: 3 requests, 342 bytes of frames ≈ 0.4 s; four of them ≈ 1.6 s.
    expect(hFew.scheduler.estimate!.fits).toBe(true);
    expect(hMany.scheduler.estimate!.fits).toBe(false);
    expect(hFew.lines.filter((l) => l.msg === 'modbus bus cannot fit its planned cycle in the poll interval')).toHaveLength(0);
    const warn = hMany.lines.find((l) => l.msg === 'modbus bus cannot fit its planned cycle in the poll interval');
    expect(warn).toMatchObject({ requests: 12, intervalMs: 1000 });
  });
});

// Timing knobs as a device sees them: silences measured at a real server, from the moment it
// wrote an answer (or accepted the connection) to the moment the next request arrived.
// The server's clock is the truth here; the gateway's own view of its waits is not.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/loader.js';
import type { ModbusBusConfig } from '../../../src/config/schema.js';
import { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { resolveModbusDevices } from '../../../src/protocols/modbus/device.js';
import { BusScheduler } from '../../../src/protocols/modbus/scheduler.js';
import { silentLogger } from '../../../src/log/logger.js';
import { catalogue, makeBus } from './helpers.js';
import { frameFor, registersPdu, startScripted, type Scripted } from './scripted.js';

let server: Scripted | null = null;
let bus: ModbusBus | null = null;
afterEach(async () => {
  await bus?.close();
  await server?.stop();
  bus = null;
  server = null;
});

interface Stamp { unit: number; rxMs: number; txMs: number }

/** A scripted Modbus TCP server answering at once, stamping each request's arrival and answer. */
async function stampingServer(): Promise<{ stamps: Stamp[] }> {
  const stamps: Stamp[] = [];
  server = await startScripted('mbap', (req, reply) => {
    const rxMs = performance.now();
    reply.send(reply.frame(reply.answerPdu()));
    stamps.push({ unit: req.unit, rxMs, txMs: performance.now() });
  });
  return { stamps };
}

describe('silences on the wire, measured at the server', () => {
  it('keeps the inter-frame delay between every answer and the next request, whoever it is for', async () => {
    const { stamps } = await stampingServer();
    bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: server!.port, inter_frame_delay: '20ms' });
    for (let i = 0; i < 40; i++) await bus.read(1 + (i % 3), 'input', 0, 2, { timeoutMs: 1000 });
    const gaps = stamps.slice(1).map((s, i) => s.rxMs - stamps[i]!.txMs);
    expect(gaps).toHaveLength(39);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(20);
  });

  it('keeps pause_between_requests between one device\'s answer and its own next request', async () => {
    const { stamps } = await stampingServer();
    bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: server!.port });
    for (let i = 0; i < 30; i++) await bus.read(1, 'input', 2 * i, 2, { timeoutMs: 1000, pauseBetweenRequestsMs: 15 });
    const gaps = stamps.slice(1).map((s, i) => s.rxMs - stamps[i]!.txMs);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(15);
  });

  it('waits pause_after_connect from the connection\'s accept to its first request', async () => {
    const accepted: number[] = [];
    const firstRequest: number[] = [];
    const raw: Server = createServer((socket) => {
      accepted.push(performance.now());
      let first = true;
      socket.on('data', (d) => {
        if (first) firstRequest.push(performance.now());
        first = false;
        // One 12-byte MBAP read request per chunk here (the bus writes one at a time).
        const tid = d.readUInt16BE(0);
        socket.write(frameFor('mbap', registersPdu(d[6]!, d[7]!, [1, 2]), tid));
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const port = (raw.address() as { port: number }).port;
    try {
      for (let i = 0; i < 5; i++) {
        const b = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port });
        await b.read(1, 'input', 0, 2, { timeoutMs: 1000, pauseAfterConnectMs: 40 });
        await b.close();
      }
    } finally {
      await new Promise<void>((resolve) => raw.close(() => resolve()));
    }
    expect(accepted).toHaveLength(5);
    const waits = firstRequest.map((t, i) => t - accepted[i]!);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(40);
  });
});

describe('a wall clock stepped back (NTP correcting a clock that ran fast)', () => {
  it('does not hold the bus\'s next request until the clock has caught up again', async () => {
    const { stamps } = await stampingServer();
    bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: server!.port, inter_frame_delay: '10ms' });
    await bus.read(1, 'input', 0, 2, { timeoutMs: 1000, pauseBetweenRequestsMs: 10 });
    const realNow = Date.now;
    Date.now = () => realNow() - 3_600_000;
    try {
      const t0 = performance.now();
      await Promise.race([
        bus.read(1, 'input', 0, 2, { timeoutMs: 1000, pauseBetweenRequestsMs: 10 }),
        new Promise((_, reject) => setTimeout(() => reject(new Error('the read waited for the wall clock')), 3000)),
      ]);
      expect(performance.now() - t0).toBeLessThan(1000);
    } finally {
      Date.now = realNow;
    }
    expect(stamps).toHaveLength(2);
  });
});

describe('a cycle longer than the interval (real time)', () => {
  it('counts the overrun, never runs the missed ticks in a burst, and is back on whole seconds once the device is fast again', async () => {
    let slowMs = 450;
    server = await startScripted('mbap', (req, reply) => {
      setTimeout(() => reply.send(reply.frame(reply.answerPdu())), slowMs);
    });
    const config = parseConfigText(`version: 1
gateway: { id: gw, site: s }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${server.port}, timeout: 1s }]
devices: [{ id: m1, driver: eastron-sdm630, bus: panel, unit_id: 1, poll_interval: 1s }]
`, 'overrun.yaml');
    const { byBus } = resolveModbusDevices(config, catalogue);
    bus = new ModbusBus(config.buses[0] as ModbusBusConfig, silentLogger());
    const polls: Array<{ tsMs: number; atMs: number }> = [];
    const scheduler = new BusScheduler(bus, byBus.get('panel')!, {
      onPoll: (p) => polls.push({ tsMs: p.tsMs, atMs: Date.now() }),
      onAvailability: () => undefined,
    }, silentLogger());
    scheduler.start();
    // SDM630: three requests, 1.35 s a poll at a 1 s interval.
    await new Promise((r) => setTimeout(r, 5_000));
    const slowPolls = polls.length;
    slowMs = 0;
    await new Promise((r) => setTimeout(r, 3_500));
    await scheduler.stop();
    expect(scheduler.overruns.count).toBeGreaterThanOrEqual(2);
    // Never two polls closer than the slow poll took: no backlog run back to back.
    const slow = polls.slice(0, slowPolls);
    for (let i = 1; i < slow.length; i++) expect(slow[i]!.atMs - slow[i - 1]!.atMs).toBeGreaterThan(1_200);
    expect(slowPolls).toBeLessThanOrEqual(5_000 / 1_350 + 1);
    // Fast again: the last polls start on whole seconds, one a second.
    const last = polls.slice(-2).map((p) => p.tsMs);
    expect(last[1]! - last[0]!).toBeGreaterThanOrEqual(950);
    expect(last[1]! - last[0]!).toBeLessThanOrEqual(1_050);
    expect(last[1]! % 1000).toBeLessThan(50);
  }, 20_000);
});

// Child processes of the Modbus benchmark, one role each, so that CPU and memory are
// measured per process: simulators, the MQTT broker, the gateway under test, and the bare
// modbus-serial read loop it is compared with. Driven over IPC by bench/modbus.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../src/app/gateway.js';
import { parseConfigText } from '../src/config/loader.js';
import { createLogger } from '../src/log/logger.js';
import { loadCatalogueSync } from '../src/profiles/catalogue.js';
import { benchCatalogue } from './bench-catalogue.js';
import { ModbusBus } from '../src/protocols/modbus/bus.js';
import { resolveModbusDevices } from '../src/protocols/modbus/device.js';
import { createModbusClient, type ModbusClient } from '../src/protocols/modbus/lib.js';
import { BusScheduler } from '../src/protocols/modbus/scheduler.js';
import { startEmbeddedBroker } from '../src/sim/broker.js';
import { SimulatedMeter } from '../src/sim/modbus-meter.js';
import { startFastModbusTcpSimulator, startModbusTcpSimulator, type SimServerHandle } from '../src/sim/modbus-server.js';

export type WorkerRequest =
  | { role: 'sim'; ports: number; unitsPerPort: number; driver: string; server: 'fast' | 'modbus-serial' }
  | { role: 'broker' }
  | { role: 'gateway'; config: string }
  | { role: 'acquire'; config: string }
  | { role: 'bare'; ports: number[]; unitsPerPort: number; requests: Array<{ function: 'input' | 'holding'; address: number; count: number }>; intervalMs?: number }
  | { role: 'stats' }
  | { role: 'stop' };

export type WorkerReply =
  | { ready: true; ports?: number[] }
  | { stats: WorkerStats }
  | { error: string };

export interface WorkerStats {
  polls: number;
  requests: number;
  errors: number;
  /** Poll-cycle durations (ms) since the last stats call. */
  cycles: number[];
  /** This process's CPU time so far (user + system, all threads), µs. */
  cpuUs: number;
  /** Of which in the kernel (socket writes and reads, fsync): what no user-space change shaves. */
  cpuSystemUs: number;
  rssBytes: number;
  /** V8 heap in use, and memory outside it (Buffers, SQLite, sockets): where the RSS goes. */
  heapUsedBytes: number;
  externalBytes: number;
}

const send = (m: WorkerReply) => process.send?.(m);

function own(): Pick<WorkerStats, 'cpuUs' | 'cpuSystemUs' | 'rssBytes' | 'heapUsedBytes' | 'externalBytes'> {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return { cpuUs: cpu.user + cpu.system, cpuSystemUs: cpu.system, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external };
}

let stats: () => WorkerReply = () => ({ stats: { polls: 0, requests: 0, cycles: [], errors: 0, ...own() } });
let stop: () => Promise<void> = async () => undefined;

async function startSims(ports: number, unitsPerPort: number, driver: string, server: 'fast' | 'modbus-serial'): Promise<void> {
  const profile = loadCatalogueSync().get(driver);
  if (!profile) throw new Error(`no driver ${driver}`);
  const handles: SimServerHandle[] = [];
  for (let p = 0; p < ports; p++) {
    const meters = Array.from({ length: unitsPerPort }, (_, i) => new SimulatedMeter({ unitId: i + 1, profile, seed: p * 1000 + i, imageCacheMs: 100 }));
    handles.push(await (server === 'fast' ? startFastModbusTcpSimulator : startModbusTcpSimulator)(meters));
  }
  stop = async () => { await Promise.all(handles.map((h) => h.stop())); };
  send({ ready: true, ports: handles.map((h) => h.port) });
}

async function startBroker(): Promise<void> {
  const broker = await startEmbeddedBroker();
  stop = () => broker.stop();
  send({ ready: true, ports: [broker.port] });
}

async function startGatewayUnderTest(text: string): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'eg-bench-'));
  const config = parseConfigText(text.replaceAll('${DATA_DIR}', dataDir), 'bench.yaml');
  // Overrun warnings from 50 saturated buses would drown the table; errors still show.
  const log = createLogger({ level: 'error', pretty: false, destination: process.stderr });
  const gateway: RunningGateway = await startGateway(config, { log, catalogue: benchCatalogue() });
  stats = () => {
    const devices = gateway.schedulers.flatMap((s) => s.deviceStats());
    return {
      stats: {
        polls: devices.reduce((n, d) => n + d.polls, 0),
        requests: 0,
        errors: devices.reduce((n, d) => n + d.errors, 0),
        cycles: gateway.schedulers.flatMap((s) => s.takeCycleDurations()),
        ...own(),
      },
    };
  };
  stop = async () => {
    await gateway.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  send({ ready: true });
}

/**
 * The acquisition path alone — buses, schedulers, read plans, codec, ratios — with polls
 * counted and dropped: what the gateway's Modbus side costs without the energy core,
 * outbox and sinks.
 */
async function startAcquisition(text: string): Promise<void> {
  const config = parseConfigText(text.replaceAll('${DATA_DIR}', tmpdir()), 'bench.yaml');
  const log = createLogger({ level: 'error', pretty: false, destination: process.stderr });
  const { byBus } = resolveModbusDevices(config, benchCatalogue());
  let polls = 0;
  const schedulers: BusScheduler[] = [];
  const buses: ModbusBus[] = [];
  for (const b of config.buses) {
    if (b.type === 'opcua') continue;
    const bus = new ModbusBus(b, log);
    const scheduler = new BusScheduler(bus, byBus.get(b.id) ?? [], { onPoll: () => { polls += 1; }, onAvailability: () => undefined }, log);
    buses.push(bus);
    schedulers.push(scheduler);
    scheduler.start();
  }
  stats = () => ({
    stats: {
      polls, requests: 0, errors: schedulers.flatMap((s) => s.deviceStats()).reduce((n, d) => n + d.errors, 0),
      cycles: schedulers.flatMap((s) => s.takeCycleDurations()), ...own(),
    },
  });
  stop = async () => {
    await Promise.all(schedulers.map((s) => s.stop()));
    await Promise.all(buses.map((b) => b.close()));
  };
  send({ ready: true });
}

/**
 * The baseline: one modbus-serial client per port reading the same requests, decoding nothing.
 * Flat out, or every `intervalMs` (each unit once per interval) for the CPU floor at a given load.
 */
async function startBare(ports: number[], unitsPerPort: number, requests: Array<{ function: 'input' | 'holding'; address: number; count: number }>, intervalMs?: number): Promise<void> {
  let done = 0;
  let errors = 0;
  let running = true;
  const clients: ModbusClient[] = [];
  for (const port of ports) {
    const client = createModbusClient();
    await client.connectTCP('127.0.0.1', { port });
    client.setTimeout(2000);
    clients.push(client);
  }
  const loops = clients.map(async (client) => {
    for (let unit = 1; running; unit = (unit % unitsPerPort) + 1) {
      if (intervalMs !== undefined && unit === 1) {
        const wait = intervalMs - (Date.now() % intervalMs);
        await new Promise((r) => setTimeout(r, wait));
      }
      client.setID(unit);
      for (const r of requests) {
        try {
          if (r.function === 'input') await client.readInputRegisters(r.address, r.count);
          else await client.readHoldingRegisters(r.address, r.count);
          done += 1;
        } catch {
          errors += 1;
        }
      }
    }
  });
  stats = () => ({ stats: { polls: 0, requests: done, cycles: [], errors, ...own() } });
  stop = async () => {
    running = false;
    await Promise.all(loops);
    await Promise.all(clients.map((c) => new Promise<void>((r) => c.close(() => r()))));
  };
  send({ ready: true });
}

process.on('message', (m: WorkerRequest) => {
  const run = async () => {
    switch (m.role) {
      case 'sim': return startSims(m.ports, m.unitsPerPort, m.driver, m.server);
      case 'broker': return startBroker();
      case 'gateway': return startGatewayUnderTest(m.config);
      case 'acquire': return startAcquisition(m.config);
      case 'bare': return startBare(m.ports, m.unitsPerPort, m.requests, m.intervalMs);
      case 'stats': return send(stats());
      case 'stop':
        await stop();
        process.exit(0);
    }
  };
  run().catch((err: unknown) => send({ error: err instanceof Error ? err.stack ?? err.message : String(err) }));
});

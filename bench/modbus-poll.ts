// In-process cost of one SDM630 poll, stage by stage, without sockets or simulator
// processes: a fake bus answers from simulated meters' register images, so the figures are
// the gateway's own CPU per poll and steady on a shared machine (unlike req/s).
//
//   node dist/bench/modbus-poll.js [meters=200] [seconds=5]
//   MODBUS_POLL_DRIVERS   drivers folder (default: the catalogue's own)
//   MODBUS_POLL_ONLY      time only the stages whose label contains this text (profiling one
//                         stage with --cpu-prof)
//
// Stages: read (fake bus + codec + ratios), telemetry record, JSON.stringify of that record
// and the text the pipeline writes straight from the poll instead (what the outbox stores;
// the same characters), energy core ingest, and the whole pipeline
// with a real SQLite outbox in a temporary folder (state snapshot once a second), each
// stored record read back and made into its MQTT payload.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { engineConfigFrom } from '../src/app/engine-config.js';
import { parseConfigText } from '../src/config/loader.js';
import { createEngine } from '../src/core/engine.js';
import type { DevicePoll } from '../src/core/sample.js';
import { telemetryFromPoll } from '../src/core/telemetry.js';
import { completeEngineConfig } from '../src/energy-io/engine-config.js';
import { Outbox } from '../src/outbox/outbox.js';
import { withSuffix } from '../src/outbox/packed-telemetry.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { telemetryJson } from '../src/pipeline/telemetry-json.js';
import { loadCatalogueSync } from '../src/profiles/catalogue.js';
import type { ModbusReader } from '../src/protocols/modbus/bus.js';
import { resolveModbusDevices } from '../src/protocols/modbus/device.js';
import { readDevice } from '../src/protocols/modbus/poll.js';
import { SimulatedMeter } from '../src/sim/modbus-meter.js';

const meters = Number(process.argv[2] ?? 200);
const seconds = Number(process.argv[3] ?? 5);
const catalogue = loadCatalogueSync(process.env.MODBUS_POLL_DRIVERS);
const profile = catalogue.get('eastron-sdm630')!;

const devices: string[] = [];
const accounts: string[] = [];
for (let i = 0; i < meters; i++) {
  devices.push(`  - { id: m${i}, driver: eastron-sdm630, bus: b, unit_id: ${(i % 247) + 1}, poll_interval: 1s }`);
  accounts.push(`  - { id: a${i}, meters: [{ device: m${i} }], windows: [1m, 15m] }`);
}
const config = parseConfigText(`version: 1
gateway: { id: bench, site: lab, data_dir: /tmp }
buses:
  - { id: b, type: modbus_tcp, host: 127.0.0.1, port: 502 }
devices:
${devices.join('\n')}
accounts:
${accounts.join('\n')}
`, 'poll-bench.yaml');
const resolved = resolveModbusDevices(config, catalogue).byBus.get('b')!;

// Simulated time: one poll per meter per second, starting at a round hour.
let nowMs = Date.UTC(2026, 0, 5, 8, 0, 0);
const sims = resolved.map((_, i) => new SimulatedMeter({ unitId: 1, profile, seed: i, epochMs: nowMs - 3_600_000, imageCacheMs: 1000 }));
let current = 0;
// Each meter's answers, refreshed once per simulated second (outside the timed read stage's
// codec work only in that the simulator's cost is paid once per round, as a device would).
let answersAt = -1;
const answers = new Map<string, number[]>();
const reader: ModbusReader = {
  id: 'b',
  read: (_unit, fn, address, count) => {
    const key = `${current}:${fn}:${address}:${count}`;
    let words = answersAt === nowMs ? answers.get(key) : undefined;
    if (!words) {
      words = sims[current]!.read(fn, address, count, nowMs) as number[];
      answers.set(key, words);
    }
    return Promise.resolve(words);
  },
};

const usPerPoll = (cpu: NodeJS.CpuUsage, polls: number) => (cpu.user + cpu.system) / polls;

async function collectPolls(rounds: number): Promise<DevicePoll[]> {
  const out: DevicePoll[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < resolved.length; i++) {
      current = i;
      const d = resolved[i]!;
      out.push({ device: d.id, tsMs: nowMs, values: await readDevice(reader, d, d.classes) });
    }
    answersAt = nowMs;
    nowMs += 1000;
  }
  return out;
}

/** Runs `fn` over and over for about `seconds`; µs of CPU per call. */
async function timeIt(label: string, polls: number, fn: () => Promise<void> | void): Promise<number> {
  const only = process.env.MODBUS_POLL_ONLY;
  if (only && !label.includes(only)) return 0;
  await fn(); // warm-up
  let n = 0;
  const start = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await fn();
    n += polls;
  }
  const cpu = process.cpuUsage(start);
  const us = usPerPoll(cpu, n);
  // The system share is mostly SQLite's writes and fsyncs: the kernel's, not ours to shave.
  process.stdout.write(`${label.padEnd(52)} ${us.toFixed(1).padStart(7)} µs/poll (system ${(cpu.system / n).toFixed(1)})\n`);
  return us;
}

process.stdout.write(`${meters} SDM630 meters, ${resolved[0]!.classes.reduce((n, c) => n + c.requests.length, 0)} requests and ${profile.points.length} points per poll\n`);

// 1. Acquisition: fake bus (answers cached), codec, derived values; same second over and over.
await collectPolls(1);
nowMs -= 1000;
await timeIt('read (fake bus + codec + ratios)', meters, async () => {
  await collectPolls(1);
  nowMs -= 1000;
});
nowMs += 1000;

// Polls for the later stages, each ts one second apart per meter.
const rounds = 20;
const polls = await collectPolls(rounds);

await timeIt('telemetry record', polls.length, () => {
  for (const p of polls) telemetryFromPoll(p, 'eastron-sdm630');
});
const telemetry = polls.map((p) => telemetryFromPoll(p, 'eastron-sdm630'));
// Each with the text's UTF-8 length, as the outbox takes it: a string built piece by
// piece is only flattened there, and that belongs to its cost.
await timeIt('JSON.stringify of the telemetry record', polls.length, () => {
  for (const t of telemetry) Buffer.byteLength(JSON.stringify(t));
});
await timeIt('telemetry text written from the poll (outbox)', polls.length, () => {
  for (const p of polls) Buffer.byteLength(telemetryJson(p, 'eastron-sdm630')!);
});

const engineConfig = await completeEngineConfig(engineConfigFrom(config, catalogue), config.energy);
{
  const engine = createEngine(engineConfig);
  let shift = 0;
  await timeIt('energy core ingest', polls.length, () => {
    // Fresh timestamps each round, so every poll is a new reading for the counters.
    for (const p of polls) engine.ingest({ ...p, tsMs: p.tsMs + shift });
    shift += rounds * 1000;
    engine.advance(polls[polls.length - 1]!.tsMs + shift);
  });
}

{
  const dir = mkdtempSync(join(tmpdir(), 'eg-poll-bench-'));
  const outbox = new Outbox(join(dir, 'outbox.sqlite'), { sinks: ['mqtt'] });
  const engine = createEngine(engineConfig);
  let clock = polls[0]!.tsMs;
  const models = new Map(resolved.map((d) => [d.id, d.model]));
  const pipeline = new Pipeline({ engine, outbox, log: pino({ level: 'silent' }), models, onStored: () => undefined, now: () => clock, batchMs: 60_000,
    // As the gateway runs when nothing watches its records (no demo summary, no test hook).
    observeTelemetry: false,
  });
  let shift = 0;
  // Telemetry commits per 100 ms batch as in the gateway: meters / 10 polls per commit.
  const perBatch = Math.max(1, Math.round(meters / 10));
  // What the MQTT publisher appends to every telemetry payload.
  const suffix = Buffer.from(',"site":"lab","gateway":"bench"}');
  await timeIt('pipeline + MQTT payloads (core, outbox, delivery read, ack; batch = meters/10)', polls.length, () => {
    for (let i = 0; i < polls.length; i++) {
      const p = polls[i]!;
      pipeline.onPoll({ ...p, tsMs: p.tsMs + shift });
      if ((i + 1) % perBatch === 0) {
        clock = p.tsMs + shift;
        pipeline.flush(false);
        // Each stored record read back and made into its MQTT payload, as the publisher does.
        for (const r of outbox.next('mqtt', perBatch * 2).records) {
          if (r.kind === 'telemetry') Buffer.byteLength(r.packed ? r.packed.bytes(suffix) : withSuffix(r.payload!, suffix));
        }
      }
    }
    shift += rounds * 1000;
    pipeline.tick();
    // Keep the file small, as a sink would: acknowledge everything stored so far.
    outbox.ackRange('mqtt', 1, outbox.maxSeq());
  });
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
}

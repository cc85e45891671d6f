// `energy-gateway read`: one poll of one device, printed — the first thing to run when a
// meter is wired up. Uses the same bus, plan, codec and ratio handling as the gateway.
import type { ModbusBusConfig } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import { ModbusBus } from '../protocols/modbus/bus.js';
import { resolveModbusDevices } from '../protocols/modbus/device.js';
import { TransportError } from '../protocols/modbus/errors.js';
import type { PointValue } from '../core/sample.js';
import { probesNext, readDevice, requestCount, type Refusal } from '../protocols/modbus/poll.js';
import { DEVICE_QUERY_OPTIONS, parseCommandArgs, requireString } from './args.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from './command.js';
import { loadGatewayConfig, printWarnings } from './load-config.js';
import { readOpcuaDevice } from './read-opcua.js';

const USAGE = `energy-gateway read --config FILE --device ID [--json]

Reads every point of one device once, with the bus settings of FILE, and prints the
values on the primary side in canonical units. Modbus: the read plan, timeouts and CT/PT
ratios the gateway uses. OPC UA: one session with the gateway's certificate (data_dir),
the device's profile and inline points resolved, the first value of each point.
  --json   print { "device": ID, "ts": <ms>, "values": { "<point>": { "value": n,
           "unit": "...", "quality": "good", "status"?: "<OPC UA status name>" } } }
Exit codes: 0 read, 1 the device did not answer (timeout, exception, no connection,
a point without a value: a block the device refused is printed without values), 2 bad
config or usage.`;

function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(9)));
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** The values as a table, or as one JSON line; `status` (an OPC UA status name) only where there is one. */
function print(id: string, where: string, tsMs: number, read: Record<string, PointValue>, json: boolean): void {
  if (json) {
    const out = {
      device: id, ts: tsMs,
      values: Object.fromEntries(Object.entries(read).map(([k, v]) => [k, { value: v.value, unit: v.unit, quality: v.quality, ...(v.status ? { status: v.status } : {}) }])),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const rows = Object.entries(read).map(([k, v]) => [k, formatValue(v.value), v.unit, v.status ? `${v.quality} (${v.status})` : v.quality]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), 5));
  process.stdout.write(`${id} (${where}), ${new Date(tsMs).toISOString()}\n`);
  for (const r of rows) process.stdout.write(`  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]}\n`);
}

export const readCommand: Command = {
  name: 'read',
  summary: 'read every point of one device (Modbus or OPC UA) once',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(argv, DEVICE_QUERY_OPTIONS);
    const file = requireString(values.config, '--config');
    const id = requireString(values.device, '--device');
    const { config, catalogue, warnings } = loadGatewayConfig(file);
    printWarnings(warnings);
    const entry = config.devices.find((d) => d.id === id);
    if (!entry) throw new UsageError(`no device "${id}" in ${file} (devices: ${config.devices.map((d) => d.id).join(', ') || 'none'})`);
    const busConfig = config.buses.find((b) => b.id === entry.bus);
    if (!busConfig) throw new UsageError(`device "${id}" is on unknown bus "${entry.bus}"`);
    // Warnings (connection trouble) go to stderr, so --json output stays parseable.
    const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr });
    if (busConfig.type === 'opcua') {
      const tsMs = Date.now();
      const read = await readOpcuaDevice(config, catalogue, busConfig, entry, log, file);
      if (read.problem) {
        process.stderr.write(`energy-gateway read: ${id} (on ${busConfig.id}, ${busConfig.endpoint}): ${read.problem}\n`);
        return EXIT_FAILURE;
      }
      for (const point of read.missing) process.stderr.write(`energy-gateway read: ${id}: no value for ${point} in time\n`);
      print(id, `on ${busConfig.id} (${busConfig.endpoint})`, tsMs, read.values, values.json === true);
      return read.missing.length > 0 ? EXIT_FAILURE : EXIT_OK;
    }
    const device = resolveModbusDevices({ ...config, devices: [{ ...entry, enabled: true }] }, catalogue).byBus.get(busConfig.id)?.[0];
    if (!device) throw new UsageError(`device "${id}" has nothing to read`);

    const bus = new ModbusBus(busConfig as ModbusBusConfig, log);
    const tsMs = Date.now();
    const refusal: Refusal = { error: null };
    try {
      const attempt = () => readDevice(bus, device, device.classes, device.retries, refusal);
      // A first read that got no answer with nothing heard is asked once more, as the
      // gateway's next poll would ask it: a meter that ignores long reads answers that one.
      const read = await attempt().catch((err: unknown) => {
        if (probesNext(device)) return attempt();
        throw err;
      });
      const where = `${id} (unit ${device.unitId} on ${busConfig.id})`;
      // Commissioning wants to know: each such block costs requests beyond the plan.
      for (const block of refusal.split ?? []) process.stderr.write(`energy-gateway read: ${where}: refused ${block}: a hole in its map, or more registers than it answers at once; max_gap: 0 or a lower max_registers on the device plans smaller requests\n`);
      for (const block of refusal.shortened ?? []) process.stderr.write(`energy-gateway read: ${where}: no answer to ${block}: it ignores reads longer than it serves; a lower max_registers on the device plans shorter ones\n`);
      // A block the device refused is published bad by the gateway; here it fails the read
      // (exit 1), with what could be read still printed unless nothing could.
      if (refusal.error !== null && Object.values(read).every((v) => v.quality === 'bad')) {
        process.stderr.write(`energy-gateway read: ${where}: ${refusal.error.message}\n`);
        return EXIT_FAILURE;
      }
      // What was sent, retries and smaller requests after a refusal included, against the plan.
      const planned = requestCount(device.classes);
      const sent = bus.stats.requests === planned ? `${planned} requests` : `${bus.stats.requests} requests (${planned} planned)`;
      print(id, `unit ${device.unitId} on ${busConfig.id}, ${sent}`, tsMs, read, values.json === true);
      // A profile built partly from transcriptions says which points; the display settles them.
      // Ratio registers are read for the others' primary-side values and not printed themselves.
      for (const p of device.source.points) {
        if (p.unverified === undefined) continue;
        const what = p.internal ? `${p.id} (read for the primary-side values)` : p.id;
        process.stderr.write(`energy-gateway read: ${where}: ${what} is not confirmed by the manufacturer's manual (${p.unverified}): compare ${p.internal ? 'the values that use it' : 'its value'} with the meter's display\n`);
      }
      if (refusal.error !== null) {
        const refused = Object.entries(read).filter(([, v]) => v.status !== undefined).map(([k]) => k);
        process.stderr.write(`energy-gateway read: ${where}: ${refusal.error.message}; no value for ${refused.join(', ')}\n`);
        return EXIT_FAILURE;
      }
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      process.stderr.write(`energy-gateway read: ${id} (unit ${device.unitId} on ${busConfig.id}): ${err.message}\n`);
      return EXIT_FAILURE;
    } finally {
      await bus.close();
    }
  },
};

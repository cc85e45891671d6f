// `energy-gateway read`: one poll of one device, printed — the first thing to run when a
// meter is wired up. Uses the same bus, plan, codec and ratio handling as the gateway.
import type { ModbusBusConfig } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import { ModbusBus } from '../protocols/modbus/bus.js';
import { resolveModbusDevices } from '../protocols/modbus/device.js';
import { TransportError } from '../protocols/modbus/errors.js';
import { readDevice, requestCount } from '../protocols/modbus/poll.js';
import { DEVICE_QUERY_OPTIONS, parseCommandArgs, requireString } from './args.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from './command.js';
import { loadGatewayConfig } from './load-config.js';

const USAGE = `energy-gateway read --config FILE --device ID [--json]

Reads every point of one Modbus device once, with the bus settings, read plan, timeouts
and CT/PT ratios of FILE, and prints the values on the primary side in canonical units.
  --json   print { "device": ID, "ts": <ms>, "values": { "<point>": { "value": n,
           "unit": "...", "quality": "good" } } }
Exit codes: 0 read, 1 the device did not answer (timeout, exception, no connection),
2 bad config or usage.`;

function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(9)));
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export const readCommand: Command = {
  name: 'read',
  summary: 'read every point of one Modbus device once',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(argv, DEVICE_QUERY_OPTIONS);
    const file = requireString(values.config, '--config');
    const id = requireString(values.device, '--device');
    const { config, catalogue } = loadGatewayConfig(file);
    const entry = config.devices.find((d) => d.id === id);
    if (!entry) throw new UsageError(`no device "${id}" in ${file} (devices: ${config.devices.map((d) => d.id).join(', ') || 'none'})`);
    const busConfig = config.buses.find((b) => b.id === entry.bus);
    if (!busConfig || busConfig.type === 'opcua') throw new UsageError(`device "${id}" is not on a Modbus bus (use browse for OPC UA)`);
    const device = resolveModbusDevices({ ...config, devices: [{ ...entry, enabled: true }] }, catalogue).byBus.get(busConfig.id)?.[0];
    if (!device) throw new UsageError(`device "${id}" has nothing to read`);

    // Warnings (connection trouble) go to stderr, so --json output stays parseable.
    const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr });
    const bus = new ModbusBus(busConfig as ModbusBusConfig, log);
    const tsMs = Date.now();
    try {
      const read = await readDevice(bus, device, device.classes);
      if (values.json) {
        const out = { device: id, ts: tsMs, values: Object.fromEntries(Object.entries(read).map(([k, v]) => [k, { value: v.value, unit: v.unit, quality: v.quality }])) };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      } else {
        const rows = Object.entries(read).map(([k, v]) => [k, formatValue(v.value), v.unit, v.quality]);
        const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), 5));
        process.stdout.write(`${id} (unit ${device.unitId} on ${busConfig.id}), ${requestCount(device.classes)} requests, ${new Date(tsMs).toISOString()}\n`);
        for (const r of rows) process.stdout.write(`  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]}\n`);
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

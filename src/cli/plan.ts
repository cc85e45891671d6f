// `energy-gateway plan`: the requests the gateway will send, per bus and device, and whether
// each bus can fit them in its poll interval — before anything is wired up.
import type { ModbusBusConfig } from '../config/schema.js';
import type { ReadRequest } from '../profiles/planner.js';
import { charTimeMs } from '../protocols/modbus/bus.js';
import { DEFAULT_SERVER_BAUD, estimateBus, requestMs, type BusEstimate } from '../protocols/modbus/cycle.js';
import { resolveModbusDevices, type ModbusDevice } from '../protocols/modbus/device.js';
import { DEVICE_QUERY_OPTIONS, parseCommandArgs, requireString } from './args.js';
import { EXIT_OK, UsageError, type Command } from './command.js';
import { loadGatewayConfig, printWarnings } from './load-config.js';
import { manualRange } from './register-number.js';

const USAGE = `energy-gateway plan --config FILE [--device ID] [--json]

Prints the Modbus requests the gateway will send — per bus, per device and poll class,
with the points each request covers — and the expected cycle time: frame times at the
bus's baud rate for RTU, a typical 10 ms per request for Modbus TCP, and the longer of
the inter-frame delay and a device's pause_between_requests before each request. A bus
with a tick that cannot be done before the next one is flagged: its busiest tick against
its shortest interval, or, with intervals that do not divide each other (2 s and 3 s),
a tick with one of another interval soon after it.
  --device ID   only this device (and its bus's totals)
  --json        machine-readable output`;

const FC: Record<ReadRequest['function'], number> = { coil: 1, discrete: 2, holding: 3, input: 4 };

function hex(n: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;
}

function describeBus(b: ModbusBusConfig): string {
  if (b.type === 'modbus_rtu') return `modbus_rtu ${b.path} ${b.baud_rate} ${b.data_bits}${b.parity[0]!.toUpperCase()}${b.stop_bits}`;
  return `${b.type} ${b.host}:${b.port}`;
}

function ms(n: number): string {
  return n >= 100 ? `${Math.round(n)} ms` : `${n.toFixed(1)} ms`;
}

/** The intervals of a bus whose ticks fall on `atMs` (ms into the cycle of all its intervals), as "2 s, 4 s". */
function intervalsAt(devices: readonly ModbusDevice[], atMs: number): string {
  const intervals = [...new Set(devices.flatMap((d) => d.classes.map((c) => c.intervalMs)))].sort((x, y) => x - y);
  return intervals.filter((i) => atMs % i === 0).map((i) => `${i / 1000} s`).join(', ');
}

function requestLine(bus: ModbusBusConfig, r: ReadRequest): string {
  const [first, last] = manualRange(r.function, r.address, r.count);
  const ids = r.points.map((p) => p.id);
  const shown = ids.length > 6 ? `${ids.slice(0, 6).join(', ')}, … (${ids.length} points)` : ids.join(', ');
  return `fc${FC[r.function]} ${r.function.padEnd(8)} ${hex(r.address)} +${String(r.count).padEnd(3)} (${first}…${last})  ${ms(requestMs(bus, r))}  ${shown}`;
}

function deviceJson(bus: ModbusBusConfig, d: ModbusDevice) {
  return {
    device: d.id, unit_id: d.unitId, model: d.model, timeout_ms: d.timeoutMs,
    classes: d.classes.map((c) => ({
      interval_ms: c.intervalMs,
      requests: c.requests.map((r) => ({
        function: r.function, address: r.address, count: r.count, points: r.points.map((p) => p.id), estimated_ms: requestMs(bus, r),
      })),
    })),
  };
}

function busJson(e: BusEstimate) {
  return {
    worst_tick_requests: e.worstTickRequests, worst_tick_ms: e.worstTickMs, fastest_interval_ms: e.fastestIntervalMs,
    utilisation: e.utilisation, fits: e.fits,
    tightest_tick: e.tightest && { offset_ms: e.tightest.offsetMs, need_ms: e.tightest.needMs, gap_ms: e.tightest.gapMs },
  };
}

export const planCommand: Command = {
  name: 'plan',
  summary: 'show the planned Modbus requests per bus and the expected cycle time',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(argv, DEVICE_QUERY_OPTIONS);
    const file = requireString(values.config, '--config');
    const { config, catalogue, warnings } = loadGatewayConfig(file);
    printWarnings(warnings);
    const { byBus } = resolveModbusDevices(config, catalogue);
    if (values.device !== undefined && ![...byBus.values()].flat().some((d) => d.id === values.device)) {
      throw new UsageError(`no enabled Modbus device "${values.device}" in ${file}`);
    }
    const buses = config.buses.filter((b): b is ModbusBusConfig => b.type !== 'opcua' && byBus.has(b.id))
      .filter((b) => values.device === undefined || byBus.get(b.id)!.some((d) => d.id === values.device));

    if (values.json) {
      const out = buses.map((b) => {
        const devices = byBus.get(b.id)!;
        return {
          bus: b.id, type: b.type, ...busJson(estimateBus(b, devices)),
          devices: devices.filter((d) => values.device === undefined || d.id === values.device).map((d) => deviceJson(b, d)),
        };
      });
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return EXIT_OK;
    }

    const out: string[] = [];
    for (const b of buses) {
      const devices = byBus.get(b.id)!;
      const e = estimateBus(b, devices);
      out.push(`bus ${b.id}: ${describeBus(b)}, ${devices.length} device(s)`);
      for (const d of devices) {
        if (values.device !== undefined && d.id !== values.device) continue;
        const n = d.classes.reduce((s, c) => s + c.requests.length, 0);
        out.push(`  ${d.id} (unit ${d.unitId}, ${d.model ?? 'inline points'}): ${n} request(s) per full poll`);
        for (const c of d.classes) {
          out.push(`    every ${c.intervalMs / 1000} s: ${c.points.length} point(s), ${c.requests.length} request(s)`);
          for (const r of c.requests) {
            out.push(`      ${requestLine(b, r)}`);
            // The bus adds a request's time on the line to the timeout when it knows the line's
            // speed. Behind a device server whose baud_rate is not given it cannot, and a large
            // read on a slow line would outlast the timeout every time.
            const wire = requestMs(b, r);
            if (b.type === 'modbus_rtu_over_tcp' && charTimeMs(b) === 0 && wire >= d.timeoutMs) {
              out.push(`      WARNING: this request takes about ${ms(wire)} on the serial line at ${DEFAULT_SERVER_BAUD} baud (assumed), longer than ${d.id}'s timeout of ${d.timeoutMs} ms — set the bus's baud_rate (the time on the line is then added to the timeout) or raise timeout`);
            }
          }
        }
      }
      out.push(`  cycle: ${e.worstTickRequests} request(s), about ${ms(e.worstTickMs)} when every poll class is due; `
        + `shortest interval ${e.fastestIntervalMs / 1000} s; bus busy ${Math.round(e.utilisation * 100)} % of the time`);
      if (!e.fits && e.worstTickMs > e.fastestIntervalMs) {
        out.push(`  WARNING: bus ${b.id} cannot fit its cycle in ${e.fastestIntervalMs / 1000} s — lengthen poll_interval, move counters to counter_interval, raise the baud rate or split the bus`);
      } else if (e.tightest) {
        // Intervals that do not divide each other put some ticks closer together than the shortest one.
        const t = e.tightest;
        out.push(`  WARNING: bus ${b.id} cannot fit every tick: a tick of the ${intervalsAt(devices, t.offsetMs)} poll class(es) needs about ${ms(t.needMs)}, `
          + `and one of the ${intervalsAt(devices, t.offsetMs + t.gapMs)} class(es) comes ${t.gapMs / 1000} s after it (poll intervals that do not divide each other) — `
          + 'make the intervals multiples of one another, or split the bus');
      }
    }
    if (buses.length === 0) out.push('no Modbus devices to plan');
    process.stdout.write(`${out.join('\n')}\n`);
    return EXIT_OK;
  },
};

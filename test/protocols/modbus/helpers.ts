import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { BusConfig, type ModbusBusConfig } from '../../../src/config/schema.js';
import { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { ServerTCP, type IServiceVector } from '../../../src/protocols/modbus/lib.js';
import { resolveModbusDevices, type ModbusDevice } from '../../../src/protocols/modbus/device.js';
import { parseConfigText } from '../../../src/config/loader.js';
import { silentLogger } from '../../../src/log/logger.js';
import { loadCatalogueSync } from '../../../src/profiles/catalogue.js';
import { spawnCli } from '../../support/cli.js';
import { freePort } from '../../support/servers.js';

export const catalogue = loadCatalogueSync();

export function busConfig(raw: Record<string, unknown>): ModbusBusConfig {
  return BusConfig.parse({ id: 'test-bus', ...raw }) as ModbusBusConfig;
}

export function makeBus(raw: Record<string, unknown>, log: Logger = silentLogger()): ModbusBus {
  return new ModbusBus(busConfig(raw), log);
}

/** A logger whose lines the test can read back. */
export function capturingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

export async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Reads until an answer comes or `withinMs` has passed, pausing `pauseMs` after each failure:
 * how a test waits for a bus to recover (reconnect, backoff). The answer, or null.
 */
export async function firstAnswer<T>(read: () => Promise<T>, withinMs: number, pauseMs: number): Promise<T | null> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const r = await settle(read());
    if (r.ok) return r.value;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  return null;
}

/** Runs the CLI from source as a child without blocking this process (an in-process simulator must keep answering). */
export function runCliAsync(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`energy-gateway ${args.join(' ')} did not finish in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Runs a command in this process and returns what it wrote to stdout. */
export async function captureStdout(fn: () => Promise<number>): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await fn();
    return { code, stdout };
  } finally {
    process.stdout.write = original;
  }
}

/** A modbus-serial ServerTCP serving `vector` as unit 1 on a free port, once it listens. */
export async function startServerTcp(vector: IServiceVector): Promise<{ port: number; close(): Promise<void> }> {
  const port = await freePort();
  const server = new ServerTCP(vector, { host: '127.0.0.1', port, unitID: 1 });
  await new Promise<void>((resolve, reject) => {
    server.on('initialized', () => resolve());
    server.on('serverError', reject);
  });
  return { port, close: () => new Promise<void>((resolve) => { server.close(() => resolve()); }) };
}

/**
 * Device `m`, unit 1 on a Modbus TCP bus, made of inline points (YAML list lines indented for
 * `points:`) and optional device keys (`{ max_gap: 20 }`); throws on any config problem.
 */
/** A device of a catalogue driver, alone on a TCP bus, with these keys besides. */
export function driverDevice(driver: string, keys: Record<string, number | string> = {}): ModbusDevice {
  const extra = Object.entries(keys).map(([k, v]) => `, ${k}: ${v}`).join('');
  const config = parseConfigText(`version: 1
gateway: { id: gw, site: s }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1 }]
devices: [{ id: m, driver: ${driver}, bus: panel, unit_id: 1${extra} }]
`, 'driver.yaml');
  const { byBus, problems } = resolveModbusDevices(config, catalogue);
  if (problems.length > 0) throw new Error(problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('\n'));
  return byBus.get('panel')![0]!;
}

export function inlineDevice(points: string, keys: Record<string, number | string> = {}): ModbusDevice {
  const extra = Object.entries(keys).map(([k, v]) => `    ${k}: ${v}\n`).join('');
  const config = parseConfigText(`version: 1
gateway: { id: gw, site: s }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1 }]
devices:
  - id: m
    bus: panel
    unit_id: 1
${extra}    points:
${points}
`, 'test.yaml');
  const { byBus, problems } = resolveModbusDevices(config, catalogue);
  if (problems.length > 0) throw new Error(problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('\n'));
  return byBus.get('panel')![0]!;
}

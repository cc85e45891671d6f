import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { BusConfig, type ModbusBusConfig } from '../../../src/config/schema.js';
import { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { silentLogger } from '../../../src/log/logger.js';
import { loadCatalogueSync } from '../../../src/profiles/catalogue.js';

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

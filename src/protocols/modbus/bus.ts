import type { Logger } from 'pino';
import type { ModbusBusConfig } from '../../config/schema.js';
import type { ModbusFunction } from '../../profiles/schema.js';
import { classifyModbusError, TransportError } from './errors.js';
import { createModbusClient, type ModbusClient } from './lib.js';

export interface BusStats {
  requests: number;
  failures: number;
  reconnects: number;
}

/**
 * One physical bus — a serial port or a TCP host:port — shared by every unit id behind
 * it. Requests run strictly one at a time, with the configured silence between frames,
 * because RS-485 and most serial device servers cannot interleave transactions.
 */
export class ModbusBus {
  readonly stats: BusStats = { requests: 0, failures: 0, reconnects: 0 };
  private client: ModbusClient | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private connecting: Promise<ModbusClient> | null = null;
  private nextConnectAtMs = 0;
  private backoffMs = 0;
  private lastFrameEndMs = 0;
  private closed = false;

  constructor(readonly config: ModbusBusConfig, private readonly log: Logger) {}

  get id(): string {
    return this.config.id;
  }

  /** Reads registers or bits from one unit; serialized with every other request on this bus. */
  read(unitId: number, fn: ModbusFunction, address: number, count: number, timeoutMs: number): Promise<number[] | boolean[]> {
    const job = this.queue.then(() => this.readNow(unitId, fn, address, count, timeoutMs));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private async readNow(unitId: number, fn: ModbusFunction, address: number, count: number, timeoutMs: number): Promise<number[] | boolean[]> {
    if (this.closed) throw new TransportError('bus closed', 'connection');
    const client = await this.connect();
    const gap = this.config.inter_frame_delay ?? 0;
    const wait = this.lastFrameEndMs + gap - Date.now();
    if (wait > 0) await sleep(wait);
    client.setID(unitId);
    client.setTimeout(timeoutMs);
    this.stats.requests += 1;
    try {
      switch (fn) {
        case 'holding': return (await client.readHoldingRegisters(address, count)).data;
        case 'input': return (await client.readInputRegisters(address, count)).data;
        case 'coil': return (await client.readCoils(address, count)).data.slice(0, count);
        case 'discrete': return (await client.readDiscreteInputs(address, count)).data.slice(0, count);
      }
    } catch (err) {
      this.stats.failures += 1;
      const te = classifyModbusError(err);
      if (te.kind === 'connection' || !client.isOpen) this.drop();
      throw te;
    } finally {
      this.lastFrameEndMs = Date.now();
    }
  }

  private connect(): Promise<ModbusClient> {
    if (this.client?.isOpen) return Promise.resolve(this.client);
    if (Date.now() < this.nextConnectAtMs) {
      return Promise.reject(new TransportError(`bus ${this.id} reconnect backoff`, 'connection'));
    }
    this.connecting ??= this.open().finally(() => { this.connecting = null; });
    return this.connecting;
  }

  private async open(): Promise<ModbusClient> {
    const cfg = this.config;
    const client = createModbusClient();
    try {
      if (cfg.type === 'modbus_tcp') {
        await client.connectTCP(cfg.host, { port: cfg.port, timeout: cfg.timeout });
      } else if (cfg.type === 'modbus_rtu_over_tcp') {
        await client.connectTcpRTUBuffered(cfg.host, { port: cfg.port });
      } else {
        await client.connectRTUBuffered(cfg.path, {
          baudRate: cfg.baud_rate, parity: cfg.parity, dataBits: cfg.data_bits, stopBits: cfg.stop_bits,
        });
      }
    } catch (err) {
      this.backoffMs = Math.min(cfg.reconnect_max, Math.max(500, this.backoffMs * 2));
      this.nextConnectAtMs = Date.now() + this.backoffMs;
      if (this.backoffMs <= 1000) this.log.warn({ err, bus: cfg.id }, 'modbus bus connect failed');
      try { client.close(() => undefined); } catch { /* already closed */ }
      throw new TransportError(`cannot connect bus ${cfg.id}: ${(err as Error).message}`, 'connection', undefined, { cause: err });
    }
    if (this.stats.reconnects > 0 || this.backoffMs > 0) this.log.info({ bus: cfg.id }, 'modbus bus connected');
    this.stats.reconnects += 1;
    this.backoffMs = 0;
    this.client = client;
    return client;
  }

  private drop(): void {
    const c = this.client;
    this.client = null;
    if (c) {
      try { c.close(() => undefined); } catch { /* already closed */ }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    this.drop();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

import { createServer, type Server, type Socket } from 'node:net';
import { crc16, withCrc } from '../protocols/modbus/frames.js';
import { createSerialLine, ServerTCP, type IServiceVector, type SerialLineOptions } from '../protocols/modbus/lib.js';
import { answerRead, type Answer, type AnswerContext, type Fault, type SentAnswer } from './modbus-answer.js';
import type { SimulatedMeter } from './modbus-meter.js';

export type { Fault } from './modbus-answer.js';

export interface SimServerHandle {
  /** TCP port (0 for a serial line). */
  port: number;
  meters: Map<number, SimulatedMeter>;
  /** Misbehaviour per unit id; set and delete at any time. */
  faults: Map<number, Fault>;
  /** Requests received per unit id. */
  requests: Map<number, number>;
  /** The latest answers with data, oldest first. */
  answers: SentAnswer[];
  /** Requests being answered at once: now, and the most ever. */
  inFlight: { now: number; max: number };
  /** Closes every client connection now (TCP). */
  dropConnections(): void;
  stop(): Promise<void>;
}

export interface SimServerOptions {
  host?: string;
  port?: number;
  now?: () => number;
}

/** The shared state behind one simulated port: meters by unit id, faults, request counters. */
export function answerContext(meters: SimulatedMeter[], now: () => number, absentUnit: AnswerContext['absentUnit']): AnswerContext {
  return {
    byUnit: new Map(meters.map((m) => [m.unitId, m])), faults: new Map(), now, absentUnit,
    requests: new Map(), answers: [], inFlight: { now: 0, max: 0 },
  };
}

function handle(ctx: AnswerContext, port: number, dropConnections: () => void, stop: () => Promise<void>): SimServerHandle {
  return {
    port, meters: ctx.byUnit as Map<number, SimulatedMeter>, faults: ctx.faults as Map<number, Fault>,
    requests: ctx.requests, answers: ctx.answers, inFlight: ctx.inFlight, dropConnections, stop,
  };
}

/** Serves several simulated meters, by unit id, on one Modbus TCP port (modbus-serial's ServerTCP). */
export async function startModbusTcpSimulator(meters: SimulatedMeter[], options: SimServerOptions = {}): Promise<SimServerHandle> {
  const ctx = answerContext(meters, options.now ?? Date.now, 'exception');
  const host = options.host ?? '127.0.0.1';
  // ServerTCP takes port 0 for "502", so a free port is picked here.
  const port = options.port || (await freePort(host));
  const server = new ServerTCP(buildVector(ctx), { host, port, unitID: 255 });
  const internals = server as unknown as { _server: Server; socks: Map<Socket, unknown> };
  const dropConnections = () => { for (const s of internals.socks.keys()) s.destroy(); };
  ctx.onDisconnect = dropConnections;
  const actualPort = await new Promise<number>((resolve, reject) => {
    server.on('initialized', () => {
      const addr = internals._server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
    server.on('serverError', reject);
  });
  // A client that goes away mid-request is normal for a simulator; never crash on it.
  server.on('socketError', () => undefined);
  server.on('error', () => undefined);
  return handle(ctx, actualPort, dropConnections, () => new Promise<void>((resolve) => {
    dropConnections();
    server.close(() => resolve());
  }));
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const addr = probe.address();
      probe.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** modbus-serial's callback-style service vector: a silent unit simply never calls back. */
export function buildVector(ctx: AnswerContext): IServiceVector {
  const serve = (fc: number, addr: number, len: number, unit: number, cb: (err: unknown, values?: Array<number | boolean>) => void) => {
    answerRead(ctx, unit, fc, addr, len).then((a) => {
      if (a === null) return;
      // The empty array matters: modbus-serial's input-register path indexes `values` even
      // on error, and would otherwise answer exception 4 instead of ours.
      if ('exception' in a) cb({ modbusErrorCode: a.exception, msg: 'simulated exception' }, []);
      else cb(null, a.data);
    }, (err: unknown) => cb(err));
  };
  const single = (fc: number) => (addr: number, unit: number, cb: (err: unknown, value?: number | boolean) => void) =>
    serve(fc, addr, 1, unit, (err, values) => cb(err, values?.[0]));
  const multiple = (fc: number) => (addr: number, len: number, unit: number, cb: (err: unknown, values?: Array<number | boolean>) => void) =>
    serve(fc, addr, len, unit, cb);
  return {
    getCoil: single(1),
    getDiscreteInput: single(2),
    getHoldingRegister: single(3),
    getInputRegister: single(4),
    getMultipleHoldingRegisters: multiple(3),
    getMultipleInputRegisters: multiple(4),
  } as unknown as IServiceVector;
}

/**
 * The same simulated meters on Modbus TCP with our own MBAP framing instead of modbus-serial's
 * ServerTCP, which spends a timer and a callback per register on every request. For load
 * tests, where the simulators share the machine with the gateway under test. Requests on one
 * connection are answered in order.
 */
export async function startFastModbusTcpSimulator(meters: SimulatedMeter[], options: SimServerOptions = {}): Promise<SimServerHandle> {
  const ctx = answerContext(meters, options.now ?? Date.now, 'exception');
  return serveTcp(ctx, options, (socket) => {
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let chain: Promise<void> = Promise.resolve();
    socket.on('data', (data: Buffer) => {
      buf = buf.length === 0 ? data : Buffer.concat([buf, data]);
      while (buf.length >= 12) {
        const length = buf.readUInt16BE(4);
        if (buf.length < 6 + length) break;
        const tid = buf.readUInt16BE(0);
        const unit = buf[6]!;
        const fc = buf[7]!;
        const address = buf.readUInt16BE(8);
        const count = buf.readUInt16BE(10);
        buf = buf.subarray(6 + length);
        chain = chain.then(async () => {
          const frame = rtuAnswerFrame(unit, fc, await answerRead(ctx, unit, fc, address, count));
          if (!frame || socket.destroyed) return;
          const out = Buffer.allocUnsafe(6 + frame.length - 2);
          out.writeUInt16BE(tid, 0);
          out.writeUInt16BE(0, 2);
          out.writeUInt16BE(frame.length - 2, 4);
          frame.copy(out, 6, 0, frame.length - 2);
          socket.write(out);
        }).catch(() => undefined);
      }
    });
  });
}

/** An RTU answer frame (CRC included) for a request, or null for silence. */
export function rtuAnswerFrame(unit: number, fc: number, answer: Answer): Buffer | null {
  if (answer === null) return null;
  if ('exception' in answer) return withCrc(Buffer.from([unit, fc | 0x80, answer.exception]));
  const bits = fc === 1 || fc === 2;
  const dataBytes = bits ? Math.ceil(answer.data.length / 8) : answer.data.length * 2;
  const pdu = Buffer.alloc(3 + dataBytes);
  pdu[0] = unit;
  pdu[1] = fc;
  pdu[2] = dataBytes;
  answer.data.forEach((w, i) => {
    if (bits) {
      if (w) pdu[3 + (i >> 3)]! |= 1 << (i & 7);
    } else {
      pdu.writeUInt16BE(Number(w) & 0xffff, 3 + i * 2);
    }
  });
  return withCrc(pdu);
}

/**
 * Finds read requests (fc 1–4: unit, fc, address, count, CRC = 8 bytes) in bytes from an RTU
 * line; anything that is not a valid request is skipped byte by byte, as a real device does.
 */
export class RtuRequestReader {
  private buf: Buffer = Buffer.alloc(0);

  push(data: Buffer): Array<{ unit: number; fc: number; address: number; count: number }> {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    const out: Array<{ unit: number; fc: number; address: number; count: number }> = [];
    let i = 0;
    while (this.buf.length - i >= 8) {
      const fc = this.buf[i + 1]!;
      const crc = this.buf[i + 6]! | (this.buf[i + 7]! << 8);
      if (fc >= 1 && fc <= 4 && crc === crc16(this.buf, i, i + 6)) {
        out.push({ unit: this.buf[i]!, fc, address: this.buf.readUInt16BE(i + 2), count: this.buf.readUInt16BE(i + 4) });
        i += 8;
      } else {
        i += 1;
      }
    }
    this.buf = this.buf.subarray(i);
    return out;
  }
}

function noise(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Math.floor(Math.random() * 256);
  return out;
}

/** Answers RTU requests on one byte stream, one at a time like a half-duplex line. */
function serveRtuStream(ctx: AnswerContext, onData: (cb: (d: Buffer) => void) => void, write: (b: Buffer) => void): void {
  const reader = new RtuRequestReader();
  let chain: Promise<void> = Promise.resolve();
  onData((data) => {
    for (const r of reader.push(data)) {
      // Unit 0 is broadcast: nobody answers it.
      if (r.unit === 0) continue;
      chain = chain.then(async () => {
        const frame = rtuAnswerFrame(r.unit, r.fc, await answerRead(ctx, r.unit, r.fc, r.address, r.count));
        const fault = ctx.faults.get(r.unit);
        if (frame && fault?.kind === 'noise') write(Buffer.concat([noise(fault.bytes), frame]));
        else if (frame) write(frame);
      }).catch(() => undefined);
    }
  });
}

/**
 * Simulated meters behind a serial device server (串口服务器): RTU frames over TCP. Units
 * that do not exist stay silent, as on the RS-485 side of a real one.
 */
export async function startModbusRtuOverTcpSimulator(meters: SimulatedMeter[], options: SimServerOptions = {}): Promise<SimServerHandle> {
  const ctx = answerContext(meters, options.now ?? Date.now, 'silent');
  return serveTcp(ctx, options, (socket) => {
    serveRtuStream(ctx, (cb) => socket.on('data', cb), (b) => { if (!socket.destroyed) socket.write(b); });
  });
}

/**
 * Listens on TCP and hands each connection to `serve`; the handle's disconnect (a meter
 * reset in tests) and stop drop every open connection.
 */
async function serveTcp(ctx: AnswerContext, options: SimServerOptions, serve: (socket: Socket) => void): Promise<SimServerHandle> {
  const sockets = new Set<Socket>();
  const dropConnections = () => { for (const s of sockets) s.destroy(); };
  ctx.onDisconnect = dropConnections;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    serve(socket);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : 0);
    });
  });
  return handle(ctx, port, dropConnections, () => new Promise<void>((resolve) => {
    dropConnections();
    server.close(() => resolve());
  }));
}

/** Simulated meters on an RS-485 line: a serial port (a pty in tests) speaking Modbus RTU. */
export async function startModbusRtuSimulator(meters: SimulatedMeter[], line: SerialLineOptions, options: { now?: () => number } = {}): Promise<SimServerHandle> {
  const ctx = answerContext(meters, options.now ?? Date.now, 'silent');
  const serial = createSerialLine(line);
  serial.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => serial.open((err) => (err ? reject(err) : resolve())));
  serveRtuStream(ctx, (cb) => serial.on('data', cb), (b) => { if (serial.isOpen) serial.write(b); });
  return handle(ctx, 0, () => undefined, () => new Promise<void>((resolve) => {
    if (!serial.isOpen) {
      resolve();
      return;
    }
    serial.close(() => resolve());
  }));
}

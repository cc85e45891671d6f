// A raw TCP server that answers Modbus requests exactly as a test scripts it, byte by byte:
// Modbus TCP (MBAP, 12-byte read requests) or RTU frames over TCP (8-byte read requests).
import { createServer, type Server, type Socket } from 'node:net';
import { withCrc } from '../../../src/protocols/modbus/frames.js';

export type Framing = 'mbap' | 'rtu';

export interface ScriptedRequest {
  /** Transaction id (0 on RTU). */
  tid: number;
  unit: number;
  fc: number;
  address: number;
  count: number;
  /** Index of this request since the server started (every connection counts). */
  n: number;
}

export interface Reply {
  /** Frames the request carries, in MBAP or RTU form. */
  frame(pdu: Buffer, tid?: number): Buffer;
  /** The honest answer's PDU (unit, fc, byte count, words). */
  answerPdu(unit?: number, fc?: number, words?: number[]): Buffer;
  send(bytes: Buffer): void;
  socket: Socket;
}

export type Script = (req: ScriptedRequest, reply: Reply) => void;

/** Words that depend on unit, address and a per-request serial, so a stale answer is visible. */
export function truth(unit: number, address: number, count: number, serial = 0): number[] {
  return Array.from({ length: count }, (_, i) => (unit * 7919 + (address + i) * 31 + serial * 4099) & 0xffff);
}

export function registersPdu(unit: number, fc: number, words: number[]): Buffer {
  const pdu = Buffer.alloc(3 + words.length * 2);
  pdu[0] = unit;
  pdu[1] = fc;
  pdu[2] = words.length * 2;
  words.forEach((w, i) => pdu.writeUInt16BE(w, 3 + i * 2));
  return pdu;
}

export function frameFor(framing: Framing, pdu: Buffer, tid: number): Buffer {
  if (framing === 'rtu') return withCrc(pdu);
  const head = Buffer.alloc(6);
  head.writeUInt16BE(tid & 0xffff, 0);
  head.writeUInt16BE(pdu.length, 4);
  return Buffer.concat([head, pdu]);
}

export interface Scripted {
  port: number;
  requests: ScriptedRequest[];
  connections: number;
  sockets: Set<Socket>;
  /** Closes the listener and every connection. */
  stop(): Promise<void>;
}

export function startScripted(framing: Framing, script: Script, port = 0): Promise<Scripted> {
  const sockets = new Set<Socket>();
  const state: Scripted = {
    port, requests: [], connections: 0, sockets,
    stop: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
  const server: Server = createServer((socket) => {
    state.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const size = framing === 'mbap' ? 12 : 8;
      while (buf.length >= size) {
        const raw = buf.subarray(0, size);
        buf = buf.subarray(size);
        const off = framing === 'mbap' ? 6 : 0;
        const req: ScriptedRequest = {
          tid: framing === 'mbap' ? raw.readUInt16BE(0) : 0,
          unit: raw[off]!,
          fc: raw[off + 1]!,
          address: raw.readUInt16BE(off + 2),
          count: raw.readUInt16BE(off + 4),
          n: state.requests.length,
        };
        state.requests.push(req);
        script(req, {
          frame: (pdu, tid = req.tid) => frameFor(framing, pdu, tid),
          answerPdu: (unit = req.unit, fc = req.fc, words = truth(req.unit, req.address, req.count, req.n)) => registersPdu(unit, fc, words),
          send: (bytes) => { if (!socket.destroyed) socket.write(bytes); },
          socket,
        });
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      state.port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve(state);
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Every value type in every byte/word order, read end to end from a real Modbus TCP server
// (modbus-serial's ServerTCP) through the planner, the bus and the poll decoder. The wire
// words are written out by hand from the values' IEEE 754 / two's complement / BCD bit
// patterns, not produced by the gateway's own encoder, and requests are kept small so values
// sit right at request boundaries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { readDevice } from '../../../src/protocols/modbus/poll.js';
import { inlineDevice, makeBus, startServerTcp } from './helpers.js';

/** A value, its type, and its bytes most significant first (A B C D …). */
interface Case { type: string; bytes: number[]; value: number | null; quality: 'good' | 'invalid' }

const CASES: Case[] = [
  { type: 'int16', bytes: [0xff, 0xfe], value: -2, quality: 'good' },
  { type: 'uint16', bytes: [0xc3, 0x50], value: 50000, quality: 'good' },
  { type: 'int32', bytes: [0xf8, 0xa4, 0x32, 0xeb], value: -123456789, quality: 'good' },
  { type: 'uint32', bytes: [0xee, 0x6b, 0x28, 0x00], value: 4000000000, quality: 'good' },
  { type: 'float32', bytes: [0x47, 0xf1, 0x20, 0x00], value: 123456, quality: 'good' },
  { type: 'float32', bytes: [0xc0, 0x20, 0x00, 0x00], value: -2.5, quality: 'good' },
  // The smallest denormal, 2^-149: a number, not an error.
  { type: 'float32', bytes: [0x00, 0x00, 0x00, 0x01], value: 2 ** -149, quality: 'good' },
  { type: 'float32', bytes: [0x7f, 0xc0, 0x00, 0x00], value: null, quality: 'invalid' },   // NaN
  { type: 'float32', bytes: [0xff, 0x80, 0x00, 0x00], value: null, quality: 'invalid' },   // -∞
  { type: 'int64', bytes: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe], value: -2, quality: 'good' },
  // 2^53 + 2 is a double exactly; the next one up (2^53 + 1) is not.
  { type: 'uint64', bytes: [0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02], value: 2 ** 53 + 2, quality: 'good' },
  { type: 'float64', bytes: [0x40, 0x93, 0x4a, 0x00, 0x00, 0x00, 0x00, 0x00], value: 1234.5, quality: 'good' },
  { type: 'bcd32', bytes: [0x12, 0x34, 0x56, 0x78], value: 12345678, quality: 'good' },
  { type: 'bcd16', bytes: [0x12, 0x3a], value: null, quality: 'invalid' },               // nibble A is no digit
];

const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;

/** The registers a device sends for these bytes in this order (letters name bytes MSB first). */
function onWire(bytes: number[], order: (typeof ORDERS)[number]): number[] {
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  const ordered = order === 'CDAB' || order === 'DCBA' ? words.reverse() : words;
  return order === 'BADC' || order === 'DCBA' ? ordered.map((w) => ((w & 0xff) << 8) | (w >> 8)) : ordered;
}

const holding = new Map<number, number>();
const coils = new Set<number>();
const discretes = new Set<number>();
const requests: Array<[number, number]> = [];
let server: { port: number; close(): Promise<void> };
let bus: ModbusBus;

beforeAll(async () => {
  const reg = (a: number) => holding.get(a) ?? 0;
  server = await startServerTcp({
    getCoil: (addr: number) => coils.has(addr),
    getDiscreteInput: (addr: number) => discretes.has(addr),
    getHoldingRegister: (addr: number) => { requests.push([addr, 1]); return reg(addr); },
    getMultipleHoldingRegisters: (addr: number, len: number) => {
      requests.push([addr, len]);
      return Array.from({ length: len }, (_, i) => reg(addr + i));
    },
  });
  bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: server.port });
});

afterAll(async () => {
  await bus.close();
  await server.close();
});

describe('every type in every order, from a real server', () => {
  it.each(ORDERS)('order %s', async (order) => {
    holding.clear();
    requests.length = 0;
    // Points back to back from address 100, 7 registers per request at most: 64-bit values
    // start at odd offsets and end exactly where a request must end.
    const lines: string[] = [];
    let address = 100;
    CASES.forEach((c, i) => {
      onWire(c.bytes, order).forEach((w, k) => holding.set(address + k, w));
      lines.push(`      - { id: p${i}, address: ${address}, type: ${c.type}, order: ${order} }`);
      address += c.bytes.length / 2;
    });
    const d = inlineDevice(lines.join('\n'), { max_registers: 7 });
    const values = await readDevice(bus, d, d.classes);
    CASES.forEach((c, i) => {
      expect(values[`p${i}`], `${c.type} ${c.bytes.map((b) => b.toString(16)).join(' ')}`).toMatchObject({ value: c.value, quality: c.quality });
    });
    // Every register read once, no request over 7, none past the last point.
    expect(Math.max(...requests.map(([, n]) => n))).toBeLessThanOrEqual(7);
    expect(requests.reduce((n, [, len]) => n + len, 0)).toBe(address - 100);
  });
});

describe('coils, discrete inputs and bits, from a real server', () => {
  it('reads each at its own offset inside one request (FC 01 / 02 answers are padded to whole bytes)', async () => {
    holding.clear();
    coils.clear();
    discretes.clear();
    for (const a of [3, 13, 17]) coils.add(a);
    for (const a of [0, 9]) discretes.add(a);
    // 0x8005: bits 15, 2 and 0 set.
    holding.set(100, 0x8005);
    const d = inlineDevice(`      - { id: c3, address: 3, function: coil }
      - { id: c5, address: 5, function: coil }
      - { id: c13, address: 13, function: coil }
      - { id: c17, address: 17, function: coil }
      - { id: d0, address: 0, function: discrete }
      - { id: d8, address: 8, function: discrete }
      - { id: d9, address: 9, function: discrete }
      - { id: b0, address: 100, type: bit, bit: 0 }
      - { id: b1, address: 100, type: bit, bit: 1 }
      - { id: b2, address: 100, type: bit, bit: 2 }
      - { id: b15, address: 100, type: bit, bit: 15 }`, { max_gap: 20 });
    // One request per table: coils 3..17, discrete inputs 0..9, the bits' register once.
    expect(d.classes.flatMap((c) => c.requests).map((r) => [r.function, r.address, r.count]))
      .toEqual([['coil', 3, 15], ['discrete', 0, 10], ['holding', 100, 1]]);
    const values = await readDevice(bus, d, d.classes);
    const got = Object.fromEntries(Object.entries(values).map(([id, v]) => [id, v.value]));
    expect(got).toEqual({ c3: true, c5: false, c13: true, c17: true, d0: true, d8: false, d9: true, b0: true, b1: false, b2: true, b15: true });
  });
});

// The port against a link that reads every chunk into the same memory, as TcpLink does
// (net's `onread`): an answer split across reads must survive the next read overwriting
// the bytes it was first handed.
import { describe, expect, it } from 'vitest';
import { withCrc } from '../../../src/protocols/modbus/frames.js';
import type { ByteLink } from '../../../src/protocols/modbus/link.js';
import { GuardedPort, type Framing } from '../../../src/protocols/modbus/port.js';

class OneBufferLink implements ByteLink {
  readonly isOpen = true;
  readonly written: Buffer[] = [];
  private readonly memory = Buffer.alloc(512);
  private receiver: ((data: Buffer) => void) | null = null;

  open(): Promise<void> { return Promise.resolve(); }
  write(data: Buffer): void { this.written.push(Buffer.from(data)); }
  close(): Promise<void> { return Promise.resolve(); }
  onData(cb: (data: Buffer) => void): void { this.receiver = cb; }
  onClose(): void {}

  /** Delivers bytes as one read into the shared memory, then scribbles over it. */
  deliver(bytes: Buffer): void {
    bytes.copy(this.memory, 0);
    this.receiver?.(this.memory.subarray(0, bytes.length));
    this.memory.fill(0xee);
  }
}

function answer(framing: Framing, tid: number, unit: number, words: number[]): Buffer {
  const pdu = Buffer.alloc(3 + words.length * 2);
  pdu[0] = unit;
  pdu[1] = 3;
  pdu[2] = words.length * 2;
  words.forEach((w, i) => pdu.writeUInt16BE(w, 3 + i * 2));
  if (framing === 'rtu') return withCrc(pdu);
  const head = Buffer.alloc(6);
  head.writeUInt16BE(tid, 0);
  head.writeUInt16BE(pdu.length, 4);
  return Buffer.concat([head, pdu]);
}

describe.each(['mbap', 'rtu'] as const)('GuardedPort (%s) on a link that reuses its read buffer', (framing) => {
  it('puts together an answer that arrives in pieces', async () => {
    const link = new OneBufferLink();
    const port = new GuardedPort(link, framing);
    const words = Array.from({ length: 40 }, (_, i) => (i * 1031 + 7) & 0xffff);
    const reading = port.read(5, 3, 100, words.length, 1000);
    const tid = framing === 'mbap' ? link.written[0]!.readUInt16BE(0) : 0;
    const frame = answer(framing, tid, 5, words);
    // Cut inside the header, and inside the data.
    for (const [from, to] of [[0, 3], [3, 40], [40, frame.length]] as const) link.deliver(frame.subarray(from, to));
    await expect(reading).resolves.toEqual(words);
  });

  it('keeps the start of the next answer that came in the same read as the end of this one', async () => {
    if (framing === 'rtu') return; // RTU drops whatever arrives before a request is written
    const link = new OneBufferLink();
    const port = new GuardedPort(link, framing);
    const first = [1, 2, 3];
    const second = [4, 5, 6, 7];
    const r1 = port.read(1, 3, 0, first.length, 1000);
    const tid = link.written[0]!.readUInt16BE(0);
    const f1 = answer(framing, tid, 1, first);
    const f2 = answer(framing, (tid + 1) & 0xffff, 2, second);
    link.deliver(Buffer.concat([f1, f2.subarray(0, 9)]));
    await expect(r1).resolves.toEqual(first);
    const r2 = port.read(2, 3, 0, second.length, 1000);
    expect(link.written[1]!.readUInt16BE(0)).toBe((tid + 1) & 0xffff);
    link.deliver(f2.subarray(9));
    await expect(r2).resolves.toEqual(second);
  });
});

// The bus's request queue over an in-memory link: when a request is written, the order the
// waiting requests go out in, and what close() does with them. The link answers only when
// the test says so, so every step is observable.
import { describe, expect, it } from 'vitest';
import { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { withCrc } from '../../../src/protocols/modbus/frames.js';
import type { ByteLink } from '../../../src/protocols/modbus/link.js';
import { silentLogger } from '../../../src/log/logger.js';
import { busConfig, settle } from './helpers.js';

class MemoryLink implements ByteLink {
  isOpen = false;
  readonly written: Buffer[] = [];
  private data: (b: Buffer) => void = () => undefined;
  private closed: (err?: Error) => void = () => undefined;

  open(): Promise<void> {
    this.isOpen = true;
    return Promise.resolve();
  }

  write(data: Buffer): void {
    this.written.push(Buffer.from(data));
  }

  close(): Promise<void> {
    if (this.isOpen) {
      this.isOpen = false;
      this.closed();
    }
    return Promise.resolve();
  }

  onData(cb: (b: Buffer) => void): void {
    this.data = cb;
  }

  onClose(cb: (err?: Error) => void): void {
    this.closed = cb;
  }

  /** Answers the last request written with these register values. */
  answerLast(words: number[]): void {
    const req = this.written[this.written.length - 1]!;
    const out = Buffer.alloc(9 + 2 * words.length);
    req.copy(out, 0, 0, 4); // transaction and protocol id
    out.writeUInt16BE(3 + 2 * words.length, 4);
    out[6] = req[6]!; // unit
    out[7] = req[7]!; // function
    out[8] = 2 * words.length;
    words.forEach((w, i) => out.writeUInt16BE(w, 9 + 2 * i));
    this.data(out);
  }

  /** Answers the last RTU request written with these register values. */
  answerLastRtu(words: number[]): void {
    const req = this.written[this.written.length - 1]!;
    const pdu = Buffer.alloc(3 + 2 * words.length);
    pdu[0] = req[0]!; // unit
    pdu[1] = req[1]!; // function
    pdu[2] = 2 * words.length;
    words.forEach((w, i) => pdu.writeUInt16BE(w, 3 + 2 * i));
    this.data(withCrc(pdu));
  }
}

/** Unit and start address of a written Modbus TCP request. */
const asked = (frame: Buffer) => `${frame[6]}@${frame.readUInt16BE(8)}`;

const tick = () => new Promise((r) => setImmediate(r));

function busOnMemoryLink(config: Record<string, unknown> = { type: 'modbus_tcp', host: '127.0.0.1', port: 502 }): { bus: ModbusBus; link: MemoryLink } {
  const link = new MemoryLink();
  const bus = new ModbusBus(busConfig(config), silentLogger(), () => link);
  return { bus, link };
}

describe('bus request queue', () => {
  it('writes a request on an idle, connected bus before read() returns', async () => {
    const { bus, link } = busOnMemoryLink();
    const first = bus.read(1, 'input', 0, 2, { timeoutMs: 1000 });
    await tick();
    link.answerLast([1, 2]);
    expect(await first).toEqual([1, 2]);

    const second = bus.read(2, 'input', 10, 2, { timeoutMs: 1000 });
    // No await in between: the caller can work on something else while the device answers.
    expect(link.written.map(asked)).toEqual(['1@0', '2@10']);
    link.answerLast([3, 4]);
    expect(await second).toEqual([3, 4]);
    await bus.close();
  });

  it('sends waiting requests one at a time, in the order they were asked, each with its own answer', async () => {
    const { bus, link } = busOnMemoryLink();
    const reads = [1, 2, 3].map((u) => bus.read(u, 'input', u * 100, 1, { timeoutMs: 1000 }));
    for (const u of [1, 2, 3]) {
      await tick();
      expect(link.written.map(asked)).toEqual([1, 2, 3].slice(0, u).map((x) => `${x}@${x * 100}`));
      link.answerLast([u * 11]);
    }
    expect(await Promise.all(reads)).toEqual([[11], [22], [33]]);
    await bus.close();
  });

  it('close() lets the request on the bus finish and fails the ones still waiting', async () => {
    const { bus, link } = busOnMemoryLink();
    const onBus = settle(bus.read(1, 'input', 0, 1, { timeoutMs: 1000 }));
    const waiting = [settle(bus.read(2, 'input', 0, 1, { timeoutMs: 1000 })), settle(bus.read(3, 'input', 0, 1, { timeoutMs: 1000 }))];
    await tick();
    let closed = false;
    const closing = bus.close().then(() => { closed = true; });
    await tick();
    expect(closed).toBe(false);
    link.answerLast([7]);
    await closing;
    expect(await onBus).toEqual({ ok: true, value: [7] });
    for (const w of await Promise.all(waiting)) expect(w).toMatchObject({ ok: false, error: { kind: 'connection' } });
    // Only the first request ever reached the link.
    expect(link.written.map(asked)).toEqual(['1@0']);
  });

  it('gives a serial device its timeout on top of the time the frames take on the line', async () => {
    // 80 registers at 2400 baud, 8N1: request 8 bytes + answer 165 bytes = 1,730 bits ≈ 721 ms
    // on the wire, longer than the 300 ms timeout: an answer in its full length after 600 ms
    // (the device started at once) is on time.
    const { bus, link } = busOnMemoryLink({ type: 'modbus_rtu', path: '/dev/null', baud_rate: 2400 });
    const words = Array.from({ length: 80 }, (_, i) => i * 3);
    const read = settle(bus.read(1, 'input', 0, 80, { timeoutMs: 300 }));
    await new Promise((r) => setTimeout(r, 600));
    link.answerLastRtu(words);
    expect(await read).toEqual({ ok: true, value: words });
    // Past the timeout plus the wire time, the request has timed out.
    const t0 = performance.now();
    const silent = await settle(bus.read(1, 'input', 0, 80, { timeoutMs: 300 }));
    expect(silent).toMatchObject({ ok: false, error: { kind: 'timeout' } });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300 + 721 - 5);
    await bus.close();
  });
});

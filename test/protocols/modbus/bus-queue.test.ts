// The bus's request queue over an in-memory link: when a request is written, the order the
// waiting requests go out in, and what close() does with them. The link answers only when
// the test says so, so every step is observable.
import { describe, expect, it } from 'vitest';
import { ModbusBus } from '../../../src/protocols/modbus/bus.js';
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
}

/** Unit and start address of a written Modbus TCP request. */
const asked = (frame: Buffer) => `${frame[6]}@${frame.readUInt16BE(8)}`;

const tick = () => new Promise((r) => setImmediate(r));

function busOnMemoryLink(): { bus: ModbusBus; link: MemoryLink } {
  const link = new MemoryLink();
  const bus = new ModbusBus(busConfig({ type: 'modbus_tcp', host: '127.0.0.1', port: 502 }), silentLogger(), () => link);
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
});

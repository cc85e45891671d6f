// Faults on a real serial line: a socat pty pair stands in for the RS-485 cable, and the far
// end is scripted byte by byte (chunks with pauses, CRC errors, echoes, late and repeated
// answers), where rtu.test.ts runs well-behaved simulated meters.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { TransportError } from '../../../src/protocols/modbus/errors.js';
import { expectationFor, rtuReadRequest, scanRtu, withCrc } from '../../../src/protocols/modbus/frames.js';
import { createSerialLine, type SerialLine } from '../../../src/protocols/modbus/lib.js';
import { assertBinaries, findBinary, startPtyPair, systemTestAvailability, type PtyPair } from '../../support/servers.js';
import { firstAnswer, makeBus, settle } from './helpers.js';
import { registersPdu, sleep, truth, type ScriptedRequest } from './scripted.js';

const need = systemTestAvailability([{ name: 'socat', debian: 'socat' }]);

type LineScript = (req: ScriptedRequest, raw: Buffer, send: (bytes: Buffer) => void) => void;

// Without socat installed this skips, outside CI only, with a warning naming the
// Debian package; under CI=true the missing binary fails the test (assertBinaries).
describe.skipIf(need.skip)('faults on a serial line (socat pty pair)', () => {
  let pty: PtyPair;
  let line: SerialLine;
  let bus: ModbusBus;
  let script: LineScript = () => undefined;
  const requests: ScriptedRequest[] = [];

  beforeAll(async () => {
    assertBinaries(need.missing);
    pty = await startPtyPair();
    line = createSerialLine({ path: pty.a, baudRate: 9600 });
    line.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => line.open((err) => (err ? reject(err) : resolve())));
    let buf = Buffer.alloc(0);
    line.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8) {
        const raw = Buffer.from(buf.subarray(0, 8));
        buf = buf.subarray(8);
        const req: ScriptedRequest = {
          tid: 0, unit: raw[0]!, fc: raw[1]!, address: raw.readUInt16BE(2), count: raw.readUInt16BE(4), n: requests.length,
        };
        requests.push(req);
        script(req, raw, (bytes) => { line.write(bytes); });
      }
    });
    bus = makeBus({ type: 'modbus_rtu', path: pty.b, baud_rate: 9600 });
  });
  afterEach(() => { script = () => undefined; });
  afterAll(async () => {
    await bus?.close();
    if (line?.isOpen) await new Promise<void>((resolve) => line.close(() => resolve()));
    await pty?.stop();
  });

  const answer = (req: ScriptedRequest): Buffer => withCrc(registersPdu(req.unit, req.fc, truth(req.unit, req.address, req.count, req.n)));
  const sent = (n: number): number[] => {
    const r = requests[n]!;
    return truth(r.unit, r.address, r.count, r.n);
  };

  // At 9600 baud 3.5 characters are 4 ms: pauses below and well above the RTU silence. A
  // device server or a USB adapter hands a frame on in pieces; the CRC, not the timing,
  // says where the answer is.
  it.each([1, 10, 40])('puts together an answer that comes in three pieces %i ms apart', async (pauseMs) => {
    script = (req, _raw, send) => {
      const frame = answer(req);
      send(frame.subarray(0, 3));
      setTimeout(() => send(frame.subarray(3, 11)), pauseMs);
      setTimeout(() => send(frame.subarray(11)), 2 * pauseMs);
    };
    for (let i = 0; i < 3; i++) {
      const n = requests.length;
      expect(await bus.read(4, 'holding', 100 + i, 12, { timeoutMs: 1000 })).toEqual(sent(n));
    }
  });

  it('refuses an answer with a CRC error, and reads the next one', async () => {
    script = (req, _raw, send) => {
      const frame = answer(req);
      if (req.n % 2 === 0) frame[5]! ^= 0x01;
      send(frame);
    };
    const results = [];
    for (let i = 0; i < 4; i++) {
      const n = requests.length;
      const r = await settle(bus.read(1, 'holding', i, 2, { timeoutMs: 150 }));
      results.push(r.ok);
      if (r.ok) expect(r.value).toEqual(sent(n));
      else expect((r as { error: TransportError }).error).toMatchObject({ kind: 'timeout' });
    }
    expect(results.filter(Boolean).length).toBe(2);
  });

  // An RS-485 adapter without echo suppression hands the gateway its own request back
  // before the answer; a noisy line adds a few bytes of its own.
  it('finds the answer behind the echo of its own request and noise', async () => {
    script = (req, raw, send) => send(Buffer.concat([raw, Buffer.from([0x00, 0xff, req.unit]), answer(req)]));
    for (let i = 0; i < 5; i++) {
      const n = requests.length;
      expect(await bus.read(2, 'input', 0x400 + i, 2, { timeoutMs: 1000 })).toEqual(sent(n));
    }
  });

  it('refuses an answer of another shape: wrong byte count, fewer registers, another function', async () => {
    const wrong = [
      (req: ScriptedRequest) => withCrc(Buffer.concat([Buffer.from([req.unit, req.fc, req.count * 2 + 2]), Buffer.alloc(req.count * 2, 0)])),
      (req: ScriptedRequest) => withCrc(registersPdu(req.unit, req.fc, truth(req.unit, req.address, req.count - 1))),
      (req: ScriptedRequest) => withCrc(registersPdu(req.unit, req.fc === 3 ? 4 : 3, truth(req.unit, req.address, req.count))),
    ];
    for (const make of wrong) {
      script = (req, _raw, send) => send(make(req));
      const r = await settle(bus.read(3, 'holding', 0, 3, { timeoutMs: 150 }));
      expect(r.ok).toBe(false);
      expect((r as { error: unknown }).error).toBeInstanceOf(TransportError);
    }
    script = (req, _raw, send) => send(answer(req));
    const n = requests.length;
    expect(await bus.read(3, 'holding', 0, 3, { timeoutMs: 1000 })).toEqual(sent(n));
  });

  // A repeated answer on the line: the bus keeps a silence after an answer before its next
  // request (3.5 characters, 5 ms at 9600 baud, or the bus's inter_frame_delay), so a copy
  // sent right behind the answer arrives while no request is in flight and is dropped, even
  // when the next request has the same shape. Here the silence is 100 ms: socat relays the
  // copy from another process, and on a busy machine it was seen to take longer than 5 ms,
  // by which time the next request was out and the copy was a late answer of its shape —
  // which RTU cannot tell apart (README, Known limitations), and not the case tested here.
  it.each([0, 1])('an answer repeated %i ms behind itself answers only its own request', async (gapMs) => {
    script = (req, _raw, send) => {
      const frame = answer(req);
      send(frame);
      if (gapMs === 0) send(frame);
      else setTimeout(() => send(frame), gapMs);
    };
    await bus.close();
    const spaced = makeBus({ type: 'modbus_rtu', path: pty.b, baud_rate: 9600, inter_frame_delay: '100ms' });
    try {
      for (let i = 0; i < 6; i++) {
        const n = requests.length;
        // Every read answered, each with its own request's registers.
        expect(await spaced.read(5, 'holding', 20 * i, 2, { timeoutMs: 300 }), `read ${i}`).toEqual(sent(n));
      }
    } finally {
      await spaced.close();
      bus = makeBus({ type: 'modbus_rtu', path: pty.b, baud_rate: 9600 });
    }
  });

  // The late answer of a timed-out request comes while the next request, for another unit or
  // another count, waits for its own.
  it.each([
    { next: 'another unit', unit: 2, count: 2 },
    { next: 'the same unit, another count', unit: 1, count: 4 },
  ])('a late answer is not taken for the next request\'s ($next)', async (next) => {
    let first = -1;
    script = (req, _raw, send) => {
      if (first < 0) first = req.n;
      setTimeout(() => send(answer(req)), req.n === first ? 250 : 120);
    };
    const r = await settle(bus.read(1, 'holding', 0, 2, { timeoutMs: 150 }));
    expect((r as { error: TransportError }).error).toMatchObject({ kind: 'timeout' });
    const n = requests.length;
    expect(await bus.read(next.unit, 'holding', 8, next.count, { timeoutMs: 1000 })).toEqual(sent(n));
    await sleep(100);
  });

  it('a late exception (0x0B) is not taken for the unit\'s next read of another count', async () => {
    let first = -1;
    script = (req, _raw, send) => {
      if (first < 0) first = req.n;
      if (req.n === first) setTimeout(() => send(withCrc(Buffer.from([req.unit, req.fc | 0x80, 11]))), 250);
      else setTimeout(() => send(answer(req)), 120);
    };
    const r = await settle(bus.read(1, 'holding', 0, 2, { timeoutMs: 150 }));
    expect((r as { error: TransportError }).error).toMatchObject({ kind: 'timeout' });
    const next = await settle(bus.read(1, 'holding', 0, 5, { timeoutMs: 1000 }));
    expect(next.ok ? next.value : next.error).toEqual(sent(requests.length - 1));
  });
});

describe('the echo of an RTU request', () => {
  // The CRC register over a frame and its own CRC is 0, and 0x00 bytes keep it 0: an echoed
  // request with 0x00 bytes behind it (the line held low for a moment) is a well-formed answer
  // whenever the address high byte equals the byte count, whatever the count.
  it.each([
    { fc: 4, address: 0x0400, count: 2 },
    { fc: 3, address: 0x0613, count: 3 },
    { fc: 3, address: 0x10a0, count: 8 },
  ])('is never taken for the answer (fc $fc at $address, $count registers), and the answer behind it is', ({ fc, address, count }) => {
    const request = rtuReadRequest(7, fc, address, count);
    const e = expectationFor(request);
    const echoAndZeros = Buffer.concat([request, Buffer.alloc(5 + 2 * count - request.length)]);
    // Without the request to compare with, the bytes pass every check an answer must pass.
    expect(scanRtu(echoAndZeros, e).frame).toBeDefined();
    expect(scanRtu(echoAndZeros, e, request).frame).toBeUndefined();
    const words = truth(7, address, count);
    const real = withCrc(registersPdu(7, fc, words));
    const found = scanRtu(Buffer.concat([echoAndZeros, real]), e, request).frame;
    expect(found && [...found]).toEqual([...real]);
  });
});

/** A socat pty pair at fixed paths, so a test can take the line away and bring it back. */
async function ptyAt(a: string, b: string): Promise<{ stop(): Promise<void> }> {
  const child = spawn(findBinary('socat')!, [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(existsSync(a) && existsSync(b))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('socat did not make its ptys');
    await sleep(20);
  }
  return {
    stop: async () => {
      if (child.exitCode !== null || child.pid === undefined) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid, 'SIGTERM');
      await exited;
    },
  };
}

async function answeringLine(path: string): Promise<SerialLine> {
  const line = createSerialLine({ path, baudRate: 9600 });
  line.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => line.open((err) => (err ? reject(err) : resolve())));
  line.on('data', (d: Buffer) => {
    if (d.length < 8) return;
    line.write(withCrc(registersPdu(d[0]!, d[1]!, truth(d[0]!, d.readUInt16BE(2), d.readUInt16BE(4)))));
  });
  return line;
}

// Without socat installed this skips, outside CI only, with a warning naming the
// Debian package; under CI=true the missing binary fails the test (assertBinaries).
describe.skipIf(need.skip)('a serial line that goes away and comes back (USB adapter unplugged)', () => {
  it('fails reads while the line is gone, and reads again once it is back at the same path', async () => {
    assertBinaries(need.missing);
    const dir = mkdtempSync(join(tmpdir(), 'eg-unplug-'));
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    let pty = await ptyAt(a, b);
    let line = await answeringLine(a);
    const bus = makeBus({ type: 'modbus_rtu', path: b, baud_rate: 9600, reconnect_max: '1s' });
    try {
      expect(await bus.read(1, 'holding', 0, 2, { timeoutMs: 500 })).toEqual(truth(1, 0, 2));
      await pty.stop();
      const gone = await settle(bus.read(1, 'holding', 0, 2, { timeoutMs: 500 }));
      expect(gone.ok).toBe(false);
      expect((gone as { error: unknown }).error).toBeInstanceOf(TransportError);
      if (line.isOpen) await new Promise<void>((resolve) => line.close(() => resolve()));
      pty = await ptyAt(a, b);
      line = await answeringLine(a);
      const value = await firstAnswer(() => bus.read(1, 'holding', 4, 2, { timeoutMs: 500 }), 8_000, 100);
      expect(value).toEqual(truth(1, 4, 2));
    } finally {
      await bus.close();
      if (line.isOpen) await new Promise<void>((resolve) => line.close(() => resolve()));
      await pty.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});

// Faults real buses produce, against a raw TCP server scripted byte by byte: Modbus TCP and
// RTU frames over TCP (a serial device server in transparent mode). What garbage.test.ts
// throws at random is set up here deliberately, one fault at a time, with the timing that
// makes it dangerous (a late or repeated answer on the line while the next request waits).
import { afterEach, describe, expect, it } from 'vitest';
import type { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { TransportError } from '../../../src/protocols/modbus/errors.js';
import { firstAnswer, makeBus, settle } from './helpers.js';
import { registersPdu, sleep, startScripted, truth, type Framing, type Script, type Scripted } from './scripted.js';

const TRANSPORTS = [
  { framing: 'mbap' as Framing, type: 'modbus_tcp' },
  { framing: 'rtu' as Framing, type: 'modbus_rtu_over_tcp' },
];

describe.each(TRANSPORTS)('faults on $type', ({ framing, type }) => {
  let server: Scripted | null = null;
  let bus: ModbusBus | null = null;
  afterEach(async () => {
    await bus?.close();
    await server?.stop();
    bus = null;
    server = null;
  });

  async function setup(script: Script, extra: Record<string, unknown> = {}): Promise<{ server: Scripted; bus: ModbusBus }> {
    server = await startScripted(framing, script);
    bus = makeBus({ type, host: '127.0.0.1', port: server.port, reconnect_max: '1s', ...extra });
    return { server, bus };
  }

  /** The words the server sent for request n (the honest answer). */
  const sent = (s: Scripted, n: number): number[] => {
    const r = s.requests[n]!;
    return truth(r.unit, r.address, r.count, r.n);
  };

  // A reply that comes after its request timed out, while the next request waits for its own
  // (answered later still): the late reply must not complete the next request.
  it.each([
    { next: 'another unit', unit: 2, fn: 'holding', address: 0, count: 2 },
    { next: 'the same unit, another count', unit: 1, fn: 'holding', address: 0, count: 3 },
    { next: 'the same unit, another function', unit: 1, fn: 'input', address: 0, count: 2 },
    { next: 'the same unit and count, another address', unit: 1, fn: 'holding', address: 40, count: 2 },
  ] as const)('a late reply is not taken for the answer to the next request ($next)', async (next) => {
    const { server: s, bus: b } = await setup((req, reply) => {
      const frame = reply.frame(reply.answerPdu());
      // The first request is answered at 1.5 timeouts, the next one 80 ms after it is asked.
      setTimeout(() => reply.send(frame), req.n === 0 ? 150 : 80);
    });
    const first = await settle(b.read(1, 'holding', 0, 2, { timeoutMs: 100 }));
    expect((first as { error: TransportError }).error).toMatchObject({ kind: 'timeout' });
    const second = await b.read(next.unit, next.fn, next.address, next.count, { timeoutMs: 1000 });
    expect(s.requests).toHaveLength(2);
    expect(second).toEqual(sent(s, 1));
  });

  // The same with a late exception (a gateway's 0x0B after its own, longer serial timeout):
  // an exception frame carries no count or address, so it must not fail the next request
  // the same unit is asked.
  it.each([
    { next: 'another count', fn: 'holding', count: 3 },
    { next: 'another address', fn: 'holding', count: 2 },
  ] as const)('a late exception is not taken for the answer to the unit\'s next request ($next)', async (next) => {
    const { server: s, bus: b } = await setup((req, reply) => {
      if (req.n === 0) setTimeout(() => reply.send(reply.frame(Buffer.from([req.unit, req.fc | 0x80, 11]))), 150);
      else setTimeout(() => reply.send(reply.frame(reply.answerPdu())), 80);
    });
    const first = await settle(b.read(1, 'holding', 0, 2, { timeoutMs: 100 }));
    expect((first as { error: TransportError }).error).toMatchObject({ kind: 'timeout' });
    const second = await settle(b.read(1, next.fn, 40, next.count, { timeoutMs: 1000 }));
    expect(s.requests).toHaveLength(2);
    expect(second.ok ? second.value : second.error).toEqual(sent(s, 1));
  });

  // A truncated answer (a gateway that cuts a frame short), then the late answer of the
  // request before it: on Modbus TCP the length field of the short frame makes the first bytes
  // of the late frame its tail, with the right transaction id in front. Those words are no
  // device's registers and must not be taken.
  it.each([
    { cut: 1, late: 'answer' }, { cut: 3, late: 'answer' }, { cut: 4, late: 'answer' }, { cut: 5, late: 'answer' },
    { cut: 6, late: 'answer' }, { cut: 4, late: 'exception' }, { cut: 5, late: 'exception' },
  ])('a truncated answer is not completed with the first $cut bytes of a late $late', async ({ cut, late }) => {
    const { server: s, bus: b } = await setup((req, reply) => {
      const frame = reply.frame(reply.answerPdu());
      const lateFrame = late === 'answer' ? frame : reply.frame(Buffer.from([req.unit, req.fc | 0x80, 4]));
      if (req.n === 0) setTimeout(() => reply.send(lateFrame), 150);
      else if (req.n === 1) reply.send(frame.subarray(0, frame.length - cut));
      else reply.send(frame);
    });
    const first = await settle(b.read(1, 'holding', 0, 2, { timeoutMs: 100 }));
    expect((first as { error: TransportError }).error).toMatchObject({ kind: 'timeout' });
    const second = await settle(b.read(1, 'holding', 10, 2, { timeoutMs: 300 }));
    if (second.ok) expect(second.value).toEqual(sent(s, 1));
    // The stream is back in step for the next request.
    const third = await settle(b.read(1, 'holding', 20, 2, { timeoutMs: 300 }));
    if (third.ok) expect(third.value).toEqual(sent(s, s.requests.length - 1));
    const fourth = await b.read(1, 'holding', 30, 2, { timeoutMs: 1000 });
    expect(fourth).toEqual(sent(s, s.requests.length - 1));
  });

  // A device that always answers 2.5 timeouts late, asked for registers at one address after
  // another with the same count. Modbus TCP tells every answer by its transaction id, which
  // this holds it to. RTU has no transaction id: the bus waits one timeout after a timeout
  // before asking the same shape again, and an answer later than that is taken for the next
  // request's. Only timing tells them apart there, and a device later than any hold-back
  // beats it: a documented limit of RTU (README, known limitations), not a property this
  // gateway can have, so the case exists for Modbus TCP only. What RTU does guarantee, an
  // answer late by less than the hold-back, is the 'late reply' cases above.
  if (framing === 'mbap') it('a device always 2.5 timeouts late never hands a request another request\'s words', async () => {
    const { server: s, bus: b } = await setup((_req, reply) => {
      const frame = reply.frame(reply.answerPdu());
      setTimeout(() => reply.send(frame), 250);
    });
    const asked: Array<{ address: number; r: Awaited<ReturnType<typeof settle<number[] | boolean[]>>> }> = [];
    for (const address of [0, 100, 200, 300, 400]) asked.push({ address, r: await settle(b.read(1, 'holding', address, 2, { timeoutMs: 100 })) });
    for (const { address, r } of asked) {
      if (!r.ok) continue;
      const serial = s.requests.findIndex((q) => q.address === address && truth(1, address, 2, q.n)[0] === (r.value as number[])[0]);
      expect(serial, `read of ${address} got ${JSON.stringify(r.value)}`).toBeGreaterThanOrEqual(0);
    }
    await sleep(300);
  });

  // A device (or a gateway retrying on its serial side) sends its answer twice. The copy must
  // not answer the next request, which asks the same unit for the same number of registers.
  // Modbus TCP tells the copy by its transaction id, however late; RTU has no id, so there the
  // copy is only known as such when it comes with the answer (-1: in the same write). A copy
  // in a later segment, once the next request of the same shape is on the line, cannot be
  // told from its answer (left open: see the report of this test's commit).
  it.each(framing === 'mbap' ? [-1, 0, 5, 20] : [-1])('an answer sent twice (the copy %i ms later) answers only its own request', async (gapMs) => {
    const { server: s, bus: b } = await setup((_req, reply) => {
      const frame = reply.frame(reply.answerPdu());
      if (gapMs < 0) {
        reply.send(Buffer.concat([frame, frame]));
        return;
      }
      reply.send(frame);
      setTimeout(() => reply.send(frame), gapMs);
    });
    const results: Array<{ ok: boolean; value?: unknown }> = [];
    for (let i = 0; i < 6; i++) results.push(await settle(b.read(1, 'holding', i * 10, 2, { timeoutMs: 300 })));
    for (let i = 0; i < results.length; i++) {
      // Failing a request is acceptable; another request's words are not.
      if (results[i]!.ok) expect(results[i]!.value, `read ${i}`).toEqual(sent(s, i));
    }
    // And the bus is not thrown out of step for good: most reads get their own answer.
    expect(results.filter((r) => r.ok).length).toBeGreaterThanOrEqual(3);
  });

  it('drops a reply for a unit nobody asked, and takes the answer that follows', async () => {
    const { server: s, bus: b } = await setup((req, reply) => {
      reply.send(reply.frame(registersPdu(req.unit + 7, req.fc, truth(req.unit + 7, req.address, req.count, 99))));
      setTimeout(() => reply.send(reply.frame(reply.answerPdu())), 10);
    });
    expect(await b.read(1, 'holding', 0, 4, { timeoutMs: 500 })).toEqual(sent(s, 0));
  });

  // Answers with the right unit and function whose shape is wrong. None may be taken, none
  // may be cut or padded to the count asked (padding would publish zeros).
  it.each([
    { fault: 'byte count larger than the registers sent', pdu: (u: number) => Buffer.concat([Buffer.from([u, 3, 8]), Buffer.alloc(4, 0)]) },
    { fault: 'byte count smaller than the registers asked', pdu: (u: number) => Buffer.concat([Buffer.from([u, 3, 2]), Buffer.from([0, 1, 0, 2])]) },
    { fault: 'fewer registers than asked, byte count to match', pdu: (u: number) => registersPdu(u, 3, [0x1234]) },
    { fault: 'more registers than asked, byte count to match', pdu: (u: number) => registersPdu(u, 3, [1, 2, 3]) },
    { fault: 'another function code (not an exception)', pdu: (u: number) => registersPdu(u, 4, [0x1111, 0x2222]) },
    { fault: 'an odd byte count', pdu: (u: number) => Buffer.concat([Buffer.from([u, 3, 3]), Buffer.from([0, 1, 0])]) },
  ])('refuses a reply with $fault, and the next request is answered', async ({ pdu }) => {
    const { server: s, bus: b } = await setup((req, reply) => {
      if (req.n === 0) reply.send(reply.frame(pdu(req.unit)));
      else reply.send(reply.frame(reply.answerPdu()));
    });
    const r = await settle(b.read(1, 'holding', 0, 2, { timeoutMs: 150 }));
    expect(r.ok).toBe(false);
    expect((r as { error: unknown }).error).toBeInstanceOf(TransportError);
    expect(await b.read(1, 'holding', 0, 2, { timeoutMs: 1000 })).toEqual(sent(s, 1));
  });

  it.each([1, 30])('puts together an answer sent in three pieces %i ms apart', async (pauseMs) => {
    const { server: s, bus: b } = await setup((_req, reply) => {
      const frame = reply.frame(reply.answerPdu());
      reply.send(frame.subarray(0, 2));
      setTimeout(() => reply.send(frame.subarray(2, 9)), pauseMs);
      setTimeout(() => reply.send(frame.subarray(9)), 2 * pauseMs);
    });
    for (let i = 0; i < 3; i++) expect(await b.read(1, 'holding', i, 10, { timeoutMs: 1000 })).toEqual(sent(s, i));
  });

  it('keeps reading a server that closes the connection after every answer', async () => {
    const { server: s, bus: b } = await setup((_req, reply) => {
      reply.socket.end(reply.frame(reply.answerPdu()));
    });
    const results = [];
    for (let i = 0; i < 8; i++) {
      results.push(await settle(b.read(1 + (i % 2), 'holding', i, 2, { timeoutMs: 500 })));
    }
    for (const [i, r] of results.entries()) {
      if (r.ok) expect(r.value).toEqual(sent(s, s.requests.findLastIndex((q) => q.address === i)));
    }
    // Every request gets its answer: the server's close is not a failure of the next request.
    expect(results.map((r) => r.ok)).toEqual(results.map(() => true));
    expect(s.connections).toBe(8);
  });

  it('reconnects three silent units\' peer, and reads once it answers again', async () => {
    let silent = true;
    const { server: s, bus: b } = await setup((_req, reply) => {
      if (!silent) reply.send(reply.frame(reply.answerPdu()));
    });
    for (const unit of [1, 2, 3]) {
      const r = await settle(b.read(unit, 'holding', 0, 2, { timeoutMs: 80 }));
      expect((r as { error: TransportError }).error).toMatchObject({ kind: 'timeout' });
    }
    silent = false;
    const value = await firstAnswer(() => b.read(1, 'holding', 0, 2, { timeoutMs: 300 }), 5000, 50);
    expect(value).toEqual(sent(s, s.requests.length - 1));
    // Modbus TCP drops a peer that lets three units time out in a row; RTU over TCP cannot
    // tell a silent line from a dead server and keeps the connection.
    expect(s.connections).toBe(framing === 'mbap' ? 2 : 1);
  });

  // A connection that went half-dead (a gateway that rebooted behind a NAT, a stuck server
  // task): accepted, never answered, on a bus with one device. Only a new connection helps,
  // and only Modbus TCP can tell: on RTU over TCP a dead connection looks like a silent serial
  // line behind a working device server, so the bus keeps it (and keeps timing out).
  it(framing === 'mbap'
    ? 'gets a new connection when the one unit of a Modbus TCP peer stops answering on it'
    : 'keeps the connection of an RTU-over-TCP peer whose one unit stops answering (a silent line)', async () => {
    let deadSocket: unknown = null;
    const { server: s, bus: b } = await setup((_req, reply) => {
      deadSocket ??= reply.socket;
      if (reply.socket !== deadSocket) reply.send(reply.frame(reply.answerPdu()));
    });
    let value: unknown = null;
    for (let i = 0; i < 10 && value === null; i++) {
      const r = await settle(b.read(1, 'holding', 0, 2, { timeoutMs: 80 }));
      if (r.ok) value = r.value;
      else await sleep(20);
    }
    if (framing === 'mbap') {
      expect(value).toEqual(sent(s, s.requests.length - 1));
      expect(s.connections).toBe(2);
    } else {
      expect(value).toBeNull();
      expect(s.connections).toBe(1);
    }
  });

  // A peer that takes each connection and closes it without answering (a device server at its
  // connection limit, a port forwarded to nothing) is backed off from like one that refuses,
  // instead of being connected to again for every request of every device.
  it('backs off from a peer that accepts and closes without answering, and reads once it answers', async () => {
    let closing = true;
    const { server: s, bus: b } = await setup((_req, reply) => {
      if (closing) reply.socket.destroy();
      else reply.send(reply.frame(reply.answerPdu()));
    });
    const until = Date.now() + 2000;
    let failures = 0;
    while (Date.now() < until) {
      const r = await settle(b.read(1, 'holding', 0, 2, { timeoutMs: 200 }));
      expect(r.ok).toBe(false);
      failures += 1;
      await sleep(20);
    }
    // Two connections at once, then waits of 0.5 s and 1 s (reconnect_max): five connections
    // in two seconds at most, where one per request would be dozens.
    expect(failures).toBeGreaterThan(20);
    expect(s.connections).toBeLessThanOrEqual(5);
    closing = false;
    const value = await firstAnswer(() => b.read(1, 'holding', 0, 2, { timeoutMs: 300 }), 3000, 20);
    expect(value).toEqual(sent(s, s.requests.length - 1));
  });

  it('reads again after the server is killed and restarted on the same port mid-run', async () => {
    const script: Script = (_req, reply) => reply.send(reply.frame(reply.answerPdu()));
    const { server: first, bus: b } = await setup(script);
    const port = first.port;
    expect(await b.read(1, 'holding', 0, 2, { timeoutMs: 500 })).toEqual(sent(first, 0));
    await first.stop();
    server = null;
    const down = await settle(b.read(1, 'holding', 0, 2, { timeoutMs: 500 }));
    expect(down.ok).toBe(false);
    expect((down as { error: TransportError }).error).toMatchObject({ kind: 'connection' });
    await sleep(300);
    server = await startScripted(framing, script, port);
    const value = await firstAnswer(() => b.read(1, 'holding', 0, 2, { timeoutMs: 500 }), 5000, 50);
    expect(value).toEqual(sent(server, server.requests.length - 1));
  });

  // A serial device server in Modbus TCP gateway mode answers 0x0B (its serial side got no
  // answer) or 0x0A for one unit, sometimes later than the gateway waits; the other units
  // behind it answer in time, and each request gets its own answer.
  it.each([10, 11])('exception %i for one unit, late or not, while the other units answer', async (code) => {
    const { server: s, bus: b } = await setup((req, reply) => {
      if (req.unit === 3) setTimeout(() => reply.send(reply.frame(Buffer.from([req.unit, req.fc | 0x80, code]))), req.n % 2 === 0 ? 5 : 120);
      else setTimeout(() => reply.send(reply.frame(reply.answerPdu())), 20);
    });
    for (let i = 0; i < 4; i++) {
      for (const unit of [1, 2, 3]) {
        const n = s.requests.length;
        const r = await settle(b.read(unit, 'holding', 0, 2 + i, { timeoutMs: 100 }));
        if (unit === 3) {
          expect(r.ok).toBe(false);
          expect((r as { error: TransportError }).error.kind).toMatch(/exception|timeout/);
        } else {
          expect(r.ok ? r.value : r.error, `unit ${unit} round ${i}`).toEqual(sent(s, n));
        }
      }
    }
  });
});

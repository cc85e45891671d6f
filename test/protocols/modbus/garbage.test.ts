// Random garbage on the response path: a hostile server answers each request with noise,
// foreign frames, truncated frames, late frames or the right answer, at random. The bus
// must never crash and never hand over a value that is not the answer to its request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransportError } from '../../../src/protocols/modbus/errors.js';
import { mulberry32 } from '../../../src/sim/physics.js';
import { makeBus, settle } from './helpers.js';
import { registersPdu, startScripted, truth, type Framing } from './scripted.js';

const TIMEOUT_MS = 80;

const COMMON = ['answer', 'noise', 'noise+answer', 'foreign-unit', 'foreign-count', 'truncated', 'silence', 'late', 'exception'] as const;
// Each framing has its own integrity check: a transaction id on TCP (which has no CRC: the
// TCP checksum guards the bytes), a CRC on RTU (which has no transaction id).
const SCENARIOS = {
  mbap: [...COMMON, 'foreign-tid'],
  rtu: [...COMMON, 'bad-crc'],
} as const;
type Scenario = (typeof COMMON)[number] | 'foreign-tid' | 'bad-crc';

interface Hostile {
  port: number;
  log: Scenario[];
  stop(): Promise<void>;
}

async function startHostile(framing: Framing, seed: number): Promise<Hostile> {
  const rand = mulberry32(seed);
  const noise = (max: number) => Buffer.from(Array.from({ length: 1 + Math.floor(rand() * max) }, () => Math.floor(rand() * 256)));
  const log: Scenario[] = [];
  const server = await startScripted(framing, ({ tid, unit, fc, address, count }, { frame, send }) => {
    const scenarios: readonly Scenario[] = SCENARIOS[framing];
    const scenario = scenarios[Math.floor(rand() * scenarios.length)]!;
    log.push(scenario);
    const good = frame(registersPdu(unit, fc, truth(unit, address, count)));
    switch (scenario) {
      case 'answer': send(good); break;
      case 'noise': send(noise(40)); break;
      case 'noise+answer': send(Buffer.concat([noise(20), good])); break;
      case 'foreign-unit': send(frame(registersPdu(unit + 1, fc, truth(unit + 1, address, count)))); break;
      case 'foreign-count': send(frame(registersPdu(unit, fc, truth(unit, address, count + 1)))); break;
      case 'foreign-tid': send(frame(registersPdu(unit, fc, truth(unit, address + 1, count)), tid + 1)); break;
      case 'bad-crc': {
        const b = Buffer.from(good);
        b[b.length - 1]! ^= 0x5a;
        send(b);
        break;
      }
      case 'truncated': send(good.subarray(0, good.length - 3)); break;
      case 'silence': break;
      case 'late': setTimeout(() => send(good), TIMEOUT_MS * 1.5); break;
      case 'exception': send(frame(Buffer.from([unit, fc | 0x80, 4]))); break;
    }
  });
  return { port: server.port, log, stop: server.stop };
}

describe.each([
  { framing: 'mbap' as const, type: 'modbus_tcp' },
  { framing: 'rtu' as const, type: 'modbus_rtu_over_tcp' },
])('garbage on the response path ($type)', ({ framing, type }) => {
  let hostile: Hostile;
  beforeAll(async () => { hostile = await startHostile(framing, framing === 'mbap' ? 11 : 12); });
  afterAll(() => hostile.stop());

  it('never crashes and never accepts anything but the answer to the request', async () => {
    const bus = makeBus({ type, host: '127.0.0.1', port: hostile.port, reconnect_max: '1s' });
    const rand = mulberry32(99);
    let accepted = 0;
    let refused = 0;
    try {
      for (let i = 0; i < 100; i++) {
        const unit = 1 + Math.floor(rand() * 3);
        const address = Math.floor(rand() * 40);
        // Small counts on purpose: the more requests share a shape, the more a late or
        // foreign answer could pass for the right one.
        const count = 1 + Math.floor(rand() * 2);
        const r = await settle(bus.read(unit, 'holding', address, count, { timeoutMs: TIMEOUT_MS }));
        if (r.ok) {
          expect(r.value, `read ${i}: unit ${unit} @${address}+${count}, server did ${hostile.log.slice(-3).join(', ')}`).toEqual(truth(unit, address, count));
          accepted += 1;
        } else {
          expect(r.error).toBeInstanceOf(TransportError);
          refused += 1;
          // A reconnect backoff after a desync: wait it out rather than spin.
          if ((r.error as Error).message.includes('waiting to reconnect')) await new Promise((res) => setTimeout(res, 200));
        }
      }
    } finally {
      await bus.close();
    }
    // Every scenario came up, and the honest answers got through.
    expect(new Set(hostile.log)).toEqual(new Set(SCENARIOS[framing]));
    expect(accepted).toBeGreaterThan(3);
    expect(refused).toBeGreaterThan(10);
  }, 60_000);
});

// Simulated meters as fussy as real ones (`simulate --strict --max-registers N`): a strict
// meter answers only for the registers its profile's points cover and refuses a read that
// touches a hole in its map with exception 2; a meter with a lower per-request limit refuses
// a longer read with exception 3 (or 2, for meters that answer that). The refusal is the
// meter's, so Modbus TCP and RTU frames over TCP see the same answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLimitException, parseMaxRegisters, refusalNote } from '../../src/cli/simulate.js';
import { UsageError } from '../../src/cli/command.js';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import type { ModbusBus } from '../../src/protocols/modbus/bus.js';
import { TransportError } from '../../src/protocols/modbus/errors.js';
import { SimulatedMeter, type SimulatedMeterOptions } from '../../src/sim/modbus-meter.js';
import {
  startModbusRtuOverTcpSimulator, startModbusTcpSimulator, type SimServerHandle, type SimServerOptions,
} from '../../src/sim/modbus-server.js';
import { RegisterMap } from '../../src/sim/register-map.js';
import { makeBus, settle } from '../protocols/modbus/helpers.js';

const catalogue = loadCatalogueSync();
const sdm630 = catalogue.get('eastron-sdm630')!;
const AT = Date.UTC(2025, 5, 1, 8);
const EPOCH = Date.UTC(2025, 0, 1);

/** A float32 from two big-endian words, as the SDM630 sends them. */
function float32(hi: number | boolean, lo: number | boolean): number {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(Number(hi), 0);
  b.writeUInt16BE(Number(lo), 2);
  return b.readFloatBE(0);
}

/** The exception code a read was refused with, or 'answered'. */
async function refusedWith(bus: ModbusBus, unit: number, address: number, count: number): Promise<number | 'answered'> {
  const r = await settle(bus.read(unit, 'input', address, count, { timeoutMs: 2000 }));
  if (r.ok) return 'answered';
  expect(r.error).toBeInstanceOf(TransportError);
  return (r.error as TransportError).exceptionCode!;
}

describe('RegisterMap: what a strict meter answers for', () => {
  it('covers the SDM630\'s points and none of the holes between them', () => {
    const map = new RegisterMap(sdm630.points);
    // A point ends at 34+1; the next one is at 42: registers 36..41 are a hole.
    expect(map.covers('input', 30, 6)).toBe(true);
    expect(map.covers('input', 30, 10)).toBe(false);
    for (const a of [36, 37, 38, 39, 40, 41]) expect(map.has('input', a)).toBe(false);
    expect(map.has('input', 42)).toBe(true);
    expect(map.has('holding', 0)).toBe(false);
  });

  it('includes the ratio registers a profile reads (DTSU666 holds its CT and PT ratios at 6 and 7)', () => {
    const dtsu = catalogue.get('chint-dtsu666')!;
    const map = new RegisterMap(dtsu.points);
    expect(dtsu.points.filter((p) => p.id === 'ct_ratio' || p.id === 'pt_ratio').map((p) => p.address)).toEqual([6, 7]);
    expect(map.covers('holding', 6, 2)).toBe(true);
  });
});

describe.each([
  ['modbus tcp', 'modbus_tcp', startModbusTcpSimulator],
  ['rtu over tcp', 'modbus_rtu_over_tcp', startModbusRtuOverTcpSimulator],
] as const)('fussy simulated SDM630s on %s', (_name, type, start: (m: SimulatedMeter[], o: SimServerOptions) => Promise<SimServerHandle>) => {
  let sim: SimServerHandle;
  let bus: ModbusBus;
  const meter = (unitId: number, fussy: Partial<SimulatedMeterOptions>) => new SimulatedMeter({ unitId, profile: sdm630, epochMs: EPOCH, ...fussy });
  // 1: lenient (the default), 2: strict, 3: at most 10 registers a read, 4: both, 5: over 10 refused with 2,
  // 6: over 10 left unanswered.
  const meters = [
    meter(1, {}), meter(2, { strict: true }), meter(3, { maxRegisters: 10 }),
    meter(4, { strict: true, maxRegisters: 10 }), meter(5, { maxRegisters: 10, limitException: 2 }),
    meter(6, { maxRegisters: 10, limitException: 'silent' }),
  ];

  beforeAll(async () => {
    sim = await start(meters, { now: () => AT });
    bus = makeBus({ type, host: '127.0.0.1', port: sim.port });
  });

  afterAll(async () => {
    await bus.close();
    await sim.stop();
  });

  it('a strict meter refuses a read spanning a hole in its map with exception 2; the lenient one answers it', async () => {
    expect(await refusedWith(bus, 2, 30, 10)).toBe(2);
    expect(await refusedWith(bus, 2, 0, 80)).toBe(2);
    const lenient = await bus.read(1, 'input', 30, 10, { timeoutMs: 2000 });
    // The hole reads as zeros from a lenient meter.
    expect(lenient.slice(6)).toEqual([0, 0, 0, 0]);
  });

  it('a strict meter answers a read inside its map, with the values it serves', async () => {
    const words = await bus.read(2, 'input', 0, 6, { timeoutMs: 2000 });
    expect(words).toHaveLength(6);
    const truth = meters[1]!;
    const v1 = truth.valueAt('voltage_l1', AT)!;
    expect(v1).toBeGreaterThan(100);
    expect(float32(words[0]!, words[1]!)).toBeCloseTo(v1, 3);
    expect(float32(words[4]!, words[5]!)).toBeCloseTo(truth.valueAt('voltage_l3', AT)!, 3);
    // Up to the edge of the hole.
    expect(await bus.read(2, 'input', 30, 6, { timeoutMs: 2000 })).toHaveLength(6);
  });

  it('--max-registers 10 refuses 12 registers with exception 3 and answers 10', async () => {
    expect(meters[2]!.maxCount('input')).toBe(10);
    expect(await refusedWith(bus, 3, 0, 12)).toBe(3);
    expect(await refusedWith(bus, 3, 0, 11)).toBe(3);
    const words = await bus.read(3, 'input', 0, 10, { timeoutMs: 2000 });
    expect(words).toHaveLength(10);
    expect(float32(words[0]!, words[1]!)).toBeCloseTo(meters[2]!.valueAt('voltage_l1', AT)!, 3);
    // Without the option, the profile's 80 stands.
    expect(meters[0]!.maxCount('input')).toBe(80);
    expect(await refusedWith(bus, 1, 0, 12)).toBe('answered');
  });

  it('strict and limited: the limit is checked first (exception 3), as the Modbus rule orders them', async () => {
    expect(await refusedWith(bus, 4, 30, 12)).toBe(3);
    expect(await refusedWith(bus, 4, 30, 10)).toBe(2);
    expect(await refusedWith(bus, 4, 30, 6)).toBe('answered');
  });

  it('--limit-exception 2 answers a read over the limit with exception 2', async () => {
    expect(await refusedWith(bus, 5, 0, 12)).toBe(2);
    expect(await refusedWith(bus, 5, 0, 10)).toBe('answered');
  });

  it('--limit-exception silent leaves a read over the limit unanswered, and answers one within it', async () => {
    const r = await settle(bus.read(6, 'input', 0, 12, { timeoutMs: 300 }));
    expect(r.ok).toBe(false);
    expect((r as { error: TransportError }).error).toMatchObject({ kind: 'timeout' });
    const words = await bus.read(6, 'input', 0, 10, { timeoutMs: 2000 });
    expect(float32(words[0]!, words[1]!)).toBeCloseTo(meters[5]!.valueAt('voltage_l1', AT)!, 3);
  });
});

describe('simulate\'s fussy options', () => {
  it('--max-registers is an integer 1..125', () => {
    expect(parseMaxRegisters(undefined)).toBeUndefined();
    expect(parseMaxRegisters('1')).toBe(1);
    expect(parseMaxRegisters('125')).toBe(125);
    for (const bad of ['0', '126', '200', 'x', '10.5', '-3', '']) {
      expect(() => parseMaxRegisters(bad)).toThrow(UsageError);
      expect(() => parseMaxRegisters(bad)).toThrow(`--max-registers is an integer 1..125 (the most registers a Modbus read can ask), got "${bad}"`);
    }
  });

  it('--limit-exception is 2, 3 or silent', () => {
    expect(parseLimitException(undefined)).toBe(3);
    expect(parseLimitException('2')).toBe(2);
    expect(parseLimitException('3')).toBe(3);
    expect(parseLimitException('silent')).toBe('silent');
    expect(() => parseLimitException('4')).toThrow('--limit-exception is 2, 3 or silent, got "4"');
  });

  it('the banner says what the meters refuse, and a profile limit the option does not raise', () => {
    const pm = catalogue.get('schneider-pm5300')!;
    const lenient = { strict: false, limitException: 3 as const };
    expect(refusalNote([{ profile: sdm630 }], lenient)).toBeNull();
    expect(refusalNote([{ profile: sdm630 }], { strict: true, maxRegisters: 10, limitException: 3 }))
      .toBe('strict: registers outside each profile refused with exception 2; reads over 10 registers refused with exception 3');
    expect(refusalNote([{ profile: sdm630 }], { strict: false, maxRegisters: 100, limitException: 2 }))
      .toBe('reads over 100 registers refused with exception 2 (eastron-sdm630 over 80, its profile\'s limit)');
    expect(refusalNote([{ profile: sdm630 }, { profile: pm }], { strict: false, limitException: 2 }))
      .toBe('reads over each profile\'s max_registers refused with exception 2');
    expect(refusalNote([{ profile: sdm630 }], { strict: false, maxRegisters: 40, limitException: 'silent' }))
      .toBe('reads over 40 registers left unanswered');
  });
});

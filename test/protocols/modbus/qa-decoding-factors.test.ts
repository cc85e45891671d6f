// Ratio registers (CT/PT) and SunSpec-style scale-factor registers read from a real Modbus TCP
// server (modbus-serial's ServerTCP) in the same poll as the values they apply to. A factor
// register holding what no meter means as a factor ("not implemented", an unset ratio of 0, an
// exponent far outside SunSpec's -10..10) must make the value invalid, never publish a number.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { readDevice } from '../../../src/protocols/modbus/poll.js';
import { inlineDevice, makeBus, startServerTcp } from './helpers.js';

/** Holding registers of unit 1; tests set them before they poll. */
const holding = new Map<number, number>();
const requests: Array<[number, number]> = [];
let server: { port: number; close(): Promise<void> };
let bus: ModbusBus;

beforeAll(async () => {
  server = await startServerTcp({
    getMultipleHoldingRegisters: (addr: number, len: number) => {
      requests.push([addr, len]);
      return Array.from({ length: len }, (_, i) => holding.get(addr + i) ?? 0);
    },
  });
  bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: server.port });
});

afterAll(async () => {
  await bus.close();
  await server.close();
});

/** One poll of a device made of these inline points, against the server's current registers. */
async function poll(points: string) {
  const d = inlineDevice(points);
  return readDevice(bus, d, d.classes);
}

// SunSpec model 103 (inverter) style: W at 14, its W_SF at 15, both int16.
const SUNSPEC = `      - { id: active_power_total, address: 14, type: int16, unit: W, scale_register: w_sf }
      - { id: w_sf, address: 15, type: int16, unit: "1", internal: true }`;

describe('a scale-factor register (SunSpec *_SF, int16 power of ten)', () => {
  it('applies an exponent read in the same poll: 1234 × 10^-1 is 123.4 W', async () => {
    holding.set(14, 1234);
    holding.set(15, 0x10000 - 1);
    const values = await poll(SUNSPEC);
    expect(values.active_power_total).toEqual({ value: 123.4, unit: 'W', quality: 'good' });
  });

  it('gives invalid, not 0 W, when the factor is 0x8000 (SunSpec "not implemented")', async () => {
    // 1234 × 10^-32768 was published as 0 W, quality good.
    holding.set(14, 1234);
    holding.set(15, 0x8000);
    const values = await poll(SUNSPEC);
    expect(values.active_power_total).toEqual({ value: null, unit: 'W', quality: 'invalid' });
  });

  it('gives invalid for an exponent outside SunSpec\'s -10..10 (11 and -11), not a value off by 10^11', async () => {
    for (const sf of [11, 0x10000 - 11]) {
      holding.set(14, 1234);
      holding.set(15, sf);
      const values = await poll(SUNSPEC);
      expect(values.active_power_total!.quality).toBe('invalid');
      expect(values.active_power_total!.value).toBeNull();
    }
    // The ends of the range still apply: 1234 × 10^10 and 1234 × 10^-10.
    holding.set(15, 10);
    expect((await poll(SUNSPEC)).active_power_total!.value).toBe(12340000000000);
    holding.set(15, 0x10000 - 10);
    expect((await poll(SUNSPEC)).active_power_total!.value).toBe(1.234e-7);
  });
});

// A secondary-side meter: current in mA, its CT ratio in a register beside it.
const CT = `      - { id: current_l1, address: 30, type: uint16, scale: 0.001, unit: A, multiply_by: [ct_ratio] }
      - { id: ct_ratio, address: 31, type: uint16, unit: "1", internal: true }`;

describe('a ratio register (CT/PT)', () => {
  it('multiplies the secondary value read in the same poll: 4.321 A × 40 is 172.84 A on the primary side', async () => {
    holding.set(30, 4321);
    holding.set(31, 40);
    const values = await poll(CT);
    expect(values.current_l1).toEqual({ value: 172.84, unit: 'A', quality: 'good' });
  });

  it('gives invalid when the ratio register holds 0 (unset or not yet read by the meter), not 0 A', async () => {
    // A transformer ratio of 0 does not exist: 4.321 A × 0 was published as a good 0 A, which an
    // energy counter multiplied the same way turns into a counter reset.
    holding.set(30, 4321);
    holding.set(31, 0);
    const values = await poll(CT);
    expect(values.current_l1).toEqual({ value: null, unit: 'A', quality: 'invalid' });
  });
});

// A simulated meter refuses a request for more registers (or coils) than its model answers in
// one go, as the real one does: Modbus exception 3 (illegal data value, "quantity out of
// range" in the Modbus Application Protocol §6.3/§6.4). The SDM630 answers at most 80
// registers (40 float parameters) per request. Without this, a gateway that planned a
// request over the meter's limit would pass every test against the simulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { TransportError } from '../../src/protocols/modbus/errors.js';
import type { ModbusBus } from '../../src/protocols/modbus/bus.js';
import { SimulatedMeter } from '../../src/sim/modbus-meter.js';
import { startModbusTcpSimulator, type SimServerHandle } from '../../src/sim/modbus-server.js';
import { makeBus, settle } from '../protocols/modbus/helpers.js';

const catalogue = loadCatalogueSync();
const sdm630 = catalogue.get('eastron-sdm630')!;
let sim: SimServerHandle;
let bus: ModbusBus;

beforeAll(async () => {
  sim = await startModbusTcpSimulator([new SimulatedMeter({ unitId: 1, profile: sdm630, epochMs: Date.UTC(2025, 0, 1) })]);
  bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: sim.port });
});

afterAll(async () => {
  await bus.close();
  await sim.stop();
});

describe('a simulated meter\'s request limit', () => {
  it('answers 80 registers of an SDM630 (its read.max_registers)', async () => {
    expect(sdm630.read.max_registers).toBe(80);
    const words = await bus.read(1, 'input', 0, 80, { timeoutMs: 2000 });
    expect(words).toHaveLength(80);
  });

  it('refuses 81 with exception 3, as the meter does', async () => {
    const r = await settle(bus.read(1, 'input', 0, 81, { timeoutMs: 2000 }));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(TransportError);
      expect((r.error as TransportError).exceptionCode).toBe(3);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { LineModel, MACHINE_STATE } from '../../../src/sim/opcua/line-model.js';

function run(model: LineModel, fromMs: number, toMs: number, stepMs: number): void {
  for (let t = fromMs + stepMs; t <= toMs; t += stepMs) model.step(t);
}

describe('simulated production line', () => {
  it('makes one part per cycle while running, every Nth one scrap, counters monotonic', () => {
    const m = new LineModel(0, { cycleMs: 1000, scrapEvery: 10, idleMs: 0 });
    run(m, 0, 100_000, 100);
    expect(m.current.GoodParts + m.current.ScrapParts).toBe(100);
    expect(m.current.ScrapParts).toBe(10);
    expect(m.current.MachineState).toBe(MACHINE_STATE.running);
  });

  it('energy integrates power: 45 kW for one hour is 45 kWh (ripple averages out)', () => {
    const m = new LineModel(0, { idleMs: 0, runningPowerW: 45_000 });
    run(m, 0, 3_600_000, 1000);
    expect(m.current.Energy).toBeCloseTo(45, 0);
  });

  it('idle phases produce nothing at idle power and zero speed', () => {
    const m = new LineModel(0, { cycleMs: 1000, runMs: 10_000, idleMs: 5_000, idlePowerW: 6000 });
    run(m, 0, 12_000, 100);
    expect(m.current).toMatchObject({ MachineState: MACHINE_STATE.idle, LineSpeed: 0, Power: 6000 });
    expect(m.current.GoodParts + m.current.ScrapParts).toBe(10);
  });

  it('a shift change resets the part counters, not the energy counter', () => {
    const m = new LineModel(0, { cycleMs: 1000, scrapEvery: 0, idleMs: 0, shiftResetMs: 60_000 });
    run(m, 0, 59_000, 1000);
    expect(m.current.GoodParts).toBe(59);
    const energy = m.current.Energy;
    run(m, 59_000, 65_000, 1000);
    expect(m.current.GoodParts).toBe(5);
    expect(m.current.Energy).toBeGreaterThan(energy);
  });

  it('valueAt answers what the counter was at any past instant', () => {
    const m = new LineModel(0, { cycleMs: 1000, scrapEvery: 0, idleMs: 0 });
    run(m, 0, 10_000, 100);
    expect(m.valueAt('GoodParts', 0)).toBe(0);
    expect(m.valueAt('GoodParts', 5_050)).toBe(5);
    expect(m.valueAt('GoodParts', 9_999)).toBe(9);
    expect(m.valueAt('GoodParts', -1)).toBeUndefined();
  });
});

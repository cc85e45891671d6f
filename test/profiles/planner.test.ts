import { describe, expect, it } from 'vitest';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { planPollClasses, planProfile, planReads, type ReadRequest } from '../../src/profiles/planner.js';
import { resolvePoint, type ModbusPoint, type ProfilePoint } from '../../src/profiles/schema.js';
import { registerCount } from '../../src/protocols/modbus/decode.js';

function pt(id: string, address: number, extra: Partial<ProfilePoint> = {}): ModbusPoint {
  return resolvePoint({ id, address, unit: '', ...extra }, { function: 'input', type: 'uint16' });
}
const spans = (requests: ReadRequest[]): string[] => requests.map((r) => `${r.function}:${r.address}+${r.count}`);

describe('planReads', () => {
  it('joins neighbours into one request', () => {
    const requests = planReads([pt('a', 0, { type: 'float32' }), pt('b', 2, { type: 'float32' }), pt('c', 4)]);
    expect(spans(requests)).toEqual(['input:0+5']);
    expect(requests[0]!.points.map((p) => p.id)).toEqual(['a', 'b', 'c']);
  });

  it('bridges a gap only up to maxGap', () => {
    const points = [pt('a', 0), pt('b', 11)]; // 10 unused registers in between
    expect(spans(planReads(points, { maxGap: 10 }))).toEqual(['input:0+12']);
    expect(spans(planReads(points, { maxGap: 9 }))).toEqual(['input:0+1', 'input:11+1']);
    expect(spans(planReads(points))).toEqual(['input:0+1', 'input:11+1']);
  });

  it('never reads an unreadable register, even inside a gap', () => {
    const points = [pt('a', 0), pt('b', 5)];
    const requests = planReads(points, { maxGap: 10, unreadable: [{ function: 'input', from: 3, to: 3 }] });
    expect(spans(requests)).toEqual(['input:0+1', 'input:5+1']);
    // The same range on another function does not matter.
    expect(spans(planReads(points, { maxGap: 10, unreadable: [{ function: 'holding', from: 3, to: 3 }] }))).toEqual(['input:0+6']);
  });

  it('splits at the size limit, and never beyond the protocol limit of 125', () => {
    const points = Array.from({ length: 130 }, (_, i) => pt(`p${i}`, i));
    expect(spans(planReads(points))).toEqual(['input:0+125', 'input:125+5']);
    expect(spans(planReads(points, { maxRegisters: 200 }))).toEqual(['input:0+125', 'input:125+5']);
    expect(spans(planReads(points, { maxRegisters: 50 }))).toEqual(['input:0+50', 'input:50+50', 'input:100+30']);
  });

  it('keeps a multi-register value whole when splitting', () => {
    const points = [pt('a', 0, { type: 'float32' }), pt('b', 2, { type: 'float32' }), pt('c', 4, { type: 'float32' })];
    expect(spans(planReads(points, { maxRegisters: 5 }))).toEqual(['input:0+4', 'input:4+2']);
  });

  it('reads up to 2000 coils at once', () => {
    const coils = Array.from({ length: 2001 }, (_, i) => pt(`c${i}`, i, { function: 'coil', type: 'bool' }));
    expect(spans(planReads(coils))).toEqual(['coil:0+2000', 'coil:2000+1']);
  });

  it('never mixes functions in one request', () => {
    const requests = planReads([pt('a', 0), pt('b', 1, { function: 'holding' }), pt('c', 1)]);
    expect(spans(requests)).toEqual(['holding:1+1', 'input:0+2']);
  });

  it('reads bit points sharing one register once', () => {
    const requests = planReads([pt('a', 7, { type: 'bit', bit: 0 }), pt('b', 7, { type: 'bit', bit: 3 })]);
    expect(spans(requests)).toEqual(['input:7+1']);
    expect(requests[0]!.points).toHaveLength(2);
  });

  it('per-point mode makes one request per point', () => {
    const points = [pt('a', 0, { type: 'float32' }), pt('b', 2, { type: 'float32' }), pt('c', 4)];
    expect(spans(planReads(points, { perPoint: true }))).toEqual(['input:0+2', 'input:2+2', 'input:4+1']);
  });
});

describe('the shipped SDM630 profile', () => {
  const profile = loadCatalogueSync().get('eastron-sdm630')!;
  const classes = planProfile(profile, 5000);
  const requests = classes.flatMap((c) => c.requests);

  it('plans into at most 3 requests within the meter\'s 80-register limit', () => {
    expect(requests.length).toBeLessThanOrEqual(3);
    for (const r of requests) expect(r.count).toBeLessThanOrEqual(80);
  });

  it('reads every point exactly once, inside its request', () => {
    const seen = requests.flatMap((r) => r.points.map((p) => {
      expect(p.address).toBeGreaterThanOrEqual(r.address);
      expect(p.address + registerCount(p)).toBeLessThanOrEqual(r.address + r.count);
      return p.id;
    }));
    expect(seen.sort()).toEqual(profile.points.map((p) => p.id).sort());
  });

  it('falls back to one request per point when told to', () => {
    const fussy = planProfile(profile, 5000, { perPoint: true }).flatMap((c) => c.requests);
    expect(fussy).toHaveLength(profile.points.length);
  });
});

describe('poll classes', () => {
  it('reads slow counters in their own class', () => {
    const points = [pt('power', 0, { type: 'float32' }), pt('energy', 100, { type: 'float32', interval: 60_000 })];
    const classes = planPollClasses(points, 1000);
    expect(classes.map((c) => [c.intervalMs, spans(c.requests)])).toEqual([
      [1000, ['input:0+2']],
      [60_000, ['input:100+2']],
    ]);
  });

  it('reads the ratio register in every class that needs it, and never publishes it', () => {
    const points = [
      pt('ct_ratio', 50, { function: 'holding', internal: true }),
      pt('current_l1', 0, { scale: 0.001, multiply_by: ['ct_ratio'] }),
      pt('active_energy_import_total', 10, { type: 'uint32', multiply_by: ['ct_ratio'], interval: 900_000 }),
    ];
    const classes = planPollClasses(points, 1000);
    expect(classes.map((c) => [c.intervalMs, c.points.map((p) => p.id), spans(c.requests)])).toEqual([
      [1000, ['current_l1'], ['holding:50+1', 'input:0+1']],
      [900_000, ['active_energy_import_total'], ['holding:50+1', 'input:10+2']],
    ]);
  });
});

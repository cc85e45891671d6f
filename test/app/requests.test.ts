import { describe, expect, it } from 'vitest';
import { handleRequest } from '../../src/app/requests.js';
import { createEngine, type Engine } from '../../src/core/engine.js';
import type { EngineRecord } from '../../src/core/records.js';

const NOW = Date.parse('2026-03-01T08:00:00+08:00');

function engine(): Engine {
  return createEngine({
    timezone: 'Asia/Shanghai', graceMs: 5000,
    accounts: [{ id: 'site', carrier: 'electricity', meters: [{ device: 'm1', point: 'active_energy_import_total', sign: 1, use: 'power' }], windows: ['15m'] }],
    enpi: [{ id: 'per_part', accounts: ['site'], output: { point: 'production_count', unit: 'count' }, windows: ['15m'], min_coverage: 0.9 }],
  });
}

describe('operator requests', () => {
  const apply = (e: Engine) => (entry: (engine: Engine) => EngineRecord[]) => entry(e);

  it('applies a replacement and returns the event it produced', () => {
    const r = handleRequest('replacement', {
      request_id: 'r-1', device: 'm1', ts_ms: NOW - 60_000, old_final: 45678.9, new_initial: 0, old_serial: 'A', new_serial: 'B',
    }, apply(engine()), NOW);
    expect(r.ok).toBe(true);
    expect(r.events).toEqual([expect.objectContaining({ kind: 'event', type: 'replacement', device: 'm1' })]);
  });

  it.each([
    ['a replacement in the future', 'replacement', { request_id: 'r-2', device: 'm1', ts_ms: NOW + 3_600_000, old_final: 1, new_initial: 0 }, 'in the future'],
    ['a missing reading', 'replacement', { request_id: 'r-3', device: 'm1', ts_ms: NOW, new_initial: 0 }, 'old_final'],
    ['an output span ending before it starts', 'output', { request_id: 'r-4', enpi: 'per_part', start_ms: NOW, end_ms: NOW - 1, quantity: 5 }, 'end_ms'],
    ['a negative quantity', 'quantity', { request_id: 'r-5', account: 'site', start_ms: NOW - 1, end_ms: NOW, quantity: -3 }, 'quantity'],
    ['an unknown kind', 'tariff', { request_id: 'r-6' }, 'unknown request'],
  ])('refuses %s with a reason, booking nothing', (_name, kind, payload, reason) => {
    const e = engine();
    const before = JSON.stringify(e.snapshot());
    const r = handleRequest(kind, payload, apply(e), NOW);
    expect(r.ok).toBe(false);
    expect(r.error).toContain(reason);
    expect(JSON.stringify(e.snapshot())).toBe(before);
  });

  it('books manual output for an EnPI', () => {
    const e = engine();
    const r = handleRequest('output', { request_id: 'o-1', enpi: 'per_part', start_ms: NOW - 900_000, end_ms: NOW, quantity: 120, by: 'shift lead' }, apply(e), NOW);
    expect(r.ok).toBe(true);
    expect(JSON.stringify(e.snapshot())).toContain('120');
  });
});

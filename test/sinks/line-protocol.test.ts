import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toLine, type Point } from '../../src/sinks/influx/line-protocol.js';
import { recordLines, recordToPoints, storedRecordLines, telemetryLineFromJson } from '../../src/sinks/influx/points.js';

const at = (tags: Record<string, string>, fields: Point['fields'], measurement = 'energy'): Point => ({ measurement, tags, fields, tsMs: 1_700_000_000_000 });

describe('line protocol', () => {
  it.each<[string, Point, string | null]>([
    ['plain', at({ site: 'plant-a' }, { quantity: 1.5 }), 'energy,site=plant-a quantity=1.5 1700000000000'],
    ['space in a tag value', at({ account: 'line 1' }, { q: 1 }), 'energy,account=line\\ 1 q=1 1700000000000'],
    ['comma in a tag value', at({ account: 'east,west' }, { q: 1 }), 'energy,account=east\\,west q=1 1700000000000'],
    ['equals in a tag value', at({ account: 'line=2' }, { q: 1 }), 'energy,account=line\\=2 q=1 1700000000000'],
    ['UTF-8 tag value', at({ site: '一号车间' }, { q: 1 }), 'energy,site=一号车间 q=1 1700000000000'],
    ['UTF-8 with space and comma', at({ site: '一号车间, east' }, { q: 1 }), 'energy,site=一号车间\\,\\ east q=1 1700000000000'],
    ['special characters in keys', at({ 'my tag': 'v' }, { 'a=b,c d': 1 }), 'energy,my\\ tag=v a\\=b\\,c\\ d=1 1700000000000'],
    ['quote in a tag value (not escaped)', at({ device: 'say "hi"' }, { q: 1 }), 'energy,device=say\\ "hi" q=1 1700000000000'],
    ['quote and backslash in a string field', at({}, { note: 'a "b" \\c' }), 'energy note="a \\"b\\" \\\\c" 1700000000000'],
    ['comma, equals and space in a string field', at({}, { flags: 'late_carried,no_data = x' }), 'energy flags="late_carried,no_data = x" 1700000000000'],
    ['UTF-8 string field', at({}, { status: '正常' }), 'energy status="正常" 1700000000000'],
    ['measurement with space and comma', at({}, { q: 1 }, 'my measure,x=1'), 'my\\ measure\\,x=1 q=1 1700000000000'],
    ['backslash inside a tag value stays', at({ path: 'C:\\meter' }, { q: 1 }), 'energy,path=C:\\meter q=1 1700000000000'],
    ['trailing backslash is doubled', at({ path: 'dir\\' }, { q: 1 }), 'energy,path=dir\\\\ q=1 1700000000000'],
    ['backslash before a comma is doubled', at({ path: 'a\\,b' }, { q: 1 }), 'energy,path=a\\\\\\,b q=1 1700000000000'],
    ['newline and tab in a tag value', at({ device: 'a\nb\tc' }, { q: 1 }), 'energy,device=a\\nb\\tc q=1 1700000000000'],
    ['integers are floats (no i suffix)', at({}, { n: 3 }), 'energy n=3 1700000000000'],
    ['huge and tiny numbers', at({}, { big: 1e21, small: 1.5e-7, neg: -2.5 }), 'energy big=1e+21,neg=-2.5,small=1.5e-7 1700000000000'],
    ['booleans', at({}, { estimated: true, ok: false }), 'energy estimated=true,ok=false 1700000000000'],
    ['non-finite numbers are left out', at({}, { a: Number.NaN, b: Number.POSITIVE_INFINITY, c: 1 }), 'energy c=1 1700000000000'],
    ['no usable field: no line', at({ site: 'x' }, { a: Number.NaN }), null],
    ['empty tag values are left out', at({ site: 'x', shift: '' }, { q: 1 }), 'energy,site=x q=1 1700000000000'],
    ['tags and fields sorted by key', at({ z: '1', a: '2' }, { y: 1, b: 2 }), 'energy,a=2,z=1 b=2,y=1 1700000000000'],
    ['sub-millisecond time rounded', { ...at({}, { q: 1 }), tsMs: 1.6 }, 'energy q=1 2'],
  ])('%s', (_name, point, expected) => {
    expect(toLine(point)).toBe(expected);
  });
});

describe('telemetry rows', () => {
  const id = { site: '一号车间', gateway: 'edge 1' };
  const telemetry = (values: Record<string, { value: unknown; unit: string; quality: string }>, extra: Record<string, unknown> = {}) => ({
    kind: 'telemetry', device: 'press "A", line=2', model: 'eastron-sdm630', ts_ms: 1_700_000_000_123, values, ...extra,
  });
  it.each<[string, Record<string, unknown>]>([
    ['good values', telemetry({ voltage_l1: { value: 230.1, unit: 'V', quality: 'good' }, frequency: { value: 50, unit: 'Hz', quality: 'good' } })],
    ['uncertain and bad values are marked', telemetry({
      a: { value: 1, unit: '', quality: 'uncertain' }, b: { value: null, unit: '', quality: 'bad' }, a_x: { value: 2, unit: '', quality: 'good' },
      c: { value: Number.NaN, unit: '', quality: 'good' }, d: { value: 'on', unit: '', quality: 'good' }, e: { value: true, unit: '', quality: 'stale' },
    })],
    ['origin from the record (bridge)', telemetry({ p: { value: 1, unit: 'W', quality: 'good' } }, { site: 'plant b', gateway: 'edge-9', replayed: true })],
    ['no model', { ...telemetry({ p: { value: 1, unit: 'W', quality: 'good' } }), model: null }],
  ])('the fast path writes the same row as the general one: %s', (_name, record) => {
    expect(recordLines(record, id)).toEqual(recordToPoints(record, id).map((p) => toLine(p)));
  });

  it('a poll without a usable value writes no row', () => {
    expect(recordLines(telemetry({ p: { value: Number.NaN, unit: 'W', quality: 'good' } }), id)).toEqual([]);
  });
});

describe('telemetry rows from the stored JSON (replay path)', () => {
  const id = { site: '一号车间', gateway: 'edge 1' };
  const name = fc.oneof(
    fc.constantFrom('voltage_l1', 'active_power_total', 'frequency', 'a', 'a_quality', 'b'),
    fc.string({ minLength: 1, maxLength: 6 }),
    fc.constantFrom('line 1', '一号,表', 'x=y', 'q"uote', 'back\\slash', 'tab\there'),
  );
  const value = fc.oneof(
    fc.double(), fc.integer(), fc.constantFrom(-0, 1e21, 1.5e-7, 123456789.123456, Number.NaN, Number.POSITIVE_INFINITY),
    fc.string({ maxLength: 5 }), fc.boolean(), fc.constant(null),
  );
  const entry = fc.record(
    { value, unit: fc.constantFrom('V', 'kWh', '', 'm3/h'), quality: fc.oneof(fc.constantFrom('good', 'uncertain', 'bad', 'stale'), fc.string({ maxLength: 4 })), source_ts_ms: fc.integer({ min: 0, max: 2e12 }) },
    { requiredKeys: ['value', 'unit', 'quality'] },
  );
  const record = fc.record(
    {
      kind: fc.constant('telemetry'),
      device: name,
      model: fc.oneof(fc.constant(null), fc.constant('eastron-sdm630'), name, fc.constant('')),
      ts_ms: fc.oneof(fc.integer({ min: 0, max: 2e12 }), fc.double({ min: 0, max: 2e12, noNaN: true })),
      values: fc.dictionary(name, entry, { maxKeys: 8 }),
      site: name,
      gateway: name,
      replayed: fc.boolean(),
    },
    { requiredKeys: ['kind', 'device', 'model', 'ts_ms', 'values'] },
  );

  it('writes exactly the row the parsed record gives, for any telemetry the outbox can hold', () => {
    fc.assert(fc.property(record, (r) => {
      const json = JSON.stringify(r);
      expect(storedRecordLines(json, id)).toEqual(recordLines(JSON.parse(json), id));
    }), { numRuns: 2000 });
  });

  it('a device whose records keep their layout gets the same rows, also when one record differs', () => {
    // Consecutive records of a device mostly have the same points in the same order:
    // the scan reuses the previous layout, and must notice any difference.
    const layoutsOf = [['voltage_l1', 'frequency', 'active_power_total'], ['frequency', 'voltage_l1', 'active_power_total'], ['voltage_l1', 'frequency']];
    const plainRecord = fc.record({
      device: fc.constantFrom('m1', 'm2', 'line 1'),
      layout: fc.nat(layoutsOf.length - 1),
      numbers: fc.array(fc.oneof(fc.double(), fc.integer()), { minLength: 3, maxLength: 3 }),
      odd: fc.option(fc.record({ at: fc.nat(2), quality: fc.constantFrom('uncertain', 'bad'), value: fc.constantFrom<unknown>(null, 'on', true, 5) }), { freq: 4 }),
      sourceTs: fc.boolean(),
    }).map(({ device, layout, numbers, odd, sourceTs }) => {
      const keys = layoutsOf[layout]!;
      const values: Record<string, Record<string, unknown>> = {};
      keys.forEach((k, i) => {
        values[k] = { value: numbers[i], unit: 'V', quality: 'good', ...(sourceTs && i === 0 ? { source_ts_ms: 5 } : {}) };
      });
      if (odd && odd.at < keys.length) values[keys[odd.at]!] = { value: odd.value, unit: '', quality: odd.quality };
      return { kind: 'telemetry', device, model: 'eastron-sdm630', ts_ms: 1_700_000_000_000, values };
    });
    fc.assert(fc.property(fc.array(plainRecord, { minLength: 1, maxLength: 30 }), (records) => {
      for (const r of records) {
        const json = JSON.stringify(r);
        expect(storedRecordLines(json, id)).toEqual(recordLines(JSON.parse(json), id));
      }
    }), { numRuns: 300 });
  });

  it('takes the text path for ordinary telemetry and falls back to parsing for anything else', () => {
    const plain = { kind: 'telemetry', device: 'm1', model: 'eastron-sdm630', ts_ms: 1_700_000_000_000, values: { voltage_l1: { value: 230.5, unit: 'V', quality: 'good' } } };
    expect(telemetryLineFromJson(JSON.stringify(plain), id)).toBe('reading,device=m1,gateway=edge\\ 1,model=eastron-sdm630,site=一号车间 voltage_l1=230.5 1700000000000');
    // An escape sequence, an unknown key, another kind: parsed instead.
    expect(telemetryLineFromJson(JSON.stringify({ ...plain, device: 'a\nb' }), id)).toBeUndefined();
    expect(telemetryLineFromJson(JSON.stringify({ ...plain, extra: 1 }), id)).toBeUndefined();
    expect(telemetryLineFromJson(JSON.stringify({ ...plain, kind: 'energy' }), id)).toBeUndefined();
    const energy = { kind: 'energy', account: 'line1', window: '15m', start_ms: 1_700_000_000_000, quantity: 1.5 };
    expect(storedRecordLines(JSON.stringify(energy), id)).toEqual(recordLines(energy, id));
  });
});

// Telemetry stored packed (head and numbers, the ids, units and qualities once in a layout)
// must come back out of the outbox exactly as JSON.stringify wrote the record: as text for
// any sink, and as the MQTT payload's bytes with the publisher's fields appended.
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DevicePoll, PointValue, Quality } from '../../src/core/sample.js';
import { telemetryFromPoll } from '../../src/core/telemetry.js';
import { Outbox } from '../../src/outbox/outbox.js';
import { MAX_LAYOUTS, PackedTelemetry, TelemetryLayouts, withSuffix } from '../../src/outbox/packed-telemetry.js';
import { telemetryJson, telemetryStored } from '../../src/pipeline/telemetry-json.js';

const text = fc.oneof(
  fc.constantFrom('voltage_l1', 'active_energy_import_total', 'V', 'kWh', 'm³/h', '°C', '', '电能', '"', '\\', '😀', '__proto__', '0', '10'),
  fc.string({ maxLength: 6 }),
);
const numeric = fc.oneof(
  fc.double().map((x) => Math.fround(x)), fc.double(), fc.integer(), fc.constant(null),
  fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324, Number.NaN, Number.POSITIVE_INFINITY),
);
const quality = fc.constantFrom<Quality>('good', 'good', 'good', 'invalid', 'uncertain');

/** A device's polls: the same points (ids, units) each time, qualities and numbers varying, sometimes a string or a source time. */
const devicePolls = fc.record({
  device: fc.oneof(fc.constantFrom('m1', 'press-1', '1号表'), fc.string({ maxLength: 5 })),
  model: fc.oneof(fc.constant(null), fc.constantFrom('eastron-sdm630'), fc.string({ maxLength: 4 })),
  points: fc.uniqueArray(fc.tuple(text, text), { selector: ([id]) => id, maxLength: 8 }),
  polls: fc.array(fc.record({
    tsMs: fc.integer({ min: 0, max: 2e12 }),
    readings: fc.array(fc.tuple(numeric, quality), { minLength: 8, maxLength: 8 }),
    odd: fc.constantFrom('none', 'none', 'none', 'string', 'source-time'),
  }), { minLength: 1, maxLength: 5 }),
});

interface DevicePolls { device: string; model: string | null; points: Array<[string, string]>; polls: Array<{ tsMs: number; readings: Array<[number | null, Quality]>; odd: string }> }

function pollsOf(d: DevicePolls): DevicePoll[] {
  return d.polls.map(({ tsMs, readings, odd }) => {
    const values: Record<string, PointValue> = {};
    d.points.forEach(([id, unit], i) => {
      const [value, q] = readings[i]!;
      Object.defineProperty(values, id, { value: { value, unit, quality: q }, enumerable: true, writable: true, configurable: true });
    });
    const first = d.points[0]?.[0];
    if (first !== undefined && odd === 'string') values[first] = { ...values[first]!, value: 'on' };
    if (first !== undefined && odd === 'source-time') values[first] = { ...values[first]!, sourceTsMs: 7 };
    return { device: d.device, tsMs, values };
  });
}

const suffix = Buffer.from(',"site":"厂区","gateway":"gw-1","replayed":true}');

describe('packed telemetry', () => {
  it('unpacks to exactly the record JSON.stringify writes, as text and as bytes with fields appended', () => {
    let packedCount = 0;
    let fullCount = 0;
    fc.assert(fc.property(fc.array(devicePolls, { minLength: 1, maxLength: 4 }), (devices) => {
      const layouts = new TelemetryLayouts();
      for (const d of devices) {
        for (const p of pollsOf(d)) {
          const full = telemetryJson(p, d.model);
          const stored = telemetryStored(p, d.model, layouts);
          if (full === undefined) {
            expect(stored).toBeUndefined();
            continue;
          }
          expect(full).toBe(JSON.stringify(telemetryFromPoll(p, d.model)));
          if (stored!.layout === null) {
            expect(stored!.json).toBe(full);
            fullCount += 1;
            continue;
          }
          packedCount += 1;
          expect(stored!.json.length).toBeLessThanOrEqual(full.length);
          const packed = new PackedTelemetry(stored!.json, layouts.get(stored!.layout.id));
          expect(packed.text()).toBe(full);
          expect(packed.bytes(suffix).equals(withSuffix(full, suffix))).toBe(true);
          expect(full.startsWith(packed.head)).toBe(true);
        }
      }
    }), { numRuns: 1500 });
    // Both ways were taken, many times.
    expect(packedCount).toBeGreaterThan(500);
    expect(fullCount).toBeGreaterThan(500);
  });

  it('packs a device’s second plain numeric poll, and shares one layout between meters of one model', () => {
    const layouts = new TelemetryLayouts();
    const values = (x: number): Record<string, PointValue> => ({
      voltage_l1: { value: Math.fround(230.1 + x), unit: 'V', quality: 'good' },
      active_energy_import_total: { value: 1234.5 + x, unit: 'kWh', quality: 'good' },
    });
    // The first poll of a device teaches its layout and goes out in full.
    expect(telemetryStored({ device: 'm1', tsMs: 1, values: values(0) }, 'sdm630', layouts)!.layout).toBeNull();
    const second = telemetryStored({ device: 'm1', tsMs: 2, values: values(1) }, 'sdm630', layouts)!;
    expect(second.json).toBe(`{"kind":"telemetry","device":"m1","model":"sdm630","ts_ms":2,"values":[${Math.fround(231.1)},1235.5]}`);
    telemetryStored({ device: 'm2', tsMs: 1, values: values(0) }, 'sdm630', layouts);
    expect(telemetryStored({ device: 'm2', tsMs: 2, values: values(2) }, 'sdm630', layouts)!.layout).toBe(second.layout);
    // A point turning invalid is another layout (its quality is in the layout).
    const invalid = { ...values(3), voltage_l1: { value: null, unit: 'V', quality: 'invalid' as Quality } };
    telemetryStored({ device: 'm1', tsMs: 3, values: invalid }, 'sdm630', layouts);
    const third = telemetryStored({ device: 'm1', tsMs: 4, values: invalid }, 'sdm630', layouts)!;
    expect(third.layout).not.toBe(second.layout);
    expect(new PackedTelemetry(third.json, third.layout!).text()).toBe(JSON.stringify(telemetryFromPoll({ device: 'm1', tsMs: 4, values: invalid }, 'sdm630')));
    expect(layouts.takeUnstored().map((l) => l.id)).toEqual([second.layout!.id, third.layout!.id]);
  });

  it('keeps the numbers of a record whose layout is gone, under their positions, as uncertain', () => {
    const packed = new PackedTelemetry('{"kind":"telemetry","device":"m1","model":null,"ts_ms":5,"values":[1.5,null]}', undefined);
    const record = JSON.parse(packed.text()) as { values: Record<string, { value: unknown; quality: string; status: string }> };
    expect(record.values).toEqual({
      0: { value: 1.5, unit: '', quality: 'uncertain', status: 'layout unknown' },
      1: { value: null, unit: '', quality: 'uncertain', status: 'layout unknown' },
    });
    expect(JSON.parse(packed.bytes(Buffer.from('}')).toString())).toEqual(record);
    // Numbers that do not fit the layout (more, fewer, none for some points) are kept the same way.
    const layouts = new TelemetryLayouts();
    const two = layouts.remember('m1', ['a', 'b'], ['V', 'A'], ['good', 'good'])!;
    const none = layouts.remember('m2', [], [], [])!;
    for (const [numbers, layout] of [['1,2,3', two], ['1', two], ['', two], ['1', none]] as const) {
      const odd = new PackedTelemetry(`{"kind":"telemetry","device":"m1","model":null,"ts_ms":5,"values":[${numbers}]}`, layout);
      const values = (JSON.parse(odd.text()) as { values: Record<string, { value: number; quality: string }> }).values;
      expect(Object.values(values).map((v) => [v.value, v.quality])).toEqual(numbers === '' ? [] : numbers.split(',').map((x) => [Number(x), 'uncertain']));
      // The payload bytes say the same as the text.
      expect(odd.bytes(suffix).equals(withSuffix(odd.text(), suffix))).toBe(true);
    }
    // A damaged row with a character beyond ASCII among its numbers: the bytes still say what the text says.
    const damaged = new PackedTelemetry('{"kind":"telemetry","device":"m1","model":null,"ts_ms":5,"values":[1,2é]}', two);
    expect(damaged.bytes(suffix).toString()).toBe(withSuffix(damaged.text(), suffix).toString());
    const fits = new PackedTelemetry('{"kind":"telemetry","device":"m1","model":null,"ts_ms":5,"values":[1,2]}', two);
    expect(JSON.parse(fits.text())).toEqual({ kind: 'telemetry', device: 'm1', model: null, ts_ms: 5, values: { a: { value: 1, unit: 'V', quality: 'good' }, b: { value: 2, unit: 'A', quality: 'good' } } });
    expect(JSON.parse(new PackedTelemetry('{"kind":"telemetry","device":"m2","model":null,"ts_ms":5,"values":[]}', none).text()).values).toEqual({});
  });
});

describe('outbox with packed telemetry', () => {
  let dir: string;
  const open: Outbox[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'eg-packed-'));
  });
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const outbox = (encoder?: (payload: string) => string) => {
    const o = new Outbox(join(dir, 'outbox.sqlite'), { sinks: ['mqtt', 'influx'], storeEncoder: encoder ? { sink: 'influx', encode: encoder } : undefined });
    open.push(o);
    return o;
  };
  const poll = (device: string, tsMs: number): DevicePoll => ({
    device, tsMs, values: { voltage_l1: { value: Math.fround(229.9 + tsMs / 1000), unit: 'V', quality: 'good' }, frequency: { value: 50.01, unit: 'Hz', quality: 'good' } },
  });
  const store = (o: Outbox, p: DevicePoll) => {
    const s = telemetryStored(p, 'sdm630', o.layouts)!;
    o.append([{ kind: 'telemetry', record: undefined, json: s.json, layout: s.layout }], 1);
    return s;
  };

  it('stores a third of the bytes, and hands every sink the full record, also after a reopen', () => {
    let o = outbox();
    const polls = [poll('m1', 1000), poll('m1', 2000), poll('m2', 1000), poll('m2', 2000)];
    const stored = polls.map((p) => store(o, p));
    expect(stored.map((s) => s.layout !== null)).toEqual([false, true, false, true]);
    const full = polls.map((p) => JSON.stringify(telemetryFromPoll(p, 'sdm630')));
    // From memory (the newest rows), then from disk after a reopen: the same texts.
    expect(o.next('mqtt', 10).records.map((r) => r.payload)).toEqual(full);
    o.close();
    open.pop();
    o = outbox();
    const records = o.next('mqtt', 10).records;
    expect(records.map((r) => r.payload)).toEqual(full);
    expect(records.map((r) => r.record)).toEqual(polls.map((p) => JSON.parse(JSON.stringify(telemetryFromPoll(p, 'sdm630')))));
    expect(records.map((r) => r.packed !== undefined)).toEqual([false, true, false, true]);
    expect(records[1]!.packed!.bytes(suffix).equals(withSuffix(full[1]!, suffix))).toBe(true);
    // The reopened outbox knows the stored layout: new polls pack against it, no new layout.
    const again = store(o, poll('m1', 3000));
    expect(again.layout).toBeNull(); // first poll of m1 in this process teaches the device its layout…
    const next = store(o, poll('m1', 4000));
    expect(next.layout!.id).toBe(stored[1]!.layout!.id); // …which is the stored one
    expect(o.next('influx', 10, {}, (payload) => payload).records.map((r) => r.encoded)).toEqual(
      [...full, ...[3000, 4000].map((t) => JSON.stringify(telemetryFromPoll(poll('m1', t), 'sdm630')))],
    );
  });

  it('gives a store encoder the full record, and stores a layout with the next commit when one failed', () => {
    const seen: string[] = [];
    const o = outbox((payload) => {
      seen.push(payload);
      return `line ${seen.length}`;
    });
    store(o, poll('m1', 1000));
    const s = telemetryStored(poll('m1', 2000), 'sdm630', o.layouts)!;
    expect(s.layout).not.toBeNull();
    // A commit the database refuses (a record without a kind) stores nothing, its layout neither.
    expect(() => o.append([{ kind: 'telemetry', record: undefined, json: s.json, layout: s.layout }, { kind: null as unknown as string, record: {} }], 2)).toThrow();
    o.append([{ kind: 'telemetry', record: undefined, json: s.json, layout: s.layout }], 3);
    expect(seen.at(-1)).toBe(JSON.stringify(telemetryFromPoll(poll('m1', 2000), 'sdm630')));
    o.close();
    open.pop();
    const reopened = outbox();
    expect(reopened.next('mqtt', 10).records.map((r) => r.payload)).toEqual(
      [1000, 2000].map((t) => JSON.stringify(telemetryFromPoll(poll('m1', t), 'sdm630'))),
    );
  });

  it('deletes the layouts no record refers to once they fill half of what may be made, and keeps those in use', () => {
    let o = outbox();
    store(o, poll('m1', 1000));
    const used = store(o, poll('m1', 2000)).layout!;
    o.close();
    open.pop();
    const db = new Database(join(dir, 'outbox.sqlite'));
    const insert = db.prepare('INSERT INTO layouts (id, spec) VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 0; i < MAX_LAYOUTS / 2; i++) insert.run(100 + i, JSON.stringify([[`p${i}`], ['V'], ['good']]));
    })();
    db.close();
    o = outbox();
    const left = new Database(join(dir, 'outbox.sqlite'), { readonly: true });
    expect(left.prepare('SELECT id FROM layouts').pluck().all()).toEqual([used.id]);
    left.close();
    expect(o.next('mqtt', 10).records.map((r) => r.payload)).toEqual([1000, 2000].map((t) => JSON.stringify(telemetryFromPoll(poll('m1', t), 'sdm630'))));
  });

  it('stores as JSON a text packed against a layout that is not its own', () => {
    const o = outbox();
    const foreign = new TelemetryLayouts();
    telemetryStored(poll('m1', 1000), 'sdm630', foreign);
    const s = telemetryStored(poll('m1', 2000), 'sdm630', foreign)!;
    o.append([{ kind: 'telemetry', record: undefined, json: s.json, layout: s.layout }], 1);
    const [r] = o.next('mqtt', 10).records;
    expect(r!.packed).toBeUndefined();
    expect(r!.payload).toBe(JSON.stringify(telemetryFromPoll(poll('m1', 2000), 'sdm630')));
  });
});

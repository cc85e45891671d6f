// The outbox text of a poll's telemetry, written straight from the poll, must be exactly
// what JSON.stringify makes of the record: sinks send it as it is (MQTT payloads) or scan
// it (InfluxDB rows), so one character off would change what leaves the gateway.
import fc from 'fast-check';
import { serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import type { DevicePoll, PointValue, Quality } from '../../src/core/sample.js';
import { telemetryFromPoll } from '../../src/core/telemetry.js';
import { telemetryJson } from '../../src/pipeline/telemetry-json.js';

const float32 = (x: number) => Math.fround(x);

/** Text of every kind: escapes, control characters, lone surrogates, astral characters. */
const anyText = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u2028', '\ud800', '\udfff', 'é', '😀', 'a', '/'), maxLength: 5 }),
);

/** Point ids, including those an object treats specially. */
const pointId = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('voltage_l1', 'active_energy_import_total', 'frequency', 'pf') },
  { weight: 3, arbitrary: anyText },
  { weight: 2, arbitrary: fc.constantFrom('0', '1', '10', '007', '-1', '4294967294', '4294967295', '1e3', '', '__proto__', 'constructor', 'toString', 'hasOwnProperty') },
);

const value = fc.oneof(
  fc.double().map(float32),
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, 1e21, 1.5e-7, 5e-324, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  anyText,
  fc.boolean(),
  fc.constant(null),
);

const quality = fc.oneof(fc.constantFrom<Quality>('good', 'uncertain', 'invalid', 'bad', 'stale'), anyText as fc.Arbitrary<Quality>);

const pointValue: fc.Arbitrary<PointValue> = fc.record({
  value,
  unit: fc.oneof(fc.constantFrom('V', 'kWh', '', 'm³/h', '°C'), anyText),
  quality,
  sourceTsMs: fc.oneof(fc.integer({ min: 0, max: 2e12 }), fc.double()),
  status: fc.oneof(fc.constantFrom('BadNoMatch', 'UncertainLastUsableValue'), anyText),
}, { requiredKeys: ['value', 'unit', 'quality'] });

/** Values filled in as producers do (assignment, in reading order), or with every id an own key. */
const values = fc.tuple(fc.array(fc.tuple(pointId, pointValue), { maxLength: 12 }), fc.boolean()).map(([entries, define]) => {
  const out: Record<string, PointValue> = {};
  for (const [id, v] of entries) {
    if (define) Object.defineProperty(out, id, { value: v, enumerable: true, writable: true, configurable: true });
    else out[id] = v;
  }
  return out;
});

const poll: fc.Arbitrary<DevicePoll> = fc.record({
  device: fc.oneof(fc.constantFrom('m1', 'press-1'), anyText),
  tsMs: fc.oneof(fc.integer({ min: 0, max: 2e12 }), fc.double()),
  values,
});
const model = fc.oneof(fc.constant(null), fc.constantFrom('eastron-sdm630'), anyText);

describe('telemetryJson', () => {
  it('writes exactly JSON.stringify(telemetryFromPoll(poll)), or declines', () => {
    fc.assert(fc.property(poll, model, (p, m) => {
      const text = telemetryJson(p, m);
      let reference: string | undefined;
      try {
        reference = JSON.stringify(telemetryFromPoll(p, m));
      } catch {
        // Assigning a "__proto__" id gave the values a point as prototype: the record
        // cannot be made at all, and the writer must not pretend otherwise.
      }
      if (text !== undefined) expect(text).toBe(reference);
      // It declines only what a plain record cannot hold as such: a "__proto__" id.
      else expect(Object.keys(p.values).includes('__proto__') || Object.getPrototypeOf(p.values) !== Object.prototype).toBe(true);
    }), { numRuns: 3000 });
  });

  it('writes the same for a device whose points keep (or change) their layout from poll to poll', () => {
    // Layouts are remembered per device and shared between devices: sequences of polls
    // drawn from a few layouts over a few devices hit, miss and switch them.
    const layoutArb = fc.array(pointId, { maxLength: 6 });
    const step = fc.tuple(
      fc.constantFrom('m1', 'm2', 'm3'), fc.nat(), fc.array(value, { minLength: 6, maxLength: 6 }),
      fc.array(fc.constantFrom<Quality>('good', 'good', 'good', 'invalid'), { minLength: 6, maxLength: 6 }),
      fc.array(fc.constantFrom('V', 'V', 'V', 'kWh'), { minLength: 6, maxLength: 6 }), fc.boolean(),
    );
    const pollsArb = fc.tuple(fc.array(layoutArb, { minLength: 1, maxLength: 3 }), fc.array(step, { minLength: 1, maxLength: 16 }));
    fc.assert(fc.property(pollsArb, model, ([shapes, steps], m) => {
      for (const [device, pick, vals, qualities, units, stamped] of steps) {
        const values: Record<string, PointValue> = {};
        shapes[pick % shapes.length]!.forEach((id, i) => {
          const v: PointValue = { value: vals[i]!, unit: units[i]!, quality: qualities[i]! };
          values[id] = stamped && i === 0 ? { ...v, sourceTsMs: 7 } : v;
        });
        const p = { device, tsMs: 1000, values };
        let reference: string | undefined;
        try {
          reference = JSON.stringify(telemetryFromPoll(p, m));
        } catch {
          // see above
        }
        const text = telemetryJson(p, m);
        if (text !== undefined || reference === undefined) expect(text).toBe(reference);
      }
    }), { numRuns: 1000 });
  });

  it('writes the same for polls of numbers and nulls only, the common case, from a remembered layout', () => {
    const numeric = fc.oneof(
      fc.double().map(float32), fc.double(), fc.integer(), fc.constant(null),
      fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324, -Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
    );
    const ids = ['voltage_l1', 'current_l1', 'active_power_total', 'frequency', 'active_energy_import_total'];
    fc.assert(fc.property(fc.array(fc.array(numeric, { minLength: ids.length, maxLength: ids.length }), { minLength: 2, maxLength: 5 }), (polls) => {
      for (const readings of polls) {
        const values: Record<string, PointValue> = {};
        ids.forEach((id, i) => { values[id] = { value: readings[i]!, unit: 'V', quality: 'good' }; });
        const p = { device: 'numeric-1', tsMs: 1000, values };
        expect(telemetryJson(p, 'eastron-sdm630')).toBe(JSON.stringify(telemetryFromPoll(p, 'eastron-sdm630')));
      }
    }), { numRuns: 500 });
  });

  it('keeps every digit of a float32 reading, so it parses back to the same double', () => {
    fc.assert(fc.property(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 20 }), (xs) => {
      const v: Record<string, PointValue> = {};
      xs.forEach((x, i) => { v[`p${i}`] = { value: x, unit: 'V', quality: 'good' }; });
      const parsed = JSON.parse(telemetryJson({ device: 'm1', tsMs: 1, values: v }, null)!) as { values: Record<string, { value: number }> };
      xs.forEach((x, i) => expect(Object.is(parsed.values[`p${i}`]!.value, x === 0 ? 0 : x)).toBe(true));
    }));
  });

  it('holds the text one byte per character even when ids and units come as two-byte strings', () => {
    // V8's serializer tags a string by how it is held: '"' one byte per character, 'c' two.
    // Node 24's V8 (13.6) tags by content instead, and how a string is held can no
    // longer be seen from here: there only the text is checked.
    const held = (text: string) => String.fromCharCode(serialize(text)[2]!);
    const twoByte = (text: string) => `${text}\u2014`.slice(0, -1);
    const visible = held(twoByte('voltage_l1')) === 'c';
    const values: Record<string, PointValue> = { [twoByte('voltage_l1')]: { value: 230.5, unit: twoByte('V'), quality: 'good' } };
    const text = telemetryJson({ device: twoByte('m7'), tsMs: 1, values }, twoByte('sdm630'))!;
    if (visible) expect(held(text)).toBe('"');
    else expect(process.versions.node.split('.').map(Number)[0]).toBeGreaterThan(20);
    expect(text).toBe(JSON.stringify(telemetryFromPoll({ device: 'm7', tsMs: 1, values }, 'sdm630')));
  });

  it('declines a poll whose values are not a plain object, and one with a value JSON would drop', () => {
    const inherited = Object.create({ extra: { value: 1, unit: 'V', quality: 'good' } }) as Record<string, PointValue>;
    inherited.own = { value: 2, unit: 'V', quality: 'good' };
    expect(telemetryJson({ device: 'm1', tsMs: 1, values: inherited }, null)).toBeUndefined();
    const dropped = { a: { value: undefined, unit: 'V', quality: 'good' } } as unknown as Record<string, PointValue>;
    expect(telemetryJson({ device: 'm1', tsMs: 1, values: dropped }, null)).toBeUndefined();
    expect(telemetryJson({ device: 'm1', tsMs: 1, values: {} }, null)).toBe(JSON.stringify(telemetryFromPoll({ device: 'm1', tsMs: 1, values: {} }, null)));
  });
});

// The profile example in the design notes writes byte and word order as two keys,
// `word_order: big, byte_order: big` (as pymodbus and Home Assistant users do), not as one
// `order`. A profile written that way must load and mean the same as the four-letter names:
// word order says which register comes first, byte order which byte inside each register.
import { describe, expect, it } from 'vitest';
import { parseProfile } from '../../src/profiles/catalogue.js';
import type { DriverProfile } from '../../src/profiles/schema.js';
import { decodeValue } from '../../src/protocols/modbus/decode.js';
import { PROFILE_HEAD as HEAD } from './support.js';

function load(body: string): DriverProfile {
  const result = parseProfile(HEAD + body, 'meter.yaml');
  if (!result.ok) throw new Error(result.problems.join('\n'));
  if (result.profile.protocol !== 'modbus') throw new Error('not modbus');
  return result.profile;
}

function problems(body: string): string[] {
  const result = parseProfile(HEAD + body, 'meter.yaml');
  return result.ok ? [] : result.problems;
}

// 123456.0 as an IEEE 754 single is 0x47F12000: bytes A=47 B=F1 C=20 D=00. The registers as
// they arrive for each arrangement, written out by hand.
const WIRE: Record<string, number[]> = {
  'big big': [0x47f1, 0x2000],
  'little big': [0x2000, 0x47f1],
  'big little': [0xf147, 0x0020],
  'little little': [0x0020, 0xf147],
};

describe('word_order and byte_order', () => {
  it('loads the design notes\' example profile, big/big being ABCD', () => {
    const profile = load(`defaults: { function: input, type: float32, word_order: big, byte_order: big }
read: { max_registers: 80, max_gap: 10 }
points:
  - { id: voltage_l1, address: 0x0000, unit: V }
  - { id: active_power_total, address: 0x0034, unit: W }
  - { id: active_energy_import_total, address: 0x0048, unit: kWh, counter: {} }
`);
    const v = profile.points.find((p) => p.id === 'voltage_l1')!;
    expect(v.order).toBe('ABCD');
    // 230.5 V is 0x43668000.
    expect(decodeValue(v, [0x4366, 0x8000])).toEqual({ value: 230.5, quality: 'good' });
  });

  it.each(Object.entries(WIRE))('word_order/byte_order %s decodes 123456 from the registers as sent', (pair, words) => {
    const [word, byte] = pair.split(' ');
    for (const where of ['defaults', 'point'] as const) {
      const keys = `word_order: ${word}, byte_order: ${byte}`;
      const profile = load(where === 'defaults'
        ? `defaults: { type: float32, ${keys} }\npoints:\n  - { id: x, address: 0 }\n`
        : `points:\n  - { id: x, address: 0, type: float32, ${keys} }\n`);
      expect(decodeValue(profile.points[0]!, words)).toEqual({ value: 123456, quality: 'good' });
    }
  });

  it('lets a point change one of the two and keep the other from the defaults', () => {
    const profile = load(`defaults: { type: float32, word_order: little, byte_order: big }
points:
  - { id: a, address: 0 }
  - { id: b, address: 2, byte_order: little }
  - { id: c, address: 4, order: ABCD }
`);
    expect(decodeValue(profile.points[0]!, WIRE['little big']!).value).toBe(123456);
    expect(decodeValue(profile.points[1]!, WIRE['little little']!).value).toBe(123456);
    expect(decodeValue(profile.points[2]!, WIRE['big big']!).value).toBe(123456);
  });

  it('accepts the words in any case (Big, LITTLE)', () => {
    const profile = load('points:\n  - { id: x, address: 0, type: float32, word_order: LITTLE, byte_order: Big }\n');
    expect(decodeValue(profile.points[0]!, WIRE['little big']!).value).toBe(123456);
  });

  it('refuses order together with word_order or byte_order in one place, and unknown words, with file:line', () => {
    expect(problems('points:\n  - { id: x, address: 0, type: float32, order: CDAB, word_order: big }\n'))
      .toEqual([expect.stringMatching(/^meter\.yaml:8 points\[0\]\.order: .*order.*word_order/)]);
    expect(problems('points:\n  - { id: x, address: 0, type: float32, word_order: middle }\n'))
      .toEqual([expect.stringMatching(/^meter\.yaml:8 points\[0\]\.word_order: .*"middle".*big.*little/)]);
    expect(problems('defaults: { order: ABCD, byte_order: little }\npoints:\n  - { id: x, address: 0 }\n'))
      .toEqual([expect.stringMatching(/^meter\.yaml:7 defaults\.order: /)]);
  });
});

import { describe, expect, it } from 'vitest';
import { DriverProfile } from '../../src/profiles/schema.js';

const base = {
  schema: 'energy-gateway.driver/v1', id: 'acme-m1', manufacturer: 'Acme', model: 'M1',
  references: [{ title: 'M1 map', revision: '1' }], protocol: 'modbus',
};
const messages = (extra: Record<string, unknown>): string[] => {
  const parsed = DriverProfile.safeParse({ ...base, ...extra });
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('DriverProfile rejects what would decode wrongly', () => {
  it.each([
    { what: 'a bit point without its bit', points: [{ id: 'alarm', address: 1, type: 'bit' }], error: /points\.0\.bit: type bit needs/ },
    { what: 'a coil that is not bool', points: [{ id: 'relay', address: 1, function: 'coil', type: 'uint16' }], error: /points\.0\.type: coil points are type bool/ },
    { what: 'a string without length', points: [{ id: 'serial', address: 1, type: 'string' }], error: /points\.0\.length: type string needs/ },
    { what: 'overlapping registers', points: [{ id: 'a', address: 0, type: 'float32' }, { id: 'b', address: 1 }], error: /points\.1\.address: holding registers of "b" overlap "a"/ },
    { what: 'a counter on a bool', points: [{ id: 'door', address: 0, type: 'bool', function: 'discrete', counter: {} }], error: /points\.0\.counter: "counter" needs a numeric type/ },
    { what: 'a scale register that does not exist', points: [{ id: 'p', address: 0, scale_register: 'p_sf' }], error: /points\.0\.scale_register: "p_sf" is not another point/ },
    { what: 'energy in Wh', points: [{ id: 'active_energy_import_total', address: 0, unit: 'Wh' }], error: /published in kWh/ },
    { what: 'a point past the last address', points: [{ id: 'x', address: 65535, type: 'uint32' }], error: /runs past address 65535/ },
    { what: 'a duplicate point id', points: [{ id: 'x', address: 0 }, { id: 'x', address: 1 }], error: /points\.1\.id: duplicate point id "x"/ },
  ])('$what', ({ points, error }) => {
    expect(messages({ points })).toEqual(expect.arrayContaining([expect.stringMatching(error)]));
  });

  it('rejects a point inside an unreadable range', () => {
    expect(messages({ unreadable: [{ function: 'holding', from: 10, to: 20 }], points: [{ id: 'x', address: 19, type: 'uint32' }] }))
      .toEqual([expect.stringMatching(/points\.0\.address: "x" lies in an unreadable holding range/)]);
  });

  it('rejects a setting that shadows a point', () => {
    expect(messages({ settings: { ct: { default: 1 } }, points: [{ id: 'ct', address: 0 }, { id: 'current_l1', address: 1, unit: 'A', multiply_by: ['ct'] }] }))
      .toEqual([expect.stringMatching(/settings\.ct: setting "ct" has the same name as a point/)]);
  });

  it('lets bit points share a register and applies defaults', () => {
    const parsed = DriverProfile.parse({
      ...base, defaults: { function: 'input', order: 'little' },
      points: [{ id: 'a', address: 3, type: 'bit', bit: 0 }, { id: 'b', address: 3, type: 'bit', bit: 1 }, { id: 'c', address: 4, type: 'float32', interval: '15m' }],
    });
    expect(parsed.points.map((p) => [p.id, p.function, p.order, p.interval])).toEqual([
      ['a', 'input', 'DCBA', undefined], ['b', 'input', 'DCBA', undefined], ['c', 'input', 'DCBA', 900_000],
    ]);
  });

  it('takes a coil or discrete input without a type as bool, whatever the default register type', () => {
    const parsed = DriverProfile.parse({
      ...base, defaults: { function: 'input', type: 'float32' },
      points: [{ id: 'breaker', address: 3, function: 'coil' }, { id: 'door', address: 4, function: 'discrete' }, { id: 'p', address: 0 }],
    });
    expect(parsed.points.map((p) => [p.id, p.function, p.type])).toEqual([['breaker', 'coil', 'bool'], ['door', 'discrete', 'bool'], ['p', 'input', 'float32']]);
  });

  it('accepts 64-bit sentinels written as hex strings', () => {
    const parsed = DriverProfile.parse({ ...base, points: [{ id: 'e', address: 0, type: 'uint64', invalid: ['0xFFFFFFFFFFFFFFFF', 0x8000] }] });
    expect(parsed.points[0]!.invalid).toEqual([0xffffffffffffffffn, 0x8000]);
    const int64 = DriverProfile.parse({ ...base, points: [{ id: 'e', address: 0, type: 'int64', invalid: ['0x8000000000000000', '-9223372036854775808'] }] });
    expect(int64.points[0]!.invalid).toEqual([0x8000000000000000n, -0x8000000000000000n]);
  });

  it('refuses a 64-bit sentinel written as a number past 2^53, which would match another pattern', () => {
    // 9223372036854775807 (0x7FFFFFFFFFFFFFFF) as a YAML number is 2^63, the pattern 0x8000000000000000.
    const r = DriverProfile.safeParse({ ...base, points: [{ id: 'e', address: 0, type: 'int64', invalid: [9223372036854775807] }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'points.0.invalid: 9223372036854776000 is past 2^53, where a number is not exact; write a 64-bit pattern as a "0x…" string (e.g. "0x8000000000000000")',
    ]);
    // A float's sentinel may be as large as it likes: it is compared as a value.
    expect(DriverProfile.safeParse({ ...base, points: [{ id: 'f', address: 0, type: 'float32', invalid: [-3.4028234663852886e38] }] }).success).toBe(true);
  });
});

describe('pointProblems', () => {
  it('checks a point list assembled outside a profile, e.g. a device with inline points', async () => {
    const { pointProblems, resolvePoint } = await import('../../src/profiles/schema.js');
    const points = [
      resolvePoint({ id: 'current_l1', address: 0, unit: 'A', multiply_by: ['ct_ratio'] }),
      resolvePoint({ id: 'flag', address: 0, type: 'bit', unit: '' }),
    ];
    expect(pointProblems(points).map((p) => `${p.path.join('.')}: ${p.message}`)).toEqual(expect.arrayContaining([
      expect.stringMatching(/^points\.0\.multiply_by\.0: "ct_ratio" is neither a point nor a setting/),
      expect.stringMatching(/^points\.1\.bit: type bit needs/),
      expect.stringMatching(/^points\.1\.address: holding registers of "flag" overlap "current_l1"/),
    ]));
    expect(pointProblems(points.slice(0, 1), { ct_ratio: { default: 1 } })).toEqual([]);
  });
});

describe('type names other tools use', () => {
  it.each([
    ['FLOAT32', 'float32'], ['float', 'float32'], ['REAL', 'float32'], ['Float32-IEEE', 'float32'],
    ['double', 'float64'], ['LREAL', 'float64'], ['INT16', 'int16'], ['DINT', 'int32'], ['UDINT', 'uint32'],
    ['u16', 'uint16'], ['s32', 'int32'], ['UINT64', 'uint64'], ['bcd', 'bcd16'], ['BCD32', 'bcd32'], ['Bool', 'bool'],
  ])('%s is %s', (name, type) => {
    const parsed = DriverProfile.parse({ ...base, defaults: { type: name }, points: [{ id: 'x', address: 0, type: name, function: type === 'bool' ? 'coil' : 'holding' }] });
    expect(parsed.points[0]!.type).toBe(type);
  });
  it('rejects a type it does not know, naming the valid ones', () => {
    expect(messages({ points: [{ id: 'x', address: 0, type: 'float33' }] })).toEqual([expect.stringMatching(/points\.0\.type: unknown type "float33" \(use bool, bit, int16/)]);
  });
});

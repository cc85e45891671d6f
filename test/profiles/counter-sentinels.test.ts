// A cumulative counter in a signed register can never hold the type's most negative value
// (-2^63 Wh is not an energy any meter has counted), and that pattern is what meters send for
// "not available" (PowerLogic devices among them). Published as a reading it would be a good
// -9.2e15 kWh: every counter interval and energy account after it ruined. So every shipped
// profile's signed counters treat it as invalid.
import { describe, expect, it } from 'vitest';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { decodeValue } from '../../src/protocols/modbus/decode.js';

const catalogue = loadCatalogueSync();

/** The most negative value of a signed type, as the registers carry it (0x8000, 0x0000, …). */
const MOST_NEGATIVE: Record<string, number[]> = {
  int16: [0x8000],
  int32: [0x8000, 0x0000],
  int64: [0x8000, 0x0000, 0x0000, 0x0000],
};

describe('signed counters of the shipped profiles', () => {
  const counters = [...catalogue.values()].flatMap((profile) => profile.points
    .filter((p) => p.counter !== undefined && p.type in MOST_NEGATIVE)
    .map((p) => [`${profile.id} ${p.id}`, p] as const));

  it('exist (schneider-pm5300 has INT64 energies)', () => {
    expect(counters.map(([name]) => name)).toContain('schneider-pm5300 active_energy_import_total');
  });

  it.each(counters)('%s: the most negative value is invalid, not a reading', (_name, point) => {
    // Whatever the order, the pattern is the sign bit alone: swap the words and bytes to match.
    const words = [...MOST_NEGATIVE[point.type]!];
    const reversed = point.order === 'CDAB' || point.order === 'DCBA' ? words.reverse() : words;
    const wire = point.order === 'BADC' || point.order === 'DCBA' ? reversed.map((w) => ((w & 0xff) << 8) | (w >> 8)) : reversed;
    expect(decodeValue(point, wire)).toEqual({ value: null, quality: 'invalid' });
  });
});

// Addresses as Chinese and European manuals print them: "2000H", "0061H", "0x2000" (a YAML
// string when quoted). All are hexadecimal on-wire addresses, so a profile takes them as such;
// any other text is refused with file:line, never read as a decimal or shifted.
import { describe, expect, it } from 'vitest';
import { parseProfile } from '../../src/profiles/catalogue.js';
import { PROFILE_HEAD as HEAD } from './support.js';

function addressOf(written: string): number {
  const result = parseProfile(`${HEAD}points:\n  - { id: x, address: ${written} }\n`, 'meter.yaml');
  if (!result.ok) throw new Error(result.problems.join('\n'));
  if (result.profile.protocol !== 'modbus') throw new Error('not modbus');
  return result.profile.points[0]!.address;
}

describe('hex addresses as manuals print them', () => {
  it.each([
    ['2000H', 0x2000], ['200Ch', 0x200c], ['0061H', 0x61], ['"401EH"', 0x401e],
    ['"0x2000"', 0x2000], ['0x2000', 0x2000], ['72', 72], ['FFFFH', 65535],
  ])('%s is address %i', (written, address) => {
    expect(addressOf(written)).toBe(address);
  });

  it('takes them in unreadable ranges too', () => {
    const result = parseProfile(`${HEAD}unreadable: [{ function: holding, from: 2046H, to: 2050H }]\npoints:\n  - { id: x, address: 2000H }\n`, 'meter.yaml');
    expect(result.ok).toBe(true);
    if (result.ok && result.profile.protocol === 'modbus') expect(result.profile.unreadable[0]).toMatchObject({ from: 0x2046, to: 0x2050 });
  });

  it.each(['"30001"', 'H', '10000H', '"0x"', '"40001 "', 'x12'])('refuses %s (not a number nor hex with H) with file:line', (written) => {
    const result = parseProfile(`${HEAD}points:\n  - { id: x, address: ${written} }\n`, 'meter.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems[0]).toMatch(/^meter\.yaml:8 points\[0\]\.address: /);
  });
});

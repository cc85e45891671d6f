// The register table as manuals name it: by function code ("FC 04", "function 3"), or as
// "input registers", "holding register", "coils". Each names one of the four tables; a profile
// takes them and reads with that function code. Anything else is refused with file:line.
import { describe, expect, it } from 'vitest';
import { parseProfile } from '../../src/profiles/catalogue.js';
import { planProfile } from '../../src/profiles/planner.js';
import { PROFILE_HEAD as HEAD } from './support.js';

function load(body: string) {
  const result = parseProfile(HEAD + body, 'meter.yaml');
  if (!result.ok) throw new Error(result.problems.join('\n'));
  if (result.profile.protocol !== 'modbus') throw new Error('not modbus');
  return result.profile;
}

describe('register tables by function code and by name', () => {
  // Modbus Application Protocol v1.1b3 §6: 01 Read Coils, 02 Read Discrete Inputs,
  // 03 Read Holding Registers, 04 Read Input Registers.
  it.each([
    ['1', 'coil'], ['2', 'discrete'], ['3', 'holding'], ['4', 'input'],
    ['FC03', 'holding'], ['fc4', 'input'], ['"0x04"', 'input'], ['FC 01', 'coil'],
    ['holding_register', 'holding'], ['Holding Registers', 'holding'], ['input_registers', 'input'],
    ['Input', 'input'], ['coils', 'coil'], ['discrete_inputs', 'discrete'], ['Discrete Input', 'discrete'],
  ])('function: %s is %s', (written, fn) => {
    const bit = fn === 'coil' || fn === 'discrete';
    const profile = load(`points:\n  - { id: x, address: 5, function: ${written}${bit ? '' : ', type: uint16'} }\n`);
    expect(profile.points[0]!.function).toBe(fn);
    expect(planProfile(profile, 1000)[0]!.requests[0]!.function).toBe(fn);
  });

  it('takes them in defaults and unreadable ranges too', () => {
    const profile = load(`defaults: { function: 4, type: float32 }
unreadable: [{ function: FC04, from: 10, to: 11 }]
points:
  - { id: a, address: 0 }
`);
    expect(profile.points[0]!.function).toBe('input');
    expect(profile.unreadable[0]!.function).toBe('input');
  });

  it('refuses a function code that reads no table (5, 16) and unknown names, with file:line', () => {
    for (const written of ['5', '16', 'register']) {
      const result = parseProfile(`${HEAD}points:\n  - { id: x, address: 0, function: ${written} }\n`, 'meter.yaml');
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.problems).toEqual([expect.stringMatching(/^meter\.yaml:8 points\[0\]\.function: unknown function .*coil, discrete, holding, input/)]);
    }
  });
});

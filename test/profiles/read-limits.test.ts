// A profile's read.max_registers is a promise to the device: no request longer than that. A
// point wider than the limit cannot be read in one request, and the planner never splits a
// point (its halves would come from two different moments), so such a profile is refused at
// load time with a line that says which point and why, instead of planning a request the
// device rejects.
import { describe, expect, it } from 'vitest';
import { parseProfile } from '../../src/profiles/catalogue.js';
import { planProfile } from '../../src/profiles/planner.js';
import { PROFILE_HEAD as HEAD } from './support.js';

describe('read.max_registers against the width of the points', () => {
  it('refuses a float32 point under max_registers 1, naming the line of the point', () => {
    const result = parseProfile(`${HEAD}read: { max_registers: 1 }
points:
  - { id: voltage_l1, address: 0, type: uint16, unit: V }
  - { id: voltage_l2, address: 2, type: float32, unit: V }
`, 'meter.yaml');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(/^meter\.yaml:10 points\[1\]\.type: .*2 registers.*max_registers 1/);
  });

  it('refuses a string longer than max_registers', () => {
    const result = parseProfile(`${HEAD}read: { max_registers: 20 }
points:
  - { id: serial_number, address: 0, type: string, length: 21 }
`, 'meter.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems[0]).toMatch(/^meter\.yaml:9 points\[0\]\.length: .*21 registers.*max_registers 20/);
  });

  it('plans every request within the limit when the points fit', () => {
    const result = parseProfile(`${HEAD}read: { max_registers: 4, max_gap: 10 }
points:
  - { id: voltage_l1, address: 0, type: float32, unit: V }
  - { id: voltage_l2, address: 2, type: float32, unit: V }
  - { id: voltage_l3, address: 4, type: float32, unit: V }
  - { id: active_energy_import_total, address: 8, type: int64, unit: kWh }
`, 'meter.yaml');
    expect(result.ok).toBe(true);
    if (!result.ok || result.profile.protocol !== 'modbus') return;
    const requests = planProfile(result.profile, 1000).flatMap((c) => c.requests);
    expect(requests.map((r) => [r.address, r.count])).toEqual([[0, 4], [4, 2], [8, 4]]);
  });
});

import { describe, expect, it } from 'vitest';
import { opcuaDeviceSpec } from '../../../src/protocols/opcua/spec.js';

describe('inline points → OpcuaDeviceSpec', () => {
  it('carries node ids, units, counters and per-point subscription options (ms)', () => {
    const { spec, problems } = opcuaDeviceSpec({
      id: 'press_line', poll_interval: 1000,
      points: [
        { id: 'production_count', unit: 'count', node_id: 'ns=3;s=Line1.GoodParts', counter: {} },
        { id: 'active_power_total', unit: 'W', node_id: 'ns=3;s=Line1.Power', sampling_interval: 250, queue_size: 5, deadband: { type: 'absolute', value: 10 } },
        { id: 'active_energy_import_total', unit: 'kWh', node_id: 'ns=3;i=1042', mode: 'poll', counter: { max: 99_999_999 } },
      ],
    });
    expect(problems).toEqual([]);
    expect(spec).toEqual({
      id: 'press_line', poll_interval_ms: 1000,
      points: [
        { id: 'production_count', unit: 'count', node_id: 'ns=3;s=Line1.GoodParts', counter: {} },
        { id: 'active_power_total', unit: 'W', node_id: 'ns=3;s=Line1.Power', sampling_interval_ms: 250, queue_size: 5, deadband: { type: 'absolute', value: 10 } },
        { id: 'active_energy_import_total', unit: 'kWh', node_id: 'ns=3;i=1042', mode: 'poll', counter: { max: 99_999_999 } },
      ],
    });
  });

  it('a point without node_id is a problem naming its index, the others still go through', () => {
    const { spec, problems } = opcuaDeviceSpec({ id: 'd', poll_interval: 5000, points: [{ id: 'a', unit: '' }, { id: 'b', unit: '', node_id: 'ns=1;s=B' }] });
    expect(problems).toEqual([{ point: 0, message: expect.stringContaining('needs node_id') as unknown }]);
    expect(spec.points.map((p) => p.id)).toEqual(['b']);
  });
});

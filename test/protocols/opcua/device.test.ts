// A device on an OPC UA bus → the points the source polls (pure: no server).
import { describe, expect, it } from 'vitest';
import { opcuaProblems } from '../../../src/app/opcua-sources.js';
import { parseConfigText } from '../../../src/config/loader.js';
import { loadCatalogueSync } from '../../../src/profiles/catalogue.js';
import { resolveOpcuaDevice } from '../../../src/protocols/opcua/device.js';

const catalogue = loadCatalogueSync();
const ECM = 'http://opcfoundation.org/UA/ECM/';

function config(devices: string) {
  return parseConfigText(`
version: 1
gateway: { id: edge-01, site: plant-a }
buses:
  - { id: plc1, type: opcua, endpoint: "opc.tcp://127.0.0.1:4840" }
  - { id: panel, type: modbus_tcp, host: 127.0.0.1 }
devices:
${devices}
`, 'gateway.yaml');
}

function resolve(devices: string) {
  return resolveOpcuaDevice(config(devices).devices[0]!, 0, catalogue);
}

describe('resolveOpcuaDevice', () => {
  it('places every profile point under the root, with the namespace URI, unit, scale and counter', () => {
    const { spec, problems } = resolve('  - { id: press, bus: plc1, driver: opc-34100-energy-profile-e2, root: "nsu=urn:acme;s=P1", poll_interval: 2s }');
    expect(problems).toEqual([]);
    expect(spec?.poll_interval_ms).toBe(2000);
    expect(spec?.points).toEqual([
      { id: 'active_power_total', node_id: 'nsu=urn:acme;s=P1/ecm:AcActivePowerTotal', unit: 'W',
        browse_path: { root: 'nsu=urn:acme;s=P1', steps: [{ namespace: { uri: ECM }, name: 'AcActivePowerTotal' }] } },
      { id: 'active_energy_import_total', node_id: 'nsu=urn:acme;s=P1/ecm:AcActiveEnergyTotalImportLp', unit: 'kWh', scale: 0.001, counter: {},
        browse_path: { root: 'nsu=urn:acme;s=P1', steps: [{ namespace: { uri: ECM }, name: 'AcActiveEnergyTotalImportLp' }] } },
      { id: 'active_energy_export_total', node_id: 'nsu=urn:acme;s=P1/ecm:AcActiveEnergyTotalExportLp', unit: 'kWh', scale: 0.001, counter: {},
        browse_path: { root: 'nsu=urn:acme;s=P1', steps: [{ namespace: { uri: ECM }, name: 'AcActiveEnergyTotalExportLp' }] } },
    ]);
  });

  it('inline points override profile points by id or add new ones; only_points restricts; namespaces: may fix an index', () => {
    const { spec, problems } = resolve(`  - id: press
    bus: plc1
    driver: opc-34100-energy-profile-e2
    root: "ns=2;i=100"
    namespaces: { ecm: 7 }
    only_points: [active_power_total, production_count]
    points:
      - { id: active_power_total, browse_path: "ecm:Sub/0:Power", unit: W, mode: poll }
      - { id: production_count, node_id: "nsu=urn:acme;s=Good", unit: count, counter: {} }`);
    expect(problems).toEqual([]);
    expect(spec?.points).toEqual([
      { id: 'active_power_total', node_id: 'ns=2;i=100/ecm:Sub/0:Power', unit: 'W', mode: 'poll',
        browse_path: { root: 'ns=2;i=100', steps: [{ namespace: { index: 7 }, name: 'Sub' }, { namespace: { index: 0 }, name: 'Power' }] } },
      { id: 'production_count', node_id: 'nsu=urn:acme;s=Good', unit: 'count', counter: {} },
    ]);
  });

  it('inline points without a driver work as before', () => {
    const { spec, problems } = resolve('  - { id: line, bus: plc1, points: [{ id: production_count, node_id: "ns=3;s=Line1.GoodParts", unit: count, counter: {} }] }');
    expect(problems).toEqual([]);
    expect(spec?.points).toEqual([{ id: 'production_count', node_id: 'ns=3;s=Line1.GoodParts', unit: 'count', counter: {} }]);
  });

  it('carries per-point subscription options (durations in ms), poll mode and counter ranges', () => {
    const { spec, problems } = resolve(`  - id: press_line
    bus: plc1
    poll_interval: 1s
    points:
      - { id: production_count, unit: count, node_id: "ns=3;s=Line1.GoodParts", counter: {} }
      - { id: active_power_total, unit: W, node_id: "ns=3;s=Line1.Power", sampling_interval: 250ms, queue_size: 5, deadband: { type: absolute, value: 10 } }
      - { id: active_energy_import_total, unit: kWh, node_id: "ns=3;i=1042", mode: poll, counter: { max: 99999999 } }`);
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

  it.each([
    ['  - { id: m, bus: plc1, driver: opc-34100-energy-profile-e2 }', ['devices', 0, 'root'], /set root:/],
    ['  - { id: m, bus: plc1, points: [{ id: x, node_id: "ns=2;s=X" }], root: "ns=2;s=M" }', ['devices', 0, 'root'], /root has no effect/],
    ['  - { id: m, bus: plc1, driver: eastron-sdm630 }', ['devices', 0, 'driver'], /is a Modbus profile/],
    ['  - { id: m, bus: plc1, driver: nobody-x1 }', ['devices', 0, 'driver'], /unknown driver "nobody-x1" \(OPC UA profiles: opc-34100-energy-profile-e2, opc-34100-energy-profile-e3\)/],
    ['  - { id: m, bus: plc1, points: [{ id: x, unit: W }] }', ['devices', 0, 'points', 0, 'node_id'], /needs a node_id/],
    ['  - { id: m, bus: plc1, root: "ns=2;s=M", points: [{ id: x, browse_path: "X" }] }', ['devices', 0, 'points', 0, 'browse_path'], /not <namespace alias>:<browse name>/],
    ['  - { id: m, bus: plc1, driver: opc-34100-energy-profile-e2, root: "ns=2;s=M", only_points: [voltage_l1] }', ['devices', 0, 'only_points', 0], /no point "voltage_l1"/],
  ])('%s → a problem at its path', (device, path, message) => {
    const { spec, problems } = resolve(device);
    expect(spec).toBeUndefined();
    expect(problems).toContainEqual({ path, message: expect.stringMatching(message) as unknown as string });
  });
});

describe('opcuaProblems on Modbus devices', () => {
  it('names an OPC UA profile used on a Modbus bus, and root/namespaces that would do nothing there', () => {
    const problems = opcuaProblems(config('  - { id: meter, bus: panel, driver: opc-34100-energy-profile-e3, root: "ns=2;s=M" }'), catalogue);
    expect(problems).toEqual([
      { path: ['devices', 0, 'root'], message: 'root only applies to devices on an OPC UA bus' },
      { path: ['devices', 0, 'driver'], message: '"opc-34100-energy-profile-e3" is an OPC UA profile (protocol: opcua); a device on Modbus bus "panel" needs a Modbus profile' },
    ]);
  });
});

// Which channels the energy core counts, and how, from devices' profiles (Modbus and OPC UA) and inline points.
import { describe, expect, it } from 'vitest';
import { engineConfigFrom } from '../../src/app/engine-config.js';
import { parseConfigText } from '../../src/config/loader.js';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';

const catalogue = loadCatalogueSync();

const config = parseConfigText(`
version: 1
gateway: { id: edge-01, site: plant-a }
buses:
  - { id: panel, type: modbus_tcp, host: 127.0.0.1 }
  - { id: plc1, type: opcua, endpoint: "opc.tcp://127.0.0.1:4840" }
devices:
  - { id: incomer, bus: panel, driver: eastron-sdm630, unit_id: 1 }
  - { id: press-meter, bus: plc1, driver: opc-34100-energy-profile-e3, root: "nsu=urn:acme:press;s=Press1.Energy" }
  - id: press-plc
    bus: plc1
    points:
      - { id: production_count, node_id: "ns=3;s=Line1.GoodParts", unit: count, counter: { max: 65535 } }
      - { id: active_power_total, node_id: "ns=3;s=Line1.Power", unit: W }
accounts:
  - { id: site, carrier: electricity, level: site, meters: [{ device: incomer }] }
  - id: press
    carrier: electricity
    level: line
    meters: [{ device: press-meter }, { device: press-plc, point: active_power_total }]
enpi:
  - id: press-kwh-per-part
    accounts: [press]
    output: { device: press-plc, point: production_count, unit: count }
`, 'gateway.yaml');

describe('engineConfigFrom', () => {
  it('takes counter and unit from Modbus profiles, OPC UA profiles and inline points alike', () => {
    const channels = engineConfigFrom(config, catalogue).channels ?? [];
    const byKey = new Map(channels.map((c) => [`${c.device}/${c.point}`, c]));
    expect(byKey.get('incomer/active_energy_import_total')).toMatchObject({ kind: 'counter', unit: 'kWh' });
    expect(byKey.get('press-meter/active_energy_import_total')).toMatchObject({ kind: 'counter', unit: 'kWh' });
    expect(byKey.get('press-plc/active_power_total')).toMatchObject({ kind: 'power', unit: 'W' });
    expect(byKey.get('press-plc/production_count')).toMatchObject({ kind: 'counter', unit: 'count', counter: { max: 65535 } });
  });
});

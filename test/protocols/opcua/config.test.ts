import { describe, expect, it } from 'vitest';
import { effectiveSecurityPolicy, OpcuaBusConfig } from '../../../src/config/opcua.js';
import { parseConfigText } from '../../../src/config/loader.js';
import { loadCatalogueSync } from '../../../src/profiles/catalogue.js';
import { resolveOpcuaDevice } from '../../../src/protocols/opcua/device.js';

const base = { id: 'plc1', type: 'opcua', endpoint: 'opc.tcp://10.0.0.5:4840' };

describe('opcua bus config', () => {
  it('a sampling interval of 0 asks for every change (exception-based); other durations as usual', () => {
    expect(OpcuaBusConfig.parse({ ...base, subscription: { sampling_interval: '0' } }).subscription.sampling_interval).toBe(0);
    expect(OpcuaBusConfig.parse({ ...base, subscription: { sampling_interval: '0ms' } }).subscription.sampling_interval).toBe(0);
    expect(OpcuaBusConfig.parse({ ...base, subscription: { sampling_interval: '250ms' } }).subscription.sampling_interval).toBe(250);
    expect(OpcuaBusConfig.safeParse({ ...base, subscription: { sampling_interval: '-1s' } }).success).toBe(false);
  });

  it('defaults: no security, anonymous, 1000-item requests and subscriptions, 30 s watchdog', () => {
    const bus = OpcuaBusConfig.parse(base);
    expect(bus).toMatchObject({
      security_mode: 'none', user: { type: 'anonymous' }, timeout: 5000, watchdog_timeout: 30_000, reconnect_max: 10_000,
      subscription: { queue_size: 10, max_items_per_request: 1000, max_items_per_subscription: 1000 },
    });
    expect(effectiveSecurityPolicy(bus)).toBe('none');
  });

  it('sign_and_encrypt without a policy uses Basic256Sha256', () => {
    expect(effectiveSecurityPolicy(OpcuaBusConfig.parse({ ...base, security_mode: 'sign_and_encrypt' }))).toBe('basic256sha256');
  });

  it.each([
    [{ security_mode: 'none', security_policy: 'basic256sha256' }, 'security_policy'],
    [{ security_mode: 'sign', security_policy: 'none' }, 'security_policy'],
    [{ user: { type: 'certificate', cert_file: 'u.pem', key_file: 'u.key' } }, 'user.type'],
    [{ subscription: { deadband: { type: 'percent', value: 150 } } }, 'subscription.deadband.value'],
    [{ endpoint: 'http://x' }, 'endpoint'],
  ])('rejects %j at %s', (extra, path) => {
    const r = OpcuaBusConfig.safeParse({ ...base, ...extra });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it('a full config: durations parsed, password taken from a secret reference, per-point options accepted', () => {
    const cfg = parseConfigText(`
version: 1
gateway: { id: edge-01, site: plant-a }
buses:
  - id: plc1
    type: opcua
    endpoint: "opc.tcp://10.0.0.5:4840"
    security_mode: sign_and_encrypt
    security_policy: aes256_sha256_rsapss
    user: { type: username, username: gateway, password: "\${env:PLC1_PASSWORD}" }
    subscription: { publishing_interval: 1s, sampling_interval: 500ms, deadband: { type: absolute, value: 0.5 } }
    watchdog_timeout: 20s
devices:
  - id: press_line
    bus: plc1
    poll_interval: 1s
    points:
      - { id: production_count, node_id: "ns=3;s=Line1.GoodParts", unit: count, counter: {} }
      - { id: active_energy_import_total, node_id: "ns=3;s=Line1.Energy", unit: kWh, counter: {}, mode: poll }
      - { id: active_power_total, node_id: "ns=3;s=Line1.Power", unit: W, sampling_interval: 250ms, queue_size: 5, deadband: { type: percent, value: 1 } }
`, 'gateway.yaml', { env: { PLC1_PASSWORD: 'from-env' } });
    const bus = cfg.buses[0];
    expect(bus).toMatchObject({ user: { password: 'from-env' }, watchdog_timeout: 20_000, subscription: { publishing_interval: 1000, sampling_interval: 500 } });
    expect(cfg.devices[0]?.points?.[2]).toMatchObject({ sampling_interval: 250, queue_size: 5, deadband: { type: 'percent', value: 1 } });
    expect(cfg.devices[0]?.points?.[1]).toMatchObject({ mode: 'poll' });
    // The parsed device feeds the source directly.
    const { spec, problems } = resolveOpcuaDevice(cfg.devices[0]!, 0, loadCatalogueSync());
    expect(problems).toEqual([]);
    expect(spec?.points[2]).toMatchObject({ id: 'active_power_total', sampling_interval_ms: 250, queue_size: 5 });
    expect(spec?.poll_interval_ms).toBe(1000);
  });
});

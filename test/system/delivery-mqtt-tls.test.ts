// The MQTT publisher against a real Mosquitto that demands TLS with client
// certificates and a password, in MQTT 3.1.1 and 5: it connects with the configured
// CA, certificate, key and credentials; it refuses a server it cannot verify unless
// told otherwise; it publishes the retained status and per-device availability and
// records at the documented QoS, every payload matching the contract.
import mqtt from 'mqtt';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MqttConfig } from '../../src/config/schema.js';
import type { QueuedRecord } from '../../src/outbox/outbox.js';
import { MqttPublisher } from '../../src/sinks/mqtt/publisher.js';
import { schemaForTopic, StatusPayload } from '../../src/sinks/mqtt/payloads.js';
import { createTopics } from '../../src/sinks/mqtt/topics.js';
import { waitFor } from '../support/delivery.js';
import { captureLog } from '../support/log.js';
import { assertBinaries, findBinary, freePort, systemTestAvailability } from '../support/servers.js';

const need = systemTestAvailability([
  { name: 'mosquitto', debian: 'mosquitto' }, { name: 'mosquitto_passwd', debian: 'mosquitto' }, { name: 'openssl', debian: 'openssl' },
]);

function openssl(cwd: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function makePki(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=energy-gateway test CA']);
  // A second CA that signed nothing here: trusting it must not be enough.
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '2', '-subj', '/CN=other CA']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [name, ext] of [['server', ['-extfile', 'server.ext']], ['client', []]] as const) {
    openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', ...ext]);
  }
}

// Without mosquitto and mosquitto_passwd and openssl installed this skips, outside CI only, with a warning naming the
// Debian package; under CI=true the missing binary fails the test (assertBinaries).
describe.skipIf(need.skip)('MQTT over TLS with client certificates and a password', () => {
  let dir: string;
  let port: number;
  let broker: ChildProcess;
  let brokerLog = '';
  const cfg = (over: Record<string, unknown>) => MqttConfig.parse({
    url: `mqtts://127.0.0.1:${port}`, username: 'gateway', password: 'pa ss"word',
    tls: { ca: join(dir, 'ca.crt'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key') }, ...over,
  });

  beforeAll(async () => {
    assertBinaries(need.missing);
    dir = mkdtempSync(join(tmpdir(), 'eg-tls-'));
    makePki(dir);
    const passwd = spawnSync(findBinary('mosquitto_passwd')!, ['-b', '-c', join(dir, 'passwd'), 'gateway', 'pa ss"word'], { encoding: 'utf8' });
    if (passwd.status !== 0) throw new Error(passwd.stderr);
    // Mosquitto started as root drops to its own user, which must be able to read these.
    chmodSync(dir, 0o755);
    for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
    port = await freePort();
    writeFileSync(join(dir, 'mosquitto.conf'), [
      `listener ${port} 127.0.0.1`, `cafile ${dir}/ca.crt`, `certfile ${dir}/server.crt`, `keyfile ${dir}/server.key`,
      'require_certificate true', 'allow_anonymous false', `password_file ${dir}/passwd`, 'log_dest stdout', '',
    ].join('\n'));
    broker = spawn(findBinary('mosquitto')!, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    broker.stdout?.on('data', (d: Buffer) => { brokerLog += d.toString(); });
    broker.stderr?.on('data', (d: Buffer) => { brokerLog += d.toString(); });
    await waitFor('mosquitto listening', () => new Promise<boolean>((resolve) => {
      if (broker.exitCode !== null) throw new Error(`mosquitto exited: ${brokerLog.slice(-1000)}`);
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    }), 10_000, 100);
  }, 60_000);

  afterAll(async () => {
    if (broker && broker.exitCode === null) {
      const exited = new Promise((r) => broker.once('exit', r));
      broker.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function observe(topic: string) {
    const seen: Array<{ topic: string; text: string; payload: Record<string, unknown>; qos: number; retain: boolean }> = [];
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      clientId: `observer-${Math.random().toString(36).slice(2)}`, username: 'gateway', password: 'pa ss"word',
      ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'client.crt')), key: readFileSync(join(dir, 'client.key')),
    });
    client.on('message', (t, payload, packet) => seen.push({ topic: t, text: payload.toString(), payload: JSON.parse(payload.toString()) as Record<string, unknown>, qos: packet.qos, retain: packet.retain }));
    await client.subscribeAsync(topic, { qos: 1 });
    return { seen, end: () => client.endAsync() };
  }

  // Stored as text, as the gateway stores telemetry: the publisher writes the message from
  // the text (UTF-8 outside ASCII included) rather than from the record.
  const steam = { kind: 'telemetry', device: 'boiler-1', model: null, ts_ms: 2, values: { flow: { value: 0.1 + 0.2, unit: 'm³/h', quality: 'good' }, temperature: { value: -3.5, unit: '°C', quality: 'good' } } };
  const records: QueuedRecord[] = [
    { seq: 1, kind: 'telemetry', createdMs: 0, record: { kind: 'telemetry', device: 'incomer', model: 'eastron-sdm630', ts_ms: 1, values: { active_power_total: { value: 1.5, unit: 'W', quality: 'good' } } } },
    { seq: 3, kind: 'telemetry', createdMs: 0, record: steam, payload: JSON.stringify(steam) },
    {
      seq: 2, kind: 'energy', createdMs: 0,
      record: {
        kind: 'energy', id: 'energy/line1/15m/0', account: 'line1', carrier: 'electricity', level: 'line', window: '15m', start_ms: 0, end_ms: 900_000,
        quantity: 1, unit: 'kWh', energy_kwh: 1, kgce: 0.1229, kgce_excl_feedstock: 0.1229, kgco2: 0.5, coverage: 1, estimated: false, flags: [],
        factor_sets: { coal: null, co2: null }, use_totals: { fuel: 0, power: 1, feedstock: 0 }, heat_gj: null,
      },
    },
  ];

  it.each([4, 5] as const)('MQTT %s: connects with CA, client certificate and password; publishes status, availability and records', async (protocol) => {
    const root = `energy/tls/v${protocol}`;
    const obs = await observe(`${root}/#`);
    const { log } = captureLog('debug');
    const startedAt = new Date();
    const publisher = new MqttPublisher({
      config: cfg({ protocol_version: protocol }), topics: createTopics(root), clientId: `gw-tls-${protocol}`,
      version: '9.9.9', startedAt, identity: { site: 's', gateway: `g${protocol}` }, log,
    });
    publisher.start();
    try {
      await waitFor('publisher connected', () => publisher.ready(), 15_000, 100);
      publisher.setAvailability('incomer', 'online');
      await publisher.deliver(records, { replayed: true });
      await waitFor('messages observed', () => obs.seen.length >= 5, 10_000, 100);
    } finally {
      await publisher.stop();
      await obs.end();
    }
    const status = obs.seen.find((m) => m.topic === `${root}/status` && m.payload.state === 'online');
    expect(StatusPayload.parse(status?.payload)).toMatchObject({ state: 'online', version: '9.9.9', started_at: startedAt.toISOString() });
    expect(obs.seen.find((m) => m.topic === `${root}/devices/incomer/availability`)?.payload).toMatchObject({ state: 'online' });
    const energy = obs.seen.find((m) => m.topic === `${root}/energy/line1/15m`)!;
    expect(energy.qos).toBe(1);
    expect(energy.payload).toMatchObject({ replayed: true, site: 's', gateway: `g${protocol}`, quantity: 1 });
    expect(obs.seen.find((m) => m.topic === `${root}/devices/incomer/telemetry`)?.qos).toBe(0);
    expect(obs.seen.find((m) => m.topic === `${root}/devices/boiler-1/telemetry`)?.text)
      .toBe(JSON.stringify({ ...steam, site: 's', gateway: `g${protocol}`, replayed: true }));
    expect(obs.seen.find((m) => m.topic === `${root}/status` && m.payload.state === 'offline')).toBeDefined();
    for (const m of obs.seen) expect(schemaForTopic(m.topic)!.safeParse(m.payload).success, m.topic).toBe(true);

    // A dashboard connecting later still learns the state: status and availability are retained.
    const late = await observe(`${root}/#`);
    await waitFor('retained messages', () => late.seen.length >= 2, 10_000, 100);
    await late.end();
    expect(late.seen.every((m) => m.retain)).toBe(true);
    expect(late.seen.find((m) => m.topic === `${root}/status`)?.payload.state).toBe('offline');
  }, 60_000);

  it('verifies the server by default: a broker certificate from an unknown CA is refused', async () => {
    const { log, lines } = captureLog('debug');
    const publisher = new MqttPublisher({
      config: cfg({ tls: { ca: join(dir, 'other-ca.crt'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key') } }),
      topics: createTopics('energy/tls/bad-ca'), clientId: 'gw-bad-ca', version: '1', startedAt: new Date(), identity: { site: 's', gateway: 'g' }, log,
    });
    publisher.start();
    try {
      const err = await waitFor('a TLS error', () => lines.find((l) => l.msg === 'mqtt client error'), 15_000, 100);
      expect(JSON.stringify(err)).toMatch(/certificate|self.signed|verify/i);
      expect(publisher.ready()).toBe(false);
      await expect(publisher.deliver(records, { replayed: false })).rejects.toMatchObject({ retryable: true });
    } finally {
      await publisher.stop();
    }
  }, 30_000);

  it('connects to that broker only when verification is turned off, and warns about it', async () => {
    const { log, lines } = captureLog('debug');
    const publisher = new MqttPublisher({
      config: cfg({ tls: { ca: join(dir, 'other-ca.crt'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key'), verify: false } }),
      topics: createTopics('energy/tls/no-verify'), clientId: 'gw-no-verify', version: '1', startedAt: new Date(), identity: { site: 's', gateway: 'g' }, log,
    });
    publisher.start();
    try {
      await waitFor('connected', () => publisher.ready(), 15_000, 100);
      expect(lines.some((l) => l.msg === 'mqtt TLS verification is off' && l.level === 40)).toBe(true);
    } finally {
      await publisher.stop();
    }
  }, 30_000);

  it('a wrong password is refused by the broker and never logged', async () => {
    const { log, lines } = captureLog('debug');
    const publisher = new MqttPublisher({
      config: cfg({ password: 'wrong-secret-value' }), topics: createTopics('energy/tls/bad-pass'), clientId: 'gw-bad-pass',
      version: '1', startedAt: new Date(), identity: { site: 's', gateway: 'g' }, log,
    });
    publisher.start();
    try {
      const err = await waitFor('refused', () => lines.find((l) => l.msg === 'mqtt client error'), 15_000, 100);
      expect(JSON.stringify(err)).toMatch(/not authori[sz]ed|bad user name or password/i);
      expect(publisher.ready()).toBe(false);
    } finally {
      await publisher.stop();
    }
    expect(JSON.stringify(lines)).not.toContain('wrong-secret-value');
  }, 30_000);
});

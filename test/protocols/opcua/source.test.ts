// System tests of the OPC UA source against real node-opcua servers (the line
// simulator) started here on free ports, with PKI in temp dirs.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';
import { afterEach, describe, expect, it } from 'vitest';
import { opcuaMetrics } from '../../../src/app/opcua-sources.js';
import { run as opcuaCli } from '../../../src/cli/opcua.js';
import { MetricsText } from '../../../src/http/server.js';
import { OpcuaBusConfig } from '../../../src/config/opcua.js';
import { createOpcuaSource, type OpcuaDeviceSpec, type OpcuaSource } from '../../../src/protocols/opcua/source.js';
import { benchNodeId, lineNodeId, startLineSimulator, type LineSimulator } from '../../../src/sim/opcua/line.js';
import { captureLogger, recorder, tempDir, waitFor } from './helpers.js';
import { startTcpProxy } from './tcp-proxy.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function lineDevice(pollIntervalMs = 500): OpcuaDeviceSpec {
  return {
    id: 'press_line',
    poll_interval_ms: pollIntervalMs,
    points: [
      { id: 'production_count', node_id: lineNodeId('GoodParts'), unit: 'count', counter: {} },
      { id: 'scrap_count', node_id: lineNodeId('ScrapParts'), unit: 'count', counter: {} },
      { id: 'active_power_total', node_id: lineNodeId('Power'), unit: 'W' },
      { id: 'active_energy_import_total', node_id: lineNodeId('Energy'), unit: 'kWh', counter: {}, mode: 'poll' },
      { id: 'machine_state', node_id: lineNodeId('MachineState'), unit: '' },
    ],
  };
}

async function sim(opts: Parameters<typeof startLineSimulator>[0] = {}): Promise<{ sim: LineSimulator; dir: string }> {
  const tmp = tempDir('opcua-test');
  const s = await startLineSimulator({ cycleMs: 100, idleMs: 0, pkiDir: join(tmp.dir, 'server-pki'), ...opts });
  cleanups.push(tmp.remove, () => s.stop());
  return { sim: s, dir: tmp.dir };
}

function source(bus: Record<string, unknown>, devices: OpcuaDeviceSpec[], dataDir: string, extra: { configPath?: string } = {}) {
  const rec = recorder();
  const logs = captureLogger();
  const src: OpcuaSource = createOpcuaSource(
    OpcuaBusConfig.parse({ id: 'plc1', type: 'opcua', reconnect_max: '1s', watchdog_timeout: '5s', ...bus }),
    devices,
    { dataDir, log: logs.log, events: rec, ...extra },
  );
  cleanups.push(() => src.stop());
  return { src, rec, logs };
}

// Real servers and RSA key generation: generous per-test time on a loaded 2-core box.
describe('opcua source', { timeout: 60_000 }, () => {
  it('anonymous / None: subscribed and polled points arrive as good values with units and source timestamps', async () => {
    const { sim: s, dir } = await sim();
    const { src, rec } = source({ endpoint: s.endpoint }, [lineDevice()], join(dir, 'data'));
    await src.start();

    await waitFor(() => rec.readings('production_count').length >= 3 && rec.readings('active_energy_import_total').length >= 2, 10_000, 'subscribed and polled values');
    const count = rec.last('production_count');
    expect(count).toMatchObject({ unit: 'count', quality: 'good' });
    expect(typeof count?.value).toBe('number');
    expect(count?.sourceTsMs).toBeGreaterThan(Date.now() - 60_000);
    expect(rec.last('active_power_total')).toMatchObject({ unit: 'W', quality: 'good' });
    expect(rec.last('active_energy_import_total')).toMatchObject({ unit: 'kWh', quality: 'good' });
    expect(rec.last('machine_state')).toMatchObject({ value: 1, quality: 'good' });
    // The counter only ever goes up while the line runs.
    const values = rec.readings('production_count').map((r) => r.value as number);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    expect(rec.lastAvailability()).toMatchObject({ state: 'online' });
    const st = src.stats();
    expect(st).toMatchObject({ connected: true, sessions_created: 1, subscriptions: 1, monitored_items: 4 });
    expect(st.reads).toBeGreaterThan(0);
    // Every DevicePoll belongs to the one device and carries at least one value.
    expect(rec.polls.every((p) => p.device === 'press_line' && Object.keys(p.values).length > 0)).toBe(true);
    // The session as /metrics shows it.
    const m = new MetricsText();
    opcuaMetrics(m, [src]);
    const text = m.toString();
    expect(text).toContain('energy_gateway_opcua_connected{bus="plc1"} 1\n');
    expect(text).toContain('energy_gateway_opcua_sessions_created_total{bus="plc1"} 1\n');
    expect(text).toContain('energy_gateway_opcua_monitored_items{bus="plc1"} 4\n');
    expect(Number(/energy_gateway_opcua_notifications_total\{bus="plc1"\} (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
    expect(Number(/energy_gateway_opcua_last_data_age_seconds\{bus="plc1"\} ([\d.]+)/.exec(text)?.[1])).toBeLessThan(10);
  });

  it('username + SignAndEncrypt / Basic256Sha256 with a test PKI; a wrong password stays offline and is never logged', async () => {
    const { sim: s, dir } = await sim({
      securityModes: ['sign_and_encrypt'], securityPolicies: ['basic256sha256'], users: { operator: 'pa55-w0rd!' }, allowAnonymous: false,
    });
    const dataDir = join(dir, 'data');
    // The test PKI: the server certificate is placed in the gateway's trusted folder.
    mkdirSync(join(dataDir, 'pki', 'trusted', 'certs'), { recursive: true });
    writeFileSync(join(dataDir, 'pki', 'trusted', 'certs', 'line-sim.der'), s.certificate());

    const bad = source({
      endpoint: s.endpoint, security_mode: 'sign_and_encrypt', security_policy: 'basic256sha256',
      user: { type: 'username', username: 'operator', password: 'not-the-password' },
    }, [lineDevice()], dataDir);
    await bad.src.start();
    const offline = await waitFor(() => bad.rec.availability.find((a) => a.state === 'offline' && /connect failed/.test(a.reason ?? '')), 15_000, 'login refused');
    expect(offline.reason).toMatch(/BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/);
    expect(bad.rec.readings('production_count')).toHaveLength(0);
    expect(bad.logs.text()).not.toContain('not-the-password');
    await bad.src.stop();

    const good = source({
      endpoint: s.endpoint, security_mode: 'sign_and_encrypt', security_policy: 'basic256sha256',
      user: { type: 'username', username: 'operator', password: 'pa55-w0rd!' },
    }, [lineDevice()], dataDir);
    await good.src.start();
    await waitFor(() => good.rec.readings('production_count').length >= 2, 15_000, 'values over SignAndEncrypt');
    expect(good.rec.lastAvailability()).toMatchObject({ state: 'online' });
    expect(good.logs.text()).not.toContain('pa55-w0rd!');
    expect(good.logs.lines.find((l) => l.msg === 'opcua online')).toMatchObject({ security_mode: 'sign_and_encrypt', security_policy: 'basic256sha256', user: 'username:operator' });
  });

  it('an untrusted server certificate is rejected with the documented trust command, then accepted after `opcua certs trust`', async () => {
    const { sim: s, dir } = await sim({ securityModes: ['sign_and_encrypt'], securityPolicies: ['aes256_sha256_rsapss'] });
    const dataDir = join(dir, 'data');
    const configPath = join(dir, 'gateway.yaml');
    writeFileSync(configPath, `version: 1\ngateway: { id: edge-01, site: plant-a, data_dir: "${dataDir}" }\n`);
    const { src, rec, logs } = source({ endpoint: s.endpoint, security_mode: 'sign_and_encrypt', security_policy: 'aes256_sha256_rsapss' },
      [lineDevice()], dataDir, { configPath });
    await src.start();

    const expected = createHash('sha1').update(s.certificate()).digest('hex');
    const line = await waitFor(() => logs.lines.find((l) => l.msg === 'opcua server certificate not trusted'), 15_000, 'rejection log line');
    expect(line).toMatchObject({ level: 50, thumbprint: expected, fix: `energy-gateway opcua certs trust ${expected} --config ${configPath}` });
    expect(rec.lastAvailability()).toMatchObject({ state: 'offline' });
    expect(rec.lastAvailability()?.reason).toContain(`server certificate not trusted (thumbprint ${expected})`);
    // Logged once, not at every retry.
    await waitFor(() => src.stats().connect_failures >= 2, 10_000, 'a second refused attempt');
    expect(logs.lines.filter((l) => l.msg === 'opcua server certificate not trusted')).toHaveLength(1);
    expect(rec.readings('production_count')).toHaveLength(0);

    // The operator runs exactly the command the log line gave.
    const fix = String(line.fix).split(' ').slice(1);
    expect(await opcuaCli(fix.slice(1))).toBe(0);

    await waitFor(() => rec.readings('production_count').length >= 2, 15_000, 'values after trusting');
    expect(rec.lastAvailability()).toMatchObject({ state: 'online' });
  });

  it('server restarted mid-run: values resume within 10 s and the counter continues exactly', async () => {
    const { sim: s, dir } = await sim();
    const { src, rec, logs } = source({ endpoint: s.endpoint }, [lineDevice()], join(dir, 'data'));
    await src.start();
    await waitFor(() => rec.readings('production_count').length >= 3, 10_000, 'values before restart');

    await s.stopServer();
    await waitFor(() => rec.lastAvailability()?.state === 'offline', 10_000, 'offline while the server is down');
    const before = rec.readings('production_count');
    const lastBefore = before.at(-1)!;
    // The line keeps producing while its OPC UA server is down.
    await waitFor(() => s.model.current.GoodParts >= (lastBefore.value as number) + 20, 10_000, 'production during the outage');
    await s.startServer();
    const backMs = Date.now();

    const firstAfter = await waitFor(() => rec.readings('production_count').find((r) => r.receivedMs >= backMs), 10_000, 'first value after restart');
    expect(firstAfter.receivedMs - backMs).toBeLessThan(10_000);
    expect(rec.lastAvailability()).toMatchObject({ state: 'online' });

    // Exact continuation: the first reading after the restart is the true counter at its
    // source timestamp, not a reset to 0 nor a stale pre-outage value.
    expect(firstAfter.value as number).toBeGreaterThanOrEqual((lastBefore.value as number) + 20);
    expect(firstAfter.value).toBe(s.model.valueAt('GoodParts', firstAfter.sourceTsMs!));
    // ... so the counter delta across the outage equals the parts actually made.
    const made = s.model.valueAt('GoodParts', firstAfter.sourceTsMs!)! - s.model.valueAt('GoodParts', lastBefore.sourceTsMs!)!;
    expect((firstAfter.value as number) - (lastBefore.value as number)).toBe(made);
    // And no reading anywhere disagrees with the plant.
    for (const r of rec.readings('production_count')) expect(r.value).toBe(s.model.valueAt('GoodParts', r.sourceTsMs!));
    const values = rec.readings('production_count').map((r) => r.value as number);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    expect(logs.lines.filter((l) => l.msg === 'opcua offline')).toHaveLength(1);
  });

  it('a node deleted from the address space: the others keep updating, the bad node is reported with its status and retried', async () => {
    const { sim: s, dir } = await sim();
    const { src, rec, logs } = source({ endpoint: s.endpoint }, [lineDevice()], join(dir, 'data'));
    await src.start();
    await waitFor(() => rec.readings('scrap_count').length >= 1 && rec.readings('production_count').length >= 2, 10_000, 'values');

    s.deleteNode(lineNodeId('ScrapParts'));
    await waitFor(() => rec.last('scrap_count')?.quality === 'bad', 10_000, 'scrap_count bad');
    expect(rec.last('scrap_count')).toMatchObject({ value: null, unit: 'count', quality: 'bad' });
    const degraded = await waitFor(() => rec.availability.find((a) => a.state === 'degraded'), 5000, 'degraded availability');
    expect(degraded.reason).toMatch(/scrap_count ns=1;s=Line1\.ScrapParts BadNodeId(Invalid|Unknown)/);
    expect(src.stats().bad_points).toEqual([expect.objectContaining({ point: 'scrap_count', status: expect.stringMatching(/^BadNodeId/) as unknown })]);

    // The good points keep flowing while scrap_count is bad.
    const n = rec.readings('production_count').length;
    await waitFor(() => rec.readings('production_count').length >= n + 3, 5000, 'production_count still updating');
    await waitFor(() => rec.readings('active_power_total').length >= 1, 5000, 'power still updating');
    expect(logs.lines.filter((l) => l.msg === 'opcua node bad')).toHaveLength(1);

    // The node comes back (a PLC download finished): the retry picks it up on its own.
    s.restoreNode(lineNodeId('ScrapParts'));
    await waitFor(() => rec.last('scrap_count')?.quality === 'good', 10_000, 'scrap_count good again');
    expect(rec.lastAvailability()).toMatchObject({ state: 'online' });
    expect(src.stats().bad_points).toEqual([]);
    expect(src.stats().sessions_created).toBe(1);
    expect(logs.lines.some((l) => l.msg === 'opcua node recovered')).toBe(true);
  });

  it('start() does not throw for an unreachable server, reports offline, and connects once the server appears', async () => {
    const { sim: s, dir } = await sim();
    await s.stopServer();
    const { src, rec } = source({ endpoint: s.endpoint }, [lineDevice()], join(dir, 'data'));
    await expect(src.start()).resolves.toBeUndefined();
    await waitFor(() => rec.lastAvailability()?.state === 'offline', 10_000, 'offline');
    expect(rec.lastAvailability()?.reason).toBe('server unreachable');
    await s.startServer();
    await waitFor(() => rec.readings('production_count').length >= 1, 10_000, 'values once the server is up');
  });

  it('more subscriptions than the server allows per session: items share the existing ones and all report', async () => {
    const { sim: s, dir } = await sim({ benchTags: 15, benchUpdateMs: 500 });
    const device: OpcuaDeviceSpec = {
      id: 'tags', poll_interval_ms: 500,
      points: Array.from({ length: 15 }, (_, i) => ({ id: `t${i}`, node_id: benchNodeId(i), unit: '' })),
    };
    // One item per subscription asks for 15; the simulator (node-opcua default) allows 10.
    const { src, rec, logs } = source({ endpoint: s.endpoint, subscription: { max_items_per_subscription: 1 } }, [device], join(dir, 'data'));
    await src.start();
    await waitFor(() => device.points.every((p) => rec.readings(p.id).length >= 2), 15_000, 'every tag reporting');
    expect(src.stats()).toMatchObject({ sessions_created: 1, monitored_items: 15, connect_failures: 0 });
    expect(src.stats().subscriptions).toBeLessThan(15);
    expect(logs.lines.some((l) => l.msg === 'opcua server limits subscriptions per session, sharing them')).toBe(true);
  });

  it('X.509 user identity over Sign / Aes128_Sha256_RsaOaep', async () => {
    const { sim: s, dir } = await sim({ securityModes: ['sign'], securityPolicies: ['aes128_sha256_rsaoaep'], allowAnonymous: false });
    const dataDir = join(dir, 'data');
    mkdirSync(join(dataDir, 'pki', 'trusted', 'certs'), { recursive: true });
    writeFileSync(join(dataDir, 'pki', 'trusted', 'certs', 'line-sim.der'), s.certificate());
    // A user certificate and key, as an operator would be issued.
    const userPki = new OPCUACertificateManager({ rootFolder: join(dir, 'user-pki') });
    await userPki.initialize();
    const certFile = join(dir, 'user-pki', 'operator.pem');
    await userPki.createSelfSignedCertificate({
      subject: '/CN=operator', applicationUri: 'urn:energy-gateway:operator', dns: [], startDate: new Date(), validity: 30, outputFile: certFile,
    });
    await userPki.dispose();

    const { src, rec, logs } = source({
      endpoint: s.endpoint, security_mode: 'sign', security_policy: 'aes128_sha256_rsaoaep',
      user: { type: 'certificate', cert_file: certFile, key_file: join(dir, 'user-pki', 'own', 'private', 'private_key.pem') },
    }, [lineDevice()], dataDir);
    await src.start();
    await waitFor(() => rec.readings('production_count').length >= 2, 15_000, 'values with an X.509 user');
    expect(logs.lines.find((l) => l.msg === 'opcua online')).toMatchObject({ security_mode: 'sign', security_policy: 'aes128_sha256_rsaoaep', user: 'certificate' });
  });

  it('stop() returns promptly while the source is still trying to reach a dead server', async () => {
    const tmp = tempDir('opcua-stop');
    cleanups.push(tmp.remove);
    const { src, rec } = source({ endpoint: 'opc.tcp://127.0.0.1:9' }, [lineDevice()], join(tmp.dir, 'data'));
    await src.start();
    await waitFor(() => rec.lastAvailability()?.state === 'offline', 10_000, 'offline');
    const t0 = Date.now();
    await src.stop();
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('network cut while the server keeps running: the session and its subscription survive (re-activated, not re-created) and the counter continues exactly', async () => {
    const { sim: s, dir } = await sim();
    const proxy = await startTcpProxy(s.port);
    cleanups.push(() => proxy.close());
    const { src, rec } = source({ endpoint: `opc.tcp://127.0.0.1:${proxy.port}` }, [lineDevice()], join(dir, 'data'));
    await src.start();
    await waitFor(() => rec.readings('production_count').length >= 3, 10_000, 'values before the cut');

    proxy.cut();
    await waitFor(() => rec.lastAvailability()?.state === 'offline', 10_000, 'offline during the cut');
    const lastBefore = rec.readings('production_count').at(-1)!;
    await waitFor(() => s.model.current.GoodParts >= (lastBefore.value as number) + 10, 10_000, 'production during the cut');
    proxy.heal();
    const healedMs = Date.now();

    const firstAfter = await waitFor(() => rec.readings('production_count').find((r) => r.receivedMs >= healedMs), 10_000, 'values after the cut');
    expect(firstAfter.value as number).toBeGreaterThan(lastBefore.value as number);
    await waitFor(() => rec.lastAvailability()?.state === 'online', 5000, 'online again');
    // The server kept the session: it was re-activated, not replaced. (Data may flow a
    // moment before node-opcua reports the connection re-established.)
    await waitFor(() => src.stats().reconnects >= 1, 5000, 'reconnect counted');
    expect(src.stats()).toMatchObject({ sessions_created: 1, reconnects: 1, watchdog_trips: 0 });
    // Every reading agrees with the plant and the counter never went backwards.
    for (const r of rec.readings('production_count')) expect(r.value).toBe(s.model.valueAt('GoodParts', r.sourceTsMs!));
    const values = rec.readings('production_count').map((r) => r.value as number);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
  });
});

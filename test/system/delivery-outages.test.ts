// Outages of the receivers, on real servers, run side by side (each scenario has its
// own servers): Mosquitto stopped for 60 s on the bridge path, influxd stopped for 60 s
// on the direct path, and an outage long enough to hit the outbox cap.
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startBridge } from '../../src/app/bridge.js';
import { startGateway } from '../../src/app/gateway.js';
import { parseConfigText } from '../../src/config/loader.js';
import { silentLogger } from '../../src/log/logger.js';
import { Outbox } from '../../src/outbox/outbox.js';
import type { GatewayRecord } from '../../src/pipeline/pipeline.js';
import { loadCatalogueSync } from '../../src/profiles/catalogue.js';
import { schemaForTopic } from '../../src/sinks/mqtt/payloads.js';
import {
  expectContiguousAndTrue, expectExactlyOnce, gatewayYaml, influxIntervals, metric, sleep, startPlant, waitFor, WINDOW_MS,
  type ProducedInterval,
} from '../support/delivery.js';
import { captureLog } from '../support/log.js';
import { assertBinaries, influxQuery, startInfluxd, startMosquitto, systemTestAvailability } from '../support/servers.js';

const need = systemTestAvailability([{ name: 'mosquitto', debian: 'mosquitto' }, { name: 'influxd', debian: 'influxdb' }]);
/** The outage the issue asks for; OUTAGE_MS shortens it for a quick local run. */
const OUTAGE_MS = Number(process.env.OUTAGE_MS ?? 60_000);
const catalogue = loadCatalogueSync();
const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

function tempDir(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `eg-${name}-`));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The sink has sent everything but the last few seconds of live records. */
function caughtUp(outbox: Outbox, sink: string): boolean {
  const oldest = outbox.stats().perSink[sink]?.oldestPendingMs ?? null;
  return oldest === null || Date.now() - oldest < 3000;
}

/** Records left in a stopped gateway's outbox. */
function remaining(dataDir: string, sink: string): number {
  const o = new Outbox(join(dataDir, 'outbox.sqlite'), [sink]);
  try {
    return o.stats().depth;
  } finally {
    o.close();
  }
}

/** Collects what the gateway produced, as a user of its output would list it. */
function recorder() {
  const intervals: ProducedInterval[] = [];
  let telemetry = 0;
  return {
    intervals,
    telemetry: () => telemetry,
    onRecord: (r: GatewayRecord) => {
      if (r.kind === 'energy' || r.kind === 'enpi') intervals.push(r as unknown as ProducedInterval);
      else if (r.kind === 'telemetry') telemetry += 1;
    },
    fullWindows: (account: string) => intervals.filter((p) => p.kind === 'energy' && p.account === account && p.coverage === 1).length,
  };
}

// Without mosquitto and influxd installed this skips, outside CI only, with a warning naming the
// Debian package; under CI=true the missing binary fails the test (assertBinaries).
describe.skipIf(need.skip).concurrent('delivery through outages', () => {
  it('Mosquitto stopped for 60 s on the gateway → MQTT → bridge → InfluxDB path: every interval and EnPI record lands once, replayed records are marked', async () => {
    assertBinaries(need.missing);
    const [mosquitto, influx, sim] = await Promise.all([startMosquitto(), startInfluxd(), startPlant()]);
    cleanup.push(() => sim.stop(), () => mosquitto.stop(), () => influx.stop());
    const url = `mqtt://127.0.0.1:${mosquitto.port}`;

    // The bridge: its own data dir and persistent session, MQTT 5.
    const bridgeDir = tempDir('bridge');
    const bridgeLog = captureLog('info');
    const bridge = await startBridge(parseConfigText(`
version: 1
gateway: { id: bridge-1, site: central, data_dir: "${bridgeDir}" }
mqtt: { url: "${url}", protocol_version: 5 }
influx: { url: "${influx.url}", api: v1, database: bridged, flush_interval: 200ms }
bridge: { topics: ["energy/#"], client_id: bridge-1 }
`, 'bridge.yaml'), { log: bridgeLog.log });
    cleanup.push(() => bridge.stop());
    await waitFor('bridge subscribed', () => bridge.subscriber.stats.subscribed, 20_000);

    // A dashboard watching the broker (persistent session, so that it misses nothing
    // whichever of it and the gateway reconnects first): every payload must match the contract.
    const seen: Array<{ topic: string; payload: Record<string, unknown> }> = [];
    const observer = await mqtt.connectAsync(url, { clientId: 'outage-observer', clean: false, reconnectPeriod: 500 });
    cleanup.push(() => observer.endAsync());
    observer.on('message', (topic, payload) => seen.push({ topic, payload: JSON.parse(payload.toString()) as Record<string, unknown> }));
    await observer.subscribeAsync('energy/#', { qos: 1 });

    // The gateway publishes over MQTT only: while Mosquitto is down nothing reaches InfluxDB.
    const dataDir = tempDir('gw-mqtt');
    const rec = recorder();
    const gwLog = captureLog('info');
    const gateway = await startGateway(parseConfigText(gatewayYaml({ id: 'edge-m', dataDir, simPort: sim.port, mqttUrl: url }), 'gw.yaml'),
      { log: gwLog.log, catalogue, onRecord: rec.onRecord });
    let stopped = false;
    cleanup.push(() => (stopped ? undefined : gateway.stop()));

    await waitFor('two full windows before the outage', () => rec.fullWindows('incomer') >= 2, 60_000);
    const beforeOutage = rec.intervals.length;
    await mosquitto.halt();
    await sleep(OUTAGE_MS);
    const producedDuringOutage = rec.intervals.length - beforeOutage;
    await mosquitto.start();
    await waitFor('two more full windows after the outage', () => rec.fullWindows('incomer') >= 4 + OUTAGE_MS / WINDOW_MS, 90_000);
    await waitFor('gateway caught up', () => caughtUp(gateway.outbox, 'mqtt'), 90_000);
    const mqttRunner = gateway.delivery.runners.find((r) => r.name === 'mqtt')!;
    const replayedByGateway = mqttRunner.stats.replayed;
    await gateway.stop();
    stopped = true;
    expect(remaining(dataDir, 'mqtt')).toBe(0);

    expect(producedDuringOutage).toBeGreaterThanOrEqual((OUTAGE_MS / WINDOW_MS - 1) * 3);
    const bridged = await waitFor('bridge wrote everything', async () => {
      const rows = await influxIntervals(influx.url, 'bridged').catch(() => ({ energy: [], enpi: [] }));
      return rows.energy.length + rows.enpi.length >= rec.intervals.length && bridge.delivery.outbox.stats().depth === 0;
    }, 60_000).then(() => true, () => false);
    const rows = await influxIntervals(influx.url, 'bridged');
    if (!bridged) {
      // Say where the missing records stopped: at the gateway, the broker or the bridge.
      const key = (k: string, series: string | undefined, t: number) => `${k}/${String(series)}@${t}`;
      const inInflux = new Set([...rows.energy.map((r) => key('energy', String(r.account), r.time)), ...rows.enpi.map((r) => key('enpi', String(r.enpi), r.time))]);
      const observed = new Set(seen.map((m) => key(String(m.payload.kind), String(m.payload.account ?? m.payload.enpi), Number(m.payload.start_ms))));
      const missing = rec.intervals.map((p) => key(p.kind, p.kind === 'energy' ? p.account : p.enpi, p.start_ms)).filter((k) => !inInflux.has(k));
      throw new Error(`bridge did not write everything: ${JSON.stringify({
        missing: missing.map((k) => ({ k, seenByObserver: observed.has(k) })), replayedByGateway,
        bridge: bridge.subscriber.stats, bridgeOutbox: bridge.delivery.outbox.stats(), bridgeSinks: bridge.delivery.runners.map((r) => ({ ...r.stats, latency: undefined })),
        gatewayLog: gwLog.messages().slice(-30), bridgeLog: bridgeLog.messages().slice(-30), mosquitto: mosquitto.output().slice(-3000),
      })}`);
    }
    expectExactlyOnce(rec.intervals, rows, 'edge-m');
    expect(expectContiguousAndTrue(sim, rec.intervals)).toBeGreaterThanOrEqual(12);

    // The records held back during the outage went out late and say so.
    const records = seen.filter((m) => typeof m.payload.kind === 'string');
    const diagnosis = () => JSON.stringify({
      replayedByGateway, seen: records.length, replayedSeen: records.filter((m) => m.payload.replayed === true).length,
      gatewayLog: gwLog.messages().slice(-40), mosquitto: mosquitto.output().slice(-3000),
    });
    expect(replayedByGateway, diagnosis()).toBeGreaterThan(0);
    expect(records.some((m) => m.payload.replayed === true && m.payload.kind === 'energy'), diagnosis()).toBe(true);
    for (const m of seen) {
      const schema = schemaForTopic(m.topic);
      expect(schema, m.topic).not.toBeNull();
      expect(schema!.safeParse(m.payload).success, `${m.topic}: ${JSON.stringify(m.payload).slice(0, 200)}`).toBe(true);
    }
    expect(bridge.stats.messages.invalid).toBe(0);
  }, 300_000);

  it('influxd stopped for 60 s on the direct path: every interval and EnPI record lands once, and /metrics shows the replay', async () => {
    assertBinaries(need.missing);
    const [influx, sim] = await Promise.all([startInfluxd(), startPlant()]);
    cleanup.push(() => sim.stop(), () => influx.stop());
    const dataDir = tempDir('gw-influx');
    const rec = recorder();
    const gateway = await startGateway(parseConfigText(gatewayYaml({
      id: 'edge-i', dataDir, simPort: sim.port,
      influx: `influx: { url: "${influx.url}", api: v1, database: direct, flush_interval: 500ms, retry_max: 2s }`,
    }), 'gw.yaml'), { log: silentLogger(), catalogue, onRecord: rec.onRecord, httpListen: '127.0.0.1:0' });
    let stopped = false;
    cleanup.push(() => (stopped ? undefined : gateway.stop()));
    const metrics = () => fetch(`http://127.0.0.1:${gateway.httpPort}/metrics`).then((r) => r.text());

    await waitFor('two full windows before the outage', () => rec.fullWindows('incomer') >= 2, 60_000);
    await influx.halt();
    await sleep(OUTAGE_MS / 2);
    // Mid-outage the operator sees the queue and the failing sink, and the gateway is still ready (safely queued).
    const mid = await metrics();
    expect(metric(mid, 'energy_gateway_sink_up', { sink: 'influx' })).toBe(0);
    expect(metric(mid, 'energy_gateway_sink_pending', { sink: 'influx' })).toBeGreaterThan(0);
    expect(metric(mid, 'energy_gateway_outbox_oldest_age_seconds')).toBeGreaterThan(1);
    expect(metric(mid, 'energy_gateway_sink_errors_total', { sink: 'influx' })).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${gateway.httpPort}/readyz`)).status).toBe(200);
    await sleep(OUTAGE_MS / 2);
    await influx.start();

    await waitFor('two more full windows after the outage', () => rec.fullWindows('incomer') >= 4 + OUTAGE_MS / WINDOW_MS, 90_000);
    await waitFor('gateway caught up', () => caughtUp(gateway.outbox, 'influx'), 90_000);
    const after = await metrics();
    expect(metric(after, 'energy_gateway_sink_replayed_total', { sink: 'influx' })).toBeGreaterThan(0);
    expect(metric(after, 'energy_gateway_outbox_dropped_total', { class: 'interval', reason: 'size' })).toBe(0);
    await gateway.stop();
    stopped = true;
    expect(remaining(dataDir, 'influx')).toBe(0);

    expectExactlyOnce(rec.intervals, await influxIntervals(influx.url, 'direct'), 'edge-i');
    expect(expectContiguousAndTrue(sim, rec.intervals)).toBeGreaterThanOrEqual(12);
    // Telemetry too: one reading row per poll, none lost, none doubled.
    const readings = await influxQuery(influx.url, 'direct', 'SELECT count(frequency) FROM reading');
    expect(Number(readings[0]?.count)).toBe(rec.telemetry());
  }, 300_000);

  it('an outage long enough to hit the outbox cap: interval records all survive, dropped telemetry matches the drop counter', async () => {
    assertBinaries(need.missing);
    const [influx, sim] = await Promise.all([startInfluxd(), startPlant()]);
    cleanup.push(() => sim.stop(), () => influx.stop());
    const dataDir = tempDir('gw-cap');
    const rec = recorder();
    // ~4 kB of telemetry per poll, two meters each second: a 64 kB cap is full after
    // ~8 s of outage, while a 40 s outage produces ~12 interval records (< 10 kB).
    const gateway = await startGateway(parseConfigText(gatewayYaml({
      id: 'edge-c', dataDir, simPort: sim.port,
      influx: `influx: { url: "${influx.url}", api: v1, database: capped, flush_interval: 500ms, retry_max: 2s }`,
      extra: 'outbox: { max_bytes: 65536 }',
    }), 'gw.yaml'), { log: silentLogger(), catalogue, onRecord: rec.onRecord, httpListen: '127.0.0.1:0' });
    let stopped = false;
    cleanup.push(() => (stopped ? undefined : gateway.stop()));

    await waitFor('a full window before the outage', () => rec.fullWindows('incomer') >= 1, 60_000);
    await influx.halt();
    // A write in flight as influxd stops may be stored without its reply arriving: those
    // records stay queued, and may later be dropped although they landed. Only records
    // still unacknowledged now can be among them.
    const unconfirmedAtHalt = gateway.outbox.stats().perSink.influx!.pending;
    await waitFor('the cap reached', () => gateway.outbox.stats().dropped.telemetry.size > 0, 60_000);
    // Not ready while records are being dropped: the operator's alert.
    const ready = await fetch(`http://127.0.0.1:${gateway.httpPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, outbox: { dropping: true } });
    await sleep(40_000);
    await influx.start();
    await waitFor('gateway caught up', () => caughtUp(gateway.outbox, 'influx'), 90_000);
    const metricsText = await fetch(`http://127.0.0.1:${gateway.httpPort}/metrics`).then((r) => r.text());
    await gateway.stop();
    stopped = true;

    // The counter is persisted with the drops: read it back as a restart would.
    const outbox = new Outbox(join(dataDir, 'outbox.sqlite'), ['influx']);
    const st = outbox.stats();
    outbox.close();
    expect(st.depth).toBe(0);
    expect(st.dropped.interval).toEqual({ size: 0, age: 0 });
    expect(st.dropped.telemetry.size).toBeGreaterThan(0);
    expect(metric(metricsText, 'energy_gateway_outbox_dropped_total', { class: 'telemetry', reason: 'size' })).toBe(st.dropped.telemetry.size);

    expectExactlyOnce(rec.intervals, await influxIntervals(influx.url, 'capped'), 'edge-c');
    expectContiguousAndTrue(sim, rec.intervals);
    // Every sampled reading either landed or is counted dropped; a drop is counted for a
    // record that landed only in the halt case above (a delivery in flight is never dropped).
    const landed = Number((await influxQuery(influx.url, 'capped', 'SELECT count(frequency) FROM reading'))[0]?.count);
    const sampled = rec.telemetry();
    expect(landed).toBeLessThan(sampled);
    expect(landed + st.dropped.telemetry.size).toBeGreaterThanOrEqual(sampled);
    expect(landed + st.dropped.telemetry.size - sampled).toBeLessThanOrEqual(unconfirmedAtHalt);
  }, 300_000);
});

import { join } from 'node:path';
import type { Logger } from 'pino';
import { createEngine, type EngineState } from '../core/engine.js';
import type { RootConfig, ModbusBusConfig } from '../config/schema.js';
import { ConfigError, formatPath } from '../config/errors.js';
import { startHttp, MetricsText } from '../http/server.js';
import type { Outbox } from '../outbox/outbox.js';
import { ENGINE_STATE_KEY, Pipeline, type GatewayRecord } from '../pipeline/pipeline.js';
import { loadCatalogueSync } from '../profiles/catalogue.js';
import type { DriverProfile } from '../profiles/schema.js';
import { ModbusBus } from '../protocols/modbus/bus.js';
import { resolveModbusDevices } from '../protocols/modbus/device.js';
import { BusScheduler } from '../protocols/modbus/scheduler.js';
import { createTopics, defaultTopicRoot } from '../sinks/mqtt/topics.js';
import { VERSION } from '../version.js';
import { Delivery } from './delivery.js';
import { completeEngineConfig } from '../energy-io/engine-config.js';
import { engineConfigFrom } from './engine-config.js';
import { RequestListener } from './requests.js';
import { collectGarbageOnce, STARTUP_COLLECTION_MS, tuneHeapForGateway } from './heap.js';
import { opcuaMetrics, startOpcuaSources, type AcquisitionEvents, type Source } from './opcua-sources.js';

export interface GatewayOptions {
  log: Logger;
  configFile?: string;
  catalogue?: ReadonlyMap<string, DriverProfile>;
  /** Listen address override (tests use 127.0.0.1:0). */
  httpListen?: string;
  /** Observes every record once it is stored (the demo's live summary). */
  onRecord?: (record: GatewayRecord) => void;
  onAvailability?: (device: string, state: string) => void;
}

export interface RunningGateway {
  pipeline: Pipeline;
  outbox: Outbox;
  /** The sinks and their runners (state, delivered and replayed counts). */
  delivery: Delivery;
  httpPort: number | null;
  schedulers: BusScheduler[];
  stop(): Promise<void>;
}

/** The composition root: builds every adapter, starts them in order, stops them in reverse. */
export async function startGateway(config: RootConfig, opts: GatewayOptions): Promise<RunningGateway> {
  const log = opts.log;
  tuneHeapForGateway();
  const catalogue = opts.catalogue ?? loadCatalogueSync();
  const { byBus: modbusByBus, problems } = resolveModbusDevices(config, catalogue);
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => ({ file: opts.configFile ?? '(config)', line: 0, path: formatPath(p.path), message: p.message })));
  }
  const startedAt = new Date();

  const topicRoot = config.mqtt?.topic_root ?? defaultTopicRoot(config.gateway.site, config.gateway.id);
  if (!config.mqtt && !config.influx) log.warn('no mqtt or influx configured: records are computed and discarded');
  const delivery = new Delivery({
    outboxFile: join(config.gateway.data_dir, 'outbox.sqlite'),
    outbox: config.outbox,
    identity: { site: config.gateway.site, gateway: config.gateway.id },
    log,
    mqtt: config.mqtt && {
      config: config.mqtt, topics: createTopics(topicRoot), version: VERSION, startedAt,
      clientId: config.mqtt.client_id ?? `energy-gateway-${config.gateway.site}-${config.gateway.id}`,
    },
    influx: config.influx,
  });
  const { outbox, publisher } = delivery;
  const engineConfig = await completeEngineConfig(engineConfigFrom(config, catalogue), config.energy);
  const engine = createEngine(engineConfig, outbox.loadState<EngineState>(ENGINE_STATE_KEY));
  const models = new Map<string, string | null>();
  for (const d of config.devices) models.set(d.id, d.model ?? d.driver ?? null);

  const pipeline = new Pipeline({
    engine, outbox, log, models, batchMs: config.outbox.commit_interval,
    observeTelemetry: opts.onRecord !== undefined,
    onStored: (records) => {
      delivery.notify();
      if (opts.onRecord) for (const r of records) opts.onRecord(r);
    },
  });

  const events: AcquisitionEvents = {
    onPoll: (poll) => pipeline.onPoll(poll),
    onAvailability: (device, state, reason) => {
      publisher?.setAvailability(device, state, reason);
      opts.onAvailability?.(device, state);
    },
  };

  await delivery.start();

  const buses: ModbusBus[] = [];
  const schedulers: BusScheduler[] = [];
  for (const busConfig of config.buses) {
    const devices = modbusByBus.get(busConfig.id);
    if (!devices || busConfig.type === 'opcua') continue;
    // Both name their bus in every line they log: no child logger with it (its key would be doubled).
    const bus = new ModbusBus(busConfig as ModbusBusConfig, log);
    buses.push(bus);
    const scheduler = new BusScheduler(bus, devices, events, log);
    schedulers.push(scheduler);
    scheduler.start();
  }
  const opcua: Source[] = await startOpcuaSources(config, catalogue, events, log, opts.configFile);

  const ticker = setInterval(() => pipeline.tick(), 1000);
  const requests = config.mqtt
    ? new RequestListener(config.mqtt, topicRoot, `${config.mqtt.client_id ?? `energy-gateway-${config.gateway.site}-${config.gateway.id}`}-requests`,
      (entry) => pipeline.apply(entry), log.child({ component: 'requests' }))
    : null;
  requests?.start();

  const http = config.http || opts.httpListen
    ? await startHttp(opts.httpListen ?? config.http!.listen, {
      ready: () => {
        const since = pipeline.stats.lastRecordMs;
        if (since === null) return { ready: false, reason: 'no records yet' };
        if (Date.now() - since >= 120_000) return { ready: false, reason: 'no records for 2 minutes' };
        return delivery.health();
      },
      metrics: () => gatewayMetrics(pipeline, delivery, schedulers, opcua),
    }, log)
    : null;

  log.info({ version: VERSION, gateway: config.gateway.id, site: config.gateway.site, devices: config.devices.length }, 'gateway started');
  const startupCollection = setTimeout(() => collectGarbageOnce(), STARTUP_COLLECTION_MS).unref();

  let stopping: Promise<void> | null = null;
  return {
    pipeline, outbox, delivery, schedulers, httpPort: http?.port ?? null,
    stop: () => {
      stopping ??= (async () => {
        clearInterval(ticker);
        clearTimeout(startupCollection);
        await Promise.all(schedulers.map((s) => s.stop()));
        await Promise.all(opcua.map((s) => s.stop()));
        await requests?.stop();
        await Promise.all(buses.map((b) => b.close()));
        pipeline.tick();
        pipeline.flush();
        await http?.close();
        // Give the sinks a moment to deliver what is queued; the rest waits on disk.
        await delivery.stop(2000);
        log.info('gateway stopped');
      })();
      return stopping;
    },
  };
}

function gatewayMetrics(pipeline: Pipeline, delivery: Delivery, schedulers: BusScheduler[], opcua: readonly Source[]): string {
  const m = new MetricsText();
  const devices = schedulers.flatMap((s) => s.deviceStats());
  m.add('energy_gateway_polls_total', 'counter', 'Successful device polls', devices.map((d) => ({ labels: { device: d.device }, value: d.polls })));
  m.add('energy_gateway_poll_errors_total', 'counter', 'Failed device polls', devices.map((d) => ({ labels: { device: d.device }, value: d.errors })));
  m.add('energy_gateway_poll_skipped_total', 'counter', 'Polls skipped while a device backs off', devices.map((d) => ({ labels: { device: d.device }, value: d.skipped })));
  m.add('energy_gateway_poll_latency_seconds', 'gauge', 'Duration of the last poll', devices.map((d) => ({ labels: { device: d.device }, value: d.lastLatencyMs / 1000 })));
  m.add('energy_gateway_device_up', 'gauge', '1 when the device is online', devices.map((d) => ({ labels: { device: d.device }, value: d.availability === 'online' ? 1 : 0 })));
  delivery.metrics(m);
  m.add('energy_gateway_records_total', 'counter', 'Records stored, by kind', Object.entries(pipeline.stats.records).map(([kind, value]) => ({ labels: { kind }, value })));
  m.add('energy_gateway_bus_overruns_total', 'counter', 'Poll cycles that overran their interval', schedulers.map((s) => ({ labels: { bus: s.busId }, value: s.overruns.count })));
  opcuaMetrics(m, opcua);
  return m.toString();
}

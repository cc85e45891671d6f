// The delivery side shared by `run` and `bridge`: the outbox, the sinks configured
// (MQTT publisher, InfluxDB writer), one runner per sink, and what /readyz and
// /metrics say about them.
import type { Logger } from 'pino';
import type { InfluxConfig, MqttConfig, OutboxConfig } from '../config/schema.js';
import type { MetricsText, Readiness } from '../http/server.js';
import { Outbox, RECORD_CLASSES } from '../outbox/outbox.js';
import { InfluxWriter } from '../sinks/influx/writer.js';
import type { SeriesIdentity } from '../sinks/influx/points.js';
import { MqttPublisher } from '../sinks/mqtt/publisher.js';
import type { Topics } from '../sinks/mqtt/topics.js';
import { SinkRunner, type Sink } from '../sinks/runner.js';

export interface DeliveryOptions {
  outboxFile: string;
  outbox: OutboxConfig;
  identity: SeriesIdentity;
  log: Logger;
  /** Publish records over MQTT (the gateway); the bridge has none. */
  mqtt?: { config: MqttConfig; topics: Topics; clientId: string; version: string; startedAt: Date } | undefined;
  influx?: InfluxConfig | undefined;
}

/** The MQTT publisher sends one record per message: batches are what is in flight at once. */
const MQTT_BATCH = 500;

export class Delivery {
  readonly outbox: Outbox;
  readonly publisher: MqttPublisher | null;
  readonly influx: InfluxWriter | null;
  readonly runners: SinkRunner[] = [];
  private readonly sinks: Sink[] = [];

  constructor(private readonly opts: DeliveryOptions) {
    const { log } = opts;
    this.publisher = opts.mqtt
      ? new MqttPublisher({ ...opts.mqtt, identity: opts.identity, log: log.child({ sink: 'mqtt' }) })
      : null;
    this.influx = opts.influx ? new InfluxWriter(opts.influx, opts.identity, log.child({ sink: 'influx' })) : null;
    if (this.publisher) this.sinks.push(this.publisher);
    if (this.influx) this.sinks.push(this.influx);
    // Without sinks the outbox still runs, under one cursor that acknowledges at once.
    this.outbox = new Outbox(opts.outboxFile, {
      sinks: this.sinks.length > 0 ? this.sinks.map((s) => s.name) : ['discard'],
      limits: {
        maxBytes: opts.outbox.max_bytes,
        maxAgeMs: { telemetry: opts.outbox.max_age_telemetry, interval: opts.outbox.max_age_intervals },
      },
      log: log.child({ component: 'outbox' }),
      storeEncoder: this.influx ? { sink: this.influx.name, encode: this.influx.encode } : undefined,
    });
    if (this.publisher && opts.mqtt) {
      this.runners.push(new SinkRunner(this.outbox, this.publisher, log.child({ sink: 'mqtt' }), {
        batchSize: MQTT_BATCH, replayRatePerS: opts.mqtt.config.replay_rate,
      }));
    }
    if (this.influx && opts.influx) {
      this.runners.push(new SinkRunner(this.outbox, this.influx, log.child({ sink: 'influx' }), {
        batchSize: opts.influx.batch_size,
        maxBatchDelayMs: opts.influx.flush_interval,
        replayRatePerS: opts.influx.replay_rate,
        replayConcurrency: 2,
        maxBackoffMs: opts.influx.retry_max,
      }));
    }
  }

  async start(): Promise<void> {
    this.publisher?.start();
    await this.influx?.ensureDatabase();
    for (const r of this.runners) r.start();
  }

  /** New records are stored: wake the sinks. */
  notify(): void {
    if (this.sinks.length === 0) this.outbox.ack('discard', Number.MAX_SAFE_INTEGER);
    for (const r of this.runners) r.notify();
  }

  /** Gives the sinks up to `drainMs` to deliver what is queued; the rest waits on disk for the next start. */
  async stop(drainMs = 2000): Promise<void> {
    await Promise.all(this.runners.map((r) => r.drain(Date.now() + drainMs)));
    await Promise.all(this.runners.map((r) => r.stop()));
    await this.publisher?.stop();
    this.outbox.close();
  }

  /**
   * Records are flowing or safely queued: not ready while the outbox drops records
   * (its cap is reached or records expire), since then data is being lost.
   */
  health(): Readiness {
    const st = this.outbox.stats();
    const sinks = Object.fromEntries(this.runners.map((r) => [r.name, {
      state: r.stats.state,
      pending: st.perSink[r.name]?.pending ?? 0,
      last_error: r.stats.lastError,
    }]));
    const outbox = { depth: st.depth, bytes: st.bytes, max_bytes: st.maxBytes, dropping: st.dropping };
    if (st.dropping) return { ready: false, reason: 'outbox is dropping records (cap reached or records expiring)', sinks, outbox };
    return { ready: true, sinks, outbox };
  }

  metrics(m: MetricsText, nowMs = Date.now()): void {
    const st = this.outbox.stats();
    const ageS = (ms: number | null) => (ms === null ? 0 : Math.max(0, (nowMs - ms) / 1000));
    m.add('energy_gateway_outbox_depth', 'gauge', 'Records held in the outbox, by class', RECORD_CLASSES.map((c) => ({ labels: { class: c }, value: st.byClass[c].depth })));
    m.add('energy_gateway_outbox_bytes', 'gauge', 'Bytes held in the outbox (record JSON, and InfluxDB line protocol stored with it)', [{ value: st.bytes }]);
    m.add('energy_gateway_outbox_max_bytes', 'gauge', 'Bytes the outbox holds at most (outbox.max_bytes)', [{ value: st.maxBytes }]);
    m.add('energy_gateway_outbox_oldest_age_seconds', 'gauge', 'Age of the oldest held record', [{ value: ageS(st.oldestCreatedMs) }]);
    m.add('energy_gateway_outbox_dropped_total', 'counter', 'Records dropped unsent (cap reached or expired), by class and reason',
      RECORD_CLASSES.flatMap((c) => (['size', 'age'] as const).map((reason) => ({ labels: { class: c, reason }, value: st.dropped[c][reason] }))));
    m.add('energy_gateway_outbox_dropping', 'gauge', '1 while records are being dropped', [{ value: st.dropping ? 1 : 0 }]);
    const runners = this.runners;
    m.add('energy_gateway_sink_up', 'gauge', '1 when the sink accepts records', runners.map((r) => ({ labels: { sink: r.name }, value: r.stats.state === 'down' ? 0 : 1 })));
    m.add('energy_gateway_sink_replaying', 'gauge', '1 while a backlog is replayed', runners.map((r) => ({ labels: { sink: r.name }, value: r.stats.state === 'replaying' ? 1 : 0 })));
    m.add('energy_gateway_sink_pending', 'gauge', 'Records a sink has not acknowledged', runners.map((r) => ({ labels: { sink: r.name }, value: st.perSink[r.name]?.pending ?? 0 })));
    m.add('energy_gateway_sink_oldest_pending_age_seconds', 'gauge', 'Age of the oldest record a sink has not acknowledged', runners.map((r) => ({ labels: { sink: r.name }, value: ageS(st.perSink[r.name]?.oldestPendingMs ?? null) })));
    m.add('energy_gateway_sink_delivered_total', 'counter', 'Records delivered per sink (live and replayed)', runners.map((r) => ({ labels: { sink: r.name }, value: r.stats.delivered })));
    m.add('energy_gateway_sink_replayed_total', 'counter', 'Records delivered late, from a backlog', runners.map((r) => ({ labels: { sink: r.name }, value: r.stats.replayed })));
    m.add('energy_gateway_sink_errors_total', 'counter', 'Failed delivery attempts per sink', runners.map((r) => ({ labels: { sink: r.name }, value: r.stats.failures })));
    m.add('energy_gateway_sink_refused_total', 'counter', 'Records a sink refused as a whole batch', runners.map((r) => ({ labels: { sink: r.name }, value: r.stats.refused })));
    m.histogram('energy_gateway_sink_latency_seconds', 'Time from stored in the outbox to accepted by the sink (live records)', runners.map((r) => ({ labels: { sink: r.name }, histogram: r.stats.latency })));
    if (this.influx) {
      m.add('energy_gateway_influx_lines_written_total', 'counter', 'Lines InfluxDB accepted', [{ value: this.influx.stats.linesWritten }]);
      m.add('energy_gateway_influx_lines_rejected_total', 'counter', 'Lines InfluxDB refused (bad data; logged)', [{ value: this.influx.stats.linesRejected }]);
    }
  }
}

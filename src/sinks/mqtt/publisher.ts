import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { MqttConfig } from '../../config/schema.js';
import type { QueuedRecord } from '../../outbox/outbox.js';
import { SinkError } from '../errors.js';
import type { Sink } from '../runner.js';
import type { AvailabilityPayload, StatusPayload } from './payloads.js';
import type { Topics } from './topics.js';

export interface MqttPublisherOptions {
  config: MqttConfig;
  topics: Topics;
  clientId: string;
  version: string;
  startedAt: Date;
  log: Logger;
}

type Routed = { topic: string; qos: 0 | 1; payload: string } | null;

/**
 * The gateway's MQTT side: a retained online/offline status with a last will,
 * retained per-device availability, and the outbox sink that publishes records.
 */
export class MqttPublisher implements Sink {
  readonly name = 'mqtt';
  private client: MqttClient | null = null;
  private readonly availability = new Map<string, AvailabilityPayload>();
  private connected = false;

  constructor(private readonly opts: MqttPublisherOptions) {}

  start(): void {
    const { config, topics, clientId, log } = this.opts;
    const offline: StatusPayload = { state: 'offline', version: this.opts.version, ts_ms: Date.now() };
    const options: IClientOptions = {
      clientId,
      protocolVersion: config.protocol_version,
      clean: false,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      will: { topic: topics.status(), payload: Buffer.from(JSON.stringify(offline)), qos: 1, retain: true },
      ...(config.username !== undefined ? { username: config.username } : {}),
      ...(config.password !== undefined ? { password: config.password } : {}),
    };
    if (config.tls) {
      options.rejectUnauthorized = config.tls.verify;
      if (!config.tls.verify) log.warn({ url: config.url }, 'mqtt TLS verification is off');
      if (config.tls.ca) options.ca = readFileSync(config.tls.ca);
      if (config.tls.cert) options.cert = readFileSync(config.tls.cert);
      if (config.tls.key) options.key = readFileSync(config.tls.key);
    }
    const client = mqtt.connect(config.url, options);
    this.client = client;
    client.on('connect', () => {
      if (!this.connected) log.info({ url: config.url }, 'mqtt connected');
      this.connected = true;
      void this.announce().catch((err: unknown) => log.warn({ err }, 'mqtt status publish failed'));
    });
    client.on('close', () => {
      if (this.connected) log.warn({ url: config.url }, 'mqtt disconnected');
      this.connected = false;
    });
    client.on('error', (err) => log.debug({ err }, 'mqtt client error'));
  }

  ready(): boolean {
    return this.connected;
  }

  /** Retained state: re-sent after every reconnect, since the broker may have lost it. */
  private async announce(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const status: StatusPayload = {
      state: 'online', version: this.opts.version, started_at: this.opts.startedAt.toISOString(), ts_ms: Date.now(),
    };
    await client.publishAsync(this.opts.topics.status(), JSON.stringify(status), { qos: 1, retain: true });
    for (const [device, payload] of this.availability) {
      await client.publishAsync(this.opts.topics.availability(device), JSON.stringify(payload), { qos: 1, retain: true });
    }
  }

  setAvailability(device: string, state: AvailabilityPayload['state'], reason?: string): void {
    const payload: AvailabilityPayload = reason ? { state, reason, ts_ms: Date.now() } : { state, ts_ms: Date.now() };
    this.availability.set(device, payload);
    if (this.connected && this.client) {
      this.client.publishAsync(this.opts.topics.availability(device), JSON.stringify(payload), { qos: 1, retain: true })
        .catch((err: unknown) => this.opts.log.debug({ err, device }, 'availability publish failed; resent on reconnect'));
    }
  }

  async deliver(batch: Array<QueuedRecord>): Promise<void> {
    const client = this.client;
    if (!client || !this.connected) throw new SinkError('mqtt not connected', true);
    const sends: Array<Promise<unknown>> = [];
    for (const item of batch) {
      const routed = this.route(item.record);
      if (!routed) continue;
      sends.push(client.publishAsync(routed.topic, routed.payload, { qos: routed.qos }));
    }
    try {
      await Promise.all(sends);
    } catch (err) {
      throw new SinkError('mqtt publish failed', true, { cause: err });
    }
  }

  private route(record: unknown): Routed {
    const r = record as { kind?: string; device?: string; account?: string; enpi?: string; window?: string };
    const t = this.opts.topics;
    const payload = JSON.stringify(record);
    switch (r.kind) {
      case 'telemetry': return { topic: t.telemetry(r.device ?? 'unknown'), qos: this.opts.config.qos_telemetry, payload };
      case 'energy': return { topic: t.energy(r.account ?? 'unknown', r.window ?? 'unknown'), qos: 1, payload };
      case 'enpi': return { topic: t.enpi(r.enpi ?? 'unknown', r.window ?? 'unknown'), qos: 1, payload };
      case 'demand': return { topic: t.demand(r.account ?? 'unknown', r.window ?? 'unknown'), qos: 1, payload };
      case 'event': return { topic: t.event((record as { event?: string }).event ?? 'event'), qos: 1, payload };
      default: return null;
    }
  }

  /** Publishes the retained offline status, then disconnects. */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (this.connected) {
      const offline: StatusPayload = { state: 'offline', version: this.opts.version, ts_ms: Date.now() };
      await Promise.race([
        client.publishAsync(this.opts.topics.status(), JSON.stringify(offline), { qos: 1, retain: true }),
        new Promise((r) => setTimeout(r, 2000)),
      ]).catch(() => undefined);
    }
    await client.endAsync();
  }
}

import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { MqttConfig } from '../../config/schema.js';
import type { QueuedRecord } from '../../outbox/outbox.js';
import { withSuffix, type PackedTelemetry } from '../../outbox/packed-telemetry.js';
import { SinkError } from '../errors.js';
import type { DeliveryContext, Sink } from '../runner.js';
import { mqttConnectOptions } from './connection.js';
import type { AvailabilityPayload, StatusPayload } from './payloads.js';
import type { Topics } from './topics.js';

export interface MqttPublisherOptions {
  config: MqttConfig;
  topics: Topics;
  clientId: string;
  version: string;
  startedAt: Date;
  /** Written into every record payload, so a bridge can tag records whatever the topic layout. */
  identity: { site: string; gateway: string };
  log: Logger;
}

type Routed = { topic: string; qos: 0 | 1 } | null;

/** A key the publisher adds itself: a stored text holding one goes the general way. */
const ORIGIN_KEY = /"(?:site|gateway|replayed)":/;

/** A publish not confirmed within this is retried from the outbox (the broker is away or stuck). */
const PUBLISH_TIMEOUT_MS = 30_000;

/**
 * The gateway's MQTT side: a retained online/offline status with a last will,
 * retained per-device availability, and the outbox sink that publishes records
 * (QoS 1 for interval records, configurable for telemetry).
 */
export class MqttPublisher implements Sink {
  readonly name = 'mqtt';
  private client: MqttClient | null = null;
  private readonly availability = new Map<string, AvailabilityPayload>();
  private connected = false;
  /** A disconnect we asked for (shutdown) is not worth a warning. */
  private stopping = false;

  constructor(private readonly opts: MqttPublisherOptions) {}

  start(): void {
    const { config, topics, clientId, log } = this.opts;
    const offline: StatusPayload = { state: 'offline', version: this.opts.version, ts_ms: Date.now() };
    const options: IClientOptions = {
      ...mqttConnectOptions(config, clientId, log),
      will: { topic: topics.status(), payload: Buffer.from(JSON.stringify(offline)), qos: 1, retain: true },
      // The outbox is the queue: a publish attempted while offline fails and is retried
      // from there, instead of also waiting in the client's memory.
      queueQoSZero: false,
    };
    const client = mqtt.connect(config.url, options);
    this.client = client;
    client.on('connect', () => {
      // Nagle's algorithm holds a small publish back while an earlier segment is not
      // yet acknowledged, and the receiver delays that acknowledgement (40 ms on
      // Linux): telemetry is a stream of small messages, sent as soon as it is stored.
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      if (!this.connected) log.info({ url: config.url }, 'mqtt connected');
      this.connected = true;
      void this.announce().catch((err: unknown) => log.warn({ err }, 'mqtt status publish failed'));
    });
    client.on('close', () => {
      if (this.connected && !this.stopping) log.warn({ url: config.url }, 'mqtt disconnected');
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

  async deliver(batch: Array<QueuedRecord>, ctx: DeliveryContext = { replayed: false }): Promise<void> {
    const client = this.client;
    if (!client || !this.connected) throw new SinkError('mqtt not connected', true);
    const { site, gateway } = this.opts.identity;
    const sends: Array<Promise<unknown>> = [];
    const suffix = `,"site":${JSON.stringify(site)},"gateway":${JSON.stringify(gateway)}${ctx.replayed ? ',"replayed":true' : ''}}`;
    const suffixBytes = Buffer.from(suffix);
    for (const item of batch) {
      const fast = item.packed !== undefined ? this.telemetryFromPacked(item.packed, suffixBytes)
        : item.payload === undefined ? null : this.telemetryFromJson(item.payload, suffixBytes);
      if (fast) {
        sends.push(client.publishAsync(fast.topic, fast.payload, { qos: this.opts.config.qos_telemetry }));
        continue;
      }
      const routed = this.route(item.record);
      if (!routed) continue;
      const payload = JSON.stringify({ ...(item.record as object), site, gateway, ...(ctx.replayed ? { replayed: true } : {}) });
      sends.push(client.publishAsync(routed.topic, payload, { qos: routed.qos }));
    }
    let timer: NodeJS.Timeout | undefined;
    let onClose: (() => void) | undefined;
    try {
      await Promise.race([
        Promise.all(sends),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('publish not confirmed in time')), PUBLISH_TIMEOUT_MS); }),
        // mqtt.js would hold these publishes until it reconnects; failing the batch now
        // lets the runner see the outage, so what queues up meanwhile is sent as a
        // marked backlog behind live records (the batch itself is resent: at least once).
        new Promise((_, reject) => { onClose = () => reject(new Error('connection lost during publish')); client.once('close', onClose); }),
      ]);
    } catch (err) {
      throw new SinkError('mqtt publish failed', true, { cause: err });
    } finally {
      clearTimeout(timer);
      if (onClose) client.removeListener('close', onClose);
      // Publishes still in flight after a failure settle later; their outcome no longer matters.
      for (const s of sends) s.catch(() => undefined);
    }
  }

  /**
   * A telemetry message straight from the stored JSON (most messages by far): the same
   * text as JSON.stringify({ ...record, site, gateway }), without parsing the record
   * and writing it again. Null when the text is not plainly a telemetry record without
   * those keys (then the general path).
   */
  private telemetryFromJson(json: string, suffix: Buffer): { topic: string; payload: Buffer } | null {
    if (json.charCodeAt(json.length - 1) !== 125) return null;
    const device = telemetryDevice(json);
    return device === null ? null : { topic: this.opts.topics.telemetry(device), payload: withSuffix(json, suffix) };
  }

  /**
   * The same from telemetry stored packed: the bytes are written from the stored numbers and
   * the layout, and only the head is looked at (the rest is numbers).
   */
  private telemetryFromPacked(packed: PackedTelemetry, suffix: Buffer): { topic: string; payload: Buffer } | null {
    const device = telemetryDevice(packed.head);
    return device === null ? null : { topic: this.opts.topics.telemetry(device), payload: packed.bytes(suffix) };
  }

  private route(record: unknown): Routed {
    const r = record as { kind?: string; device?: string; account?: string; enpi?: string; window?: string; type?: string };
    const t = this.opts.topics;
    switch (r.kind) {
      case 'telemetry': return { topic: t.telemetry(r.device ?? 'unknown'), qos: this.opts.config.qos_telemetry };
      case 'energy': return { topic: t.energy(r.account ?? 'unknown', r.window ?? 'unknown'), qos: 1 };
      case 'enpi': return { topic: t.enpi(r.enpi ?? 'unknown', r.window ?? 'unknown'), qos: 1 };
      case 'demand': return { topic: t.demand(r.account ?? 'unknown', r.window ?? 'unknown'), qos: 1 };
      case 'event': return { topic: t.event(r.type ?? 'event'), qos: 1 };
      default: return null;
    }
  }

  /** Publishes the retained offline status, then disconnects. */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.stopping = true;
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

/**
 * The device of a telemetry record's JSON text (or of its head), when the text is plainly
 * one: no escapes (the name is then exactly what lies between the quotes) and none of the
 * keys the publisher adds itself.
 */
function telemetryDevice(json: string): string | null {
  const head = '{"kind":"telemetry","device":"';
  if (!json.startsWith(head) || json.includes('\\')) return null;
  // One pass instead of three string searches (each scanned the whole text).
  if (ORIGIN_KEY.test(json)) return null;
  const end = json.indexOf('"', head.length);
  return end < 0 ? null : json.slice(head.length, end);
}

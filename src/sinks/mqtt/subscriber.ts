import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { MqttConfig } from '../../config/schema.js';
import { mqttConnectOptions } from './connection.js';

export interface SubscriberOptions {
  config: MqttConfig;
  clientId: string;
  topics: string[];
  /** Shared subscription group ($share/<group>/<topic>): bridges with the same group split the messages. */
  shareGroup?: string | undefined;
  qos: 0 | 1;
  log: Logger;
  /**
   * Stores a batch of messages durably (synchronously); throws when it cannot. A QoS 1
   * message is acknowledged to the broker only after the batch holding it is stored.
   */
  store(messages: Array<{ topic: string; payload: Buffer }>): void;
}

/** QoS 0 messages (telemetry) are stored in small batches: nothing acknowledges them anyway. */
const QOS0_BATCH = 500;
const QOS0_DELAY_MS = 50;
const STORE_RETRY_MS = 1000;

/**
 * The bridge's MQTT side: a persistent session that subscribes to gateways' topics and
 * hands every message to `store` before acknowledging it. mqtt.js sends the PUBACK of
 * a QoS 1 message only when `handleMessage` calls back, and handles the next message
 * only then: while storing fails, the broker keeps the messages (backpressure).
 */
export class MqttSubscriber {
  readonly stats = { received: 0, stored: 0, connected: false, subscribed: false, sessionsLost: 0 };
  private client: MqttClient | null = null;
  private pending: Array<{ topic: string; payload: Buffer }> = [];
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;

  constructor(private readonly opts: SubscriberOptions) {}

  filters(): string[] {
    return this.opts.topics.map((t) => (this.opts.shareGroup ? `$share/${this.opts.shareGroup}/${t}` : t));
  }

  start(): void {
    const { config, clientId, log } = this.opts;
    const options: IClientOptions = {
      ...mqttConnectOptions(config, clientId, log),
      // The session keeps the subscriptions; they are renewed only when the broker lost it.
      resubscribe: false,
    };
    const client = mqtt.connect(config.url, options);
    this.client = client;
    client.handleMessage = (packet: IPublishPacket, callback) => this.handle(packet, callback);
    client.on('connect', (connack) => {
      if (!this.stats.connected) log.info({ url: config.url, session_present: connack.sessionPresent }, 'mqtt connected');
      this.stats.connected = true;
      if (connack.sessionPresent && this.stats.subscribed) return;
      if (this.stats.subscribed) {
        // We had a session and the broker no longer has it (restarted without
        // persistence, or the session expired): whatever was published for us
        // meanwhile, and until we subscribe again, is gone.
        this.stats.sessionsLost += 1;
        log.warn({ url: config.url }, 'broker lost our MQTT session: messages published while we were away are not redelivered; enable persistence on the broker');
      }
      client.subscribeAsync(this.filters(), { qos: this.opts.qos })
        .then((granted) => {
          const refused = granted.filter((g) => g.qos === 128);
          if (refused.length > 0) log.error({ topics: refused.map((g) => g.topic) }, 'broker refused subscription');
          else log.info({ topics: this.filters() }, 'subscribed');
          this.stats.subscribed = refused.length === 0;
        })
        .catch((err: unknown) => log.warn({ err }, 'subscribe failed; retried on reconnect'));
    });
    client.on('close', () => {
      if (this.stats.connected && !this.stopping) log.warn({ url: config.url }, 'mqtt disconnected');
      this.stats.connected = false;
    });
    client.on('error', (err) => log.debug({ err }, 'mqtt client error'));
  }

  private handle(packet: IPublishPacket, callback: (err?: Error) => void): void {
    this.stats.received += 1;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    this.pending.push({ topic: packet.topic, payload });
    if (packet.qos === 0 && this.pending.length < QOS0_BATCH) {
      this.timer ??= setTimeout(() => this.flushQuietly(), QOS0_DELAY_MS);
      callback();
      return;
    }
    const attempt = (): void => {
      if (this.flush()) {
        callback();
      } else if (!this.stopping) {
        setTimeout(attempt, STORE_RETRY_MS);
      }
    };
    attempt();
  }

  /** Stores what is pending; false when the store failed (kept pending, logged). */
  private flush(): boolean {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return true;
    try {
      this.opts.store(this.pending);
    } catch (err) {
      this.opts.log.error({ err, messages: this.pending.length }, 'bridge cannot store messages; holding acknowledgements');
      return false;
    }
    this.stats.stored += this.pending.length;
    this.pending = [];
    return true;
  }

  private flushQuietly(): void {
    if (!this.flush() && !this.stopping) this.timer = setTimeout(() => this.flushQuietly(), STORE_RETRY_MS);
  }

  /** Disconnects, keeping the session: the broker holds our share of messages until we are back. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.flush();
    await this.client?.endAsync();
  }
}

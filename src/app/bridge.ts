// The bridge: gateways' records from an MQTT broker into InfluxDB, through a durable
// outbox of its own. Several bridges share one subscription group to split the load;
// each acknowledges a message to the broker only once it is stored.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BridgeConfig } from '../config/bridge.js';
import { ConfigError } from '../config/errors.js';
import type { RootConfig } from '../config/schema.js';
import { MetricsText, startHttp } from '../http/server.js';
import { RECORD_PAYLOADS } from '../sinks/mqtt/payloads.js';
import { MqttSubscriber } from '../sinks/mqtt/subscriber.js';
import { VERSION } from '../version.js';
import { Delivery } from './delivery.js';
import { tuneHeapForGateway } from './heap.js';

export interface BridgeOptions {
  log: Logger;
  configFile?: string;
  /** Listen address override (tests use 127.0.0.1:0). */
  httpListen?: string;
}

export interface BridgeStats {
  /** Messages by outcome: stored (a record), ignored (not a record: status, availability), invalid (refused, logged). */
  messages: { stored: number; ignored: number; invalid: number };
}

export interface RunningBridge {
  delivery: Delivery;
  subscriber: MqttSubscriber;
  stats: BridgeStats;
  httpPort: number | null;
  stop(): Promise<void>;
}

export async function startBridge(config: RootConfig, opts: BridgeOptions): Promise<RunningBridge> {
  tuneHeapForGateway();
  const log = opts.log;
  const file = opts.configFile ?? '(config)';
  const problems = [
    ...(config.mqtt ? [] : [{ file, line: 0, path: 'mqtt', message: 'the bridge needs an mqtt section (the broker to subscribe to)' }]),
    ...(config.influx ? [] : [{ file, line: 0, path: 'influx', message: 'the bridge needs an influx section (where records go)' }]),
  ];
  if (problems.length > 0 || !config.mqtt || !config.influx) throw new ConfigError(problems);
  const bridge = config.bridge ?? BridgeConfig.parse({});
  const dataDir = bridge.data_dir ?? join(config.gateway.data_dir, 'bridge');

  const delivery = new Delivery({
    outboxFile: join(dataDir, 'outbox.sqlite'),
    outbox: config.outbox,
    identity: { site: config.gateway.site, gateway: config.gateway.id },
    log,
    influx: config.influx,
  });
  await delivery.start();

  const stats: BridgeStats = { messages: { stored: 0, ignored: 0, invalid: 0 } };
  const invalidTopics = new Set<string>();
  const subscriber = new MqttSubscriber({
    config: config.mqtt,
    clientId: bridge.client_id ?? `energy-gateway-bridge-${config.gateway.id}`,
    topics: bridge.topics,
    shareGroup: bridge.share_group,
    qos: bridge.qos,
    log: log.child({ component: 'bridge' }),
    store: (messages) => {
      const records: Array<{ kind: string; record: unknown }> = [];
      for (const m of messages) {
        const r = decode(m.topic, m.payload);
        if (r === 'ignored') {
          stats.messages.ignored += 1;
        } else if (typeof r === 'string') {
          stats.messages.invalid += 1;
          // Once per topic: a misbehaving publisher must not flood the log.
          if (!invalidTopics.has(m.topic)) {
            invalidTopics.add(m.topic);
            log.warn({ topic: m.topic, reason: r }, 'bridge refused a message');
          }
        } else {
          records.push(r);
        }
      }
      // Throws when the disk refuses: the subscriber then holds the acknowledgements.
      delivery.outbox.append(records, Date.now());
      stats.messages.stored += records.length;
      if (records.length > 0) delivery.notify();
    },
  });
  subscriber.start();

  const http = config.http || opts.httpListen
    ? await startHttp(opts.httpListen ?? config.http!.listen, {
      ready: () => {
        if (!subscriber.stats.connected) return { ready: false, reason: 'not connected to the broker' };
        if (!subscriber.stats.subscribed) return { ready: false, reason: 'not subscribed' };
        return delivery.health();
      },
      metrics: () => {
        const m = new MetricsText();
        m.add('energy_gateway_bridge_messages_total', 'counter', 'Messages received by the bridge, by outcome',
          (['stored', 'ignored', 'invalid'] as const).map((result) => ({ labels: { result }, value: stats.messages[result] })));
        m.add('energy_gateway_bridge_connected', 'gauge', '1 while connected to the broker', [{ value: subscriber.stats.connected ? 1 : 0 }]);
        m.add('energy_gateway_bridge_sessions_lost_total', 'counter', 'Reconnects on which the broker no longer had the bridge\'s session', [{ value: subscriber.stats.sessionsLost }]);
        delivery.metrics(m);
        return m.toString();
      },
    }, log)
    : null;

  log.info({ version: VERSION, bridge: config.gateway.id, topics: subscriber.filters() }, 'bridge started');

  let stopping: Promise<void> | null = null;
  return {
    delivery, subscriber, stats, httpPort: http?.port ?? null,
    stop: () => {
      stopping ??= (async () => {
        await subscriber.stop();
        await http?.close();
        await delivery.stop(2000);
        log.info('bridge stopped');
      })();
      return stopping;
    },
  };
}

/** A message as a record, 'ignored' when it is not one (status, availability), or why it is refused. */
function decode(topic: string, payload: Buffer): { kind: string; record: unknown } | string {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  const kind = value && typeof value === 'object' ? (value as { kind?: unknown }).kind : undefined;
  if (kind === undefined) return 'ignored';
  if (typeof kind !== 'string') return 'kind is not a string';
  const schema = RECORD_PAYLOADS[kind];
  if (!schema) return `unknown kind "${kind}"`;
  const parsed = schema.safeParse(value);
  if (!parsed.success) return `${kind} payload does not match the contract: ${parsed.error.issues[0]?.message ?? ''} at ${parsed.error.issues[0]?.path.join('.') ?? ''}`;
  const r = value as { site?: unknown; gateway?: unknown };
  if (typeof r.site !== 'string' || typeof r.gateway !== 'string') return `no site/gateway in the payload (topic ${topic})`;
  return { kind, record: value };
}

import type { IClientOptions } from 'mqtt';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { MqttConfig } from '../../config/schema.js';

function ignore(): void {}

/** DEBUG=mqttjs* (or *) turns mqtt.js's own tracing on, as its README says. */
export function mqttTraceWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.DEBUG ?? '').split(/[\s,]+/).some((p) => p === '*' || (!p.startsWith('-') && p.includes('mqtt')));
}

/**
 * Connection options shared by the gateway's publisher and the bridge's subscriber:
 * MQTT 3.1.1 or 5, a persistent session, credentials, and TLS with the server
 * certificate verified unless the config says otherwise.
 */
export function mqttConnectOptions(config: MqttConfig, clientId: string, log: Logger): IClientOptions {
  const options: IClientOptions = {
    clientId,
    protocolVersion: config.protocol_version,
    // Persistent session: the broker keeps subscriptions and unacknowledged QoS 1
    // messages while the client is away (MQTT 5: for session_expiry).
    clean: false,
    reconnectPeriod: 2000,
    connectTimeout: 10_000,
    // mqtt.js traces every packet through `debug`, which gathers its arguments even when
    // tracing is off: a dozen calls per publish. Off unless DEBUG asks for mqttjs.
    ...(mqttTraceWanted() ? {} : { log: ignore }),
    ...(config.username !== undefined ? { username: config.username } : {}),
    ...(config.password !== undefined ? { password: config.password } : {}),
  };
  if (config.protocol_version === 5) {
    options.properties = { sessionExpiryInterval: Math.min(0xffffffff, Math.round(config.session_expiry / 1000)) };
  }
  if (config.tls) {
    if (!/^(mqtts|ssl|wss|tls):/.test(config.url)) log.warn({ url: config.url }, 'mqtt tls settings given but the url is not mqtts://; connecting without TLS');
    options.rejectUnauthorized = config.tls.verify;
    if (!config.tls.verify) log.warn({ url: config.url }, 'mqtt TLS verification is off');
    if (config.tls.ca) options.ca = readFileSync(config.tls.ca);
    if (config.tls.cert) options.cert = readFileSync(config.tls.cert);
    if (config.tls.key) options.key = readFileSync(config.tls.key);
  }
  return options;
}

import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { requestTopic, responseTopic, RequestResponse, type RequestKind } from '../app/requests.js';
import { silentLogger } from '../log/logger.js';
import { mqttConnectOptions } from '../sinks/mqtt/connection.js';
import { defaultTopicRoot } from '../sinks/mqtt/topics.js';
import { CONFIG_OPTION, parseCommandArgs, requireString } from './args.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from './command.js';
import { loadGatewayConfig } from './load-config.js';

function parseTime(text: string | undefined, flag: string): number {
  if (text === undefined) throw new UsageError(`missing ${flag}`);
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new UsageError(`${flag}: "${text}" is not a time (ISO 8601 with offset, e.g. 2026-03-01T08:00:00+08:00, or epoch ms)`);
  return ms;
}

function parseNumber(text: string | undefined, flag: string): number {
  if (text === undefined) throw new UsageError(`missing ${flag}`);
  const n = Number(text);
  if (!Number.isFinite(n)) throw new UsageError(`${flag}: "${text}" is not a number`);
  return n;
}

export const recordCommand: Command = {
  name: 'record',
  summary: 'enter a meter replacement, manual output or manual quantity into a running gateway',
  usage: `energy-gateway record replacement --config F --device ID [--point P] --old-final X --new-initial Y [--at TIME]
                              [--old-serial S] [--new-serial S] [--by NAME] [--note TEXT]
energy-gateway record output   --config F --enpi ID --start TIME --end TIME --quantity N [--by NAME] [--note TEXT]
energy-gateway record quantity --config F --account ID --start TIME --end TIME --quantity N [--by NAME] [--note TEXT]

Sends the entry to the gateway over MQTT (<topic root>/requests/<kind>, QoS 1) and waits
for its answer. The gateway applies it to the energy core and stores it before it
acknowledges; if the gateway is not running, the entry waits at the broker and is
applied when it starts. TIME is ISO 8601 with an offset or epoch milliseconds; --at
defaults to now. Readings are in the point's unit on the meter side (before CT/PT).
Exit 0 when applied, 1 when refused or not answered within --wait seconds (default 30).`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...CONFIG_OPTION, device: { type: 'string' }, point: { type: 'string' },
      'old-final': { type: 'string' }, 'new-initial': { type: 'string' }, at: { type: 'string' },
      'old-serial': { type: 'string' }, 'new-serial': { type: 'string' },
      enpi: { type: 'string' }, account: { type: 'string' }, start: { type: 'string' }, end: { type: 'string' },
      quantity: { type: 'string' }, by: { type: 'string' }, note: { type: 'string' }, wait: { type: 'string', default: '30' },
    }, true);
    const kind = positionals[0] as RequestKind | undefined;
    if (kind !== 'replacement' && kind !== 'output' && kind !== 'quantity') throw new UsageError('say what to record: replacement, output or quantity');
    const { config } = loadGatewayConfig(requireString(values.config, '--config'));
    if (!config.mqtt) throw new UsageError('the config has no mqtt section: entries reach the gateway over MQTT');
    const requestId = randomUUID();
    const common = { request_id: requestId, ...(values.by ? { by: values.by } : {}), ...(values.note ? { note: values.note } : {}) };
    let payload: Record<string, unknown>;
    if (kind === 'replacement') {
      payload = {
        ...common, device: requireString(values.device, '--device'), point: values.point ?? 'active_energy_import_total',
        ts_ms: values.at ? parseTime(values.at, '--at') : Date.now(),
        old_final: parseNumber(values['old-final'], '--old-final'), new_initial: parseNumber(values['new-initial'], '--new-initial'),
        ...(values['old-serial'] ? { old_serial: values['old-serial'] } : {}), ...(values['new-serial'] ? { new_serial: values['new-serial'] } : {}),
      };
    } else {
      payload = {
        ...common,
        ...(kind === 'output' ? { enpi: requireString(values.enpi, '--enpi') } : { account: requireString(values.account, '--account') }),
        start_ms: parseTime(values.start, '--start'), end_ms: parseTime(values.end, '--end'), quantity: parseNumber(values.quantity, '--quantity'),
      };
    }
    const root = config.mqtt.topic_root ?? defaultTopicRoot(config.gateway.site, config.gateway.id);
    // A one-off client: no session to keep at the broker.
    const { properties: _session, ...options } = mqttConnectOptions(config.mqtt, `energy-gateway-record-${requestId.slice(0, 8)}`, silentLogger());
    const client = await mqtt.connectAsync(config.mqtt.url, { ...options, clean: true });
    try {
      const answer = new Promise<RequestResponse>((resolve) => {
        client.on('message', (_topic, message) => {
          const parsed = RequestResponse.safeParse(JSON.parse(message.toString()));
          if (parsed.success) resolve(parsed.data);
        });
      });
      await client.subscribeAsync(responseTopic(root, requestId), { qos: 1 });
      await client.publishAsync(requestTopic(root, kind), JSON.stringify(payload), { qos: 1 });
      const waitMs = Number(values.wait) * 1000;
      const response = await Promise.race([answer, new Promise<null>((r) => setTimeout(() => r(null), waitMs))]);
      if (!response) {
        process.stderr.write(`no answer within ${values.wait}s: the request is queued at the broker and will be applied when the gateway runs (request_id ${requestId})\n`);
        return EXIT_FAILURE;
      }
      process.stdout.write(`${JSON.stringify(response)}\n`);
      if (!response.ok) process.stderr.write(`refused: ${response.error ?? 'unknown reason'}\n`);
      return response.ok ? EXIT_OK : EXIT_FAILURE;
    } finally {
      await client.endAsync();
    }
  },
};

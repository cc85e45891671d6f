import { startBridge } from '../app/bridge.js';
import { createLogger } from '../log/logger.js';
import { CONFIG_OPTION, parseCommandArgs, requireString } from './args.js';
import { EXIT_OK, type Command } from './command.js';
import { loadGatewayConfig } from './load-config.js';
import { untilSignal } from './signals.js';

export const bridgeCommand: Command = {
  name: 'bridge',
  summary: 'write gateways\' records from an MQTT broker into InfluxDB',
  usage: `energy-gateway bridge --config FILE [--pretty]

Subscribes to the topics in bridge.topics on the broker in the mqtt section (a
persistent session; with bridge.share_group, a shared subscription so several
bridges split the load) and writes every record to the influx section through an
outbox in bridge.data_dir. A message is acknowledged to the broker only once it is
stored on disk. Stops cleanly on SIGINT or SIGTERM.`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { ...CONFIG_OPTION, pretty: { type: 'boolean' } });
    const file = requireString(values.config, '--config');
    const { config } = loadGatewayConfig(file);
    const log = createLogger({ level: config.logging.level, ...(values.pretty || config.logging.pretty ? { pretty: true } : {}) });
    const bridge = await startBridge(config, { log, configFile: file });
    await untilSignal();
    await bridge.stop();
    log.flush();
    return EXIT_OK;
  },
};

import { startGateway } from '../app/gateway.js';
import { formatProblem } from '../config/errors.js';
import { createLogger } from '../log/logger.js';
import { CONFIG_OPTION, parseCommandArgs, requireString } from './args.js';
import { EXIT_OK, type Command } from './command.js';
import { loadGatewayConfig } from './load-config.js';
import { untilSignal } from './signals.js';

export const runCommand: Command = {
  name: 'run',
  summary: 'run the gateway with a config file',
  usage: `energy-gateway run --config FILE [--pretty]

Polls the configured devices, computes energy and EnPIs, and publishes to MQTT and
InfluxDB through the on-disk outbox in gateway.data_dir. Stops cleanly on SIGINT or
SIGTERM (queued records stay on disk and are sent after the next start).`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { ...CONFIG_OPTION, pretty: { type: 'boolean' } });
    const file = requireString(values.config, '--config');
    const { config, catalogue, warnings } = loadGatewayConfig(file);
    const log = createLogger({ level: config.logging.level, ...(values.pretty || config.logging.pretty ? { pretty: true } : {}) });
    // Once, at start: a gateway that runs for months must not repeat what check already says.
    for (const w of warnings) log.warn({ file: w.file, line: w.line, path: w.path }, `config warning: ${formatProblem(w)}`);
    const gateway = await startGateway(config, { log, catalogue, configFile: file });
    await untilSignal();
    await gateway.stop();
    log.flush();
    return EXIT_OK;
  },
};

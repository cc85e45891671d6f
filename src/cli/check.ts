import { CONFIG_OPTION, parseCommandArgs, requireString } from './args.js';
import { EXIT_OK, type Command } from './command.js';
import { loadGatewayConfig } from './load-config.js';

export const checkCommand: Command = {
  name: 'check',
  summary: 'validate a config file without touching the network',
  usage: `energy-gateway check --config FILE

Validates FILE: schema, cross-references, driver names and point definitions.
Prints every problem as file:line path: message and exits 2, or prints a summary
and exits 0. Secrets referenced as \${env:NAME} or \${file:PATH} must resolve.`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { ...CONFIG_OPTION });
    const file = requireString(values.config, '--config');
    const { config } = loadGatewayConfig(file);
    process.stdout.write(`${file}: ok — ${config.buses.length} buses, ${config.devices.length} devices, ${config.accounts.length} accounts, ${config.enpi.length} EnPIs\n`);
    return EXIT_OK;
  },
};

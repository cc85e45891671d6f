import { CONFIG_OPTION, parseCommandArgs, requireString } from './args.js';
import { ConfigError, formatProblem } from '../config/errors.js';
import { EXIT_OK, EXIT_USAGE, type Command } from './command.js';
import { loadGatewayConfig, printWarnings } from './load-config.js';

export const checkCommand: Command = {
  name: 'check',
  summary: 'validate a config file without touching the network',
  usage: `energy-gateway check --config FILE

Validates FILE: schema, cross-references, driver names and point definitions.
Prints every problem as file:line path: message and exits 2, or prints a summary
and exits 0. Warnings (legal but usually wrong, such as two devices at one unit id
of one bus) go to stderr as warning: file:line path: message, after any problems;
they alone do not fail the check. Secrets referenced as \${env:NAME} or \${file:PATH}
must resolve.`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { ...CONFIG_OPTION });
    const file = requireString(values.config, '--config');
    let loaded: ReturnType<typeof loadGatewayConfig>;
    try {
      loaded = loadGatewayConfig(file);
    } catch (err) {
      // Problems and warnings of one pass, both listed: the next run should not bring surprises.
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      printWarnings(err.warnings);
      return EXIT_USAGE;
    }
    const { config, warnings } = loaded;
    printWarnings(warnings);
    const warned = warnings.length > 0 ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : '';
    process.stdout.write(`${file}: ok — ${config.buses.length} buses, ${config.devices.length} devices, ${config.accounts.length} accounts, ${config.enpi.length} EnPIs${warned}\n`);
    return EXIT_OK;
  },
};

import { ConfigError, formatProblem } from '../config/errors.js';
import { CatalogueError } from '../profiles/catalogue.js';
import { VERSION } from '../version.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Command } from './command.js';

/**
 * Commands load lazily: `--version` or `check` must not pay for node-opcua.
 * To add a command, add one line here.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  run: { summary: 'run the gateway with a config file', load: async () => (await import('./run.js')).runCommand },
  check: { summary: 'validate a config file without touching the network', load: async () => (await import('./check.js')).checkCommand },
  simulate: { summary: 'serve simulated meters over Modbus TCP, RTU or RTU over TCP', load: async () => (await import('./simulate.js')).simulateCommand },
  read: { summary: 'read every point of one Modbus device once', load: async () => (await import('./read.js')).readCommand },
  plan: { summary: 'show the planned Modbus requests per bus and the expected cycle time', load: async () => (await import('./plan.js')).planCommand },
  probe: { summary: 'show registers under every byte/word order and at address ±1', load: async () => (await import('./probe.js')).probeCommand },
  demo: { summary: 'run a simulated plant, an embedded broker and the gateway', load: async () => (await import('./demo.js')).demoCommand },
  browse: { summary: 'list an OPC UA server\'s variables with node ids, types and values', load: async () => (await import('./browse.js')).browseCommand },
  compute: { summary: 'run the energy engine over a readings file; print window, demand and EnPI records', load: async () => (await import('./compute.js')).computeCommand },
  evaluate: { summary: 'print the year\'s 亩产效益 and green-factory indicators', load: async () => (await import('./evaluate.js')).evaluateCommand },
  opcua: { summary: 'OPC UA certificates: list, trust a rejected server certificate', load: async () => (await import('./opcua.js')).opcuaCommand },
  bridge: { summary: 'write gateways\' records from an MQTT broker into InfluxDB', load: async () => (await import('./bridge.js')).bridgeCommand },
  record: { summary: 'enter a meter replacement, manual output or quantity into a running gateway', load: async () => (await import('./record.js')).recordCommand },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return `energy-gateway ${VERSION} — Modbus/OPC UA energy gateway

Usage: energy-gateway <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`).join('\n')}

Options:
  --version  print the version
  --help     show this help; 'energy-gateway <command> --help' for a command

Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return EXIT_OK;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`unknown command "${name}"\n\n${mainHelp()}`);
    return EXIT_USAGE;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return EXIT_OK;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof CatalogueError) {
      process.stderr.write(`${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${command.usage}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`energy-gateway ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  }
}

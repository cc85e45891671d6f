// `energy-gateway browse`: list an OPC UA server's variables with node ids, data types
// and current values, to copy node ids into a config.
import { resolve } from 'node:path';
import { OPCUAClient } from 'node-opcua';
import { pino } from 'pino';
import { loadConfig } from '../config/loader.js';
import { OpcuaBusConfig } from '../config/opcua.js';
import { browseVariables, type BrowsedVariable } from '../protocols/opcua/browse.js';
import { clientOptions, userIdentity } from '../protocols/opcua/client-options.js';
import { routeNodeOpcuaLogs } from '../protocols/opcua/node-opcua-log.js';
import { certificateInfo, createCertificateManager, newestRejected } from '../protocols/opcua/pki.js';
import { CONFIG_OPTION, parseCommandArgs } from './args.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from './command.js';

const USAGE = `energy-gateway browse --endpoint URL [--node ID] [--depth N] [--json]
energy-gateway browse --config FILE --bus ID [--node ID] [--depth N] [--json]

Lists the variables below a node (default: the Objects folder, i=85) down to --depth
levels (default 3) with node id, data type and current value.

  --endpoint URL         opc.tcp://host:port[/path]; security none, anonymous
  --config FILE --bus ID take endpoint, security, user and data_dir from a config
  --security-mode M      none | sign | sign_and_encrypt (with --endpoint)
  --security-policy P    basic256sha256 | aes128_sha256_rsaoaep | aes256_sha256_rsapss
  --username NAME        log in as NAME; the password is read from --password-env
  --password-env VAR     environment variable holding the password
  --data-dir DIR         where the gateway's PKI lives (default ./data, or the
                         config's gateway.data_dir): browse uses the gateway's identity
  --max N                stop after N variables (default 5000)
  --json                 print a JSON array instead of a table`;

function parseIntArg(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer`);
  return n;
}

function formatValue(v: BrowsedVariable['value']): string {
  if (v === null) return '';
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function table(vars: BrowsedVariable[]): string {
  if (vars.length === 0) return 'no variables found (try --depth or --node)\n';
  const rows = [['node_id', 'data_type', 'value', 'path'],
    ...vars.map((v) => [v.node_id, v.data_type, v.quality === 'good' ? formatValue(v.value) : v.status, v.path])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    endpoint: { type: 'string', short: 'e' },
    ...CONFIG_OPTION,
    bus: { type: 'string' },
    node: { type: 'string', short: 'n' },
    depth: { type: 'string', short: 'd' },
    max: { type: 'string' },
    json: { type: 'boolean' },
    'security-mode': { type: 'string' },
    'security-policy': { type: 'string' },
    username: { type: 'string' },
    'password-env': { type: 'string' },
    'data-dir': { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  let bus: OpcuaBusConfig;
  let dataDir = values['data-dir'];
  if (values.config) {
    if (!values.bus) throw new UsageError('--config needs --bus ID');
    const config = loadConfig(values.config);
    const found = config.buses.find((b) => b.id === values.bus);
    if (!found || found.type !== 'opcua') throw new UsageError(`no opcua bus "${values.bus}" in ${values.config}`);
    bus = found;
    dataDir ??= config.gateway.data_dir;
  } else {
    if (!values.endpoint) throw new UsageError('missing --endpoint URL (or --config FILE --bus ID)');
    let password: string | undefined;
    if (values.username) {
      const envName = values['password-env'];
      if (!envName) throw new UsageError('--username needs --password-env VAR (passwords are never taken on the command line)');
      password = process.env[envName];
      if (password === undefined) throw new UsageError(`environment variable ${envName} is not set`);
    }
    const parsed = OpcuaBusConfig.safeParse({
      id: 'browse', type: 'opcua', endpoint: values.endpoint,
      ...(values['security-mode'] ? { security_mode: values['security-mode'] } : {}),
      ...(values['security-policy'] ? { security_policy: values['security-policy'] } : {}),
      ...(values.username ? { user: { type: 'username', username: values.username, password } } : {}),
    });
    if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
    bus = parsed.data;
  }
  dataDir = resolve(dataDir ?? './data');
  const depth = parseIntArg(values.depth, '--depth', 3);
  const maxVariables = parseIntArg(values.max, '--max', 5000);

  // node-opcua's own console chatter would garble the table.
  routeNodeOpcuaLogs(pino({ level: 'silent' }));
  const cm = createCertificateManager(dataDir);
  // One attempt: a commissioning command should answer, not wait for the server.
  const client = OPCUAClient.create({ ...clientOptions(bus, { dataDir, certificateManager: cm }), connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 } });
  try {
    await client.connect(bus.endpoint);
    const session = await client.createSession(userIdentity(bus));
    try {
      const vars = await browseVariables(session, { ...(values.node ? { startNodeId: values.node } : {}), depth, maxVariables });
      process.stdout.write(values.json ? `${JSON.stringify(vars, null, 2)}\n` : table(vars));
    } finally {
      await session.close().catch(() => undefined);
    }
    return EXIT_OK;
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (/BadCertificateUntrusted/.test(text)) {
      const raw = client.serverCertificate;
      const der = Array.isArray(raw) ? raw[0] : raw;
      const tp = (der ? certificateInfo(Buffer.from(der)).thumbprint : newestRejected(dataDir)?.thumbprint) ?? '<thumbprint>';
      process.stderr.write(`server certificate not trusted (thumbprint ${tp}); trust it with:\n  energy-gateway opcua certs trust ${tp} ${values.config ? `--config ${values.config}` : `--data-dir ${dataDir}`}\n`);
    } else {
      process.stderr.write(`browse ${bus.endpoint} failed: ${text}\n`);
    }
    return EXIT_FAILURE;
  } finally {
    await client.disconnect().catch(() => undefined);
    await cm.dispose().catch(() => undefined);
  }
}

export const browseCommand: Command = {
  name: 'browse',
  summary: 'list an OPC UA server\'s variables with node ids, types and values',
  usage: USAGE,
  run,
};

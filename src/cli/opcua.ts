// `energy-gateway opcua certs list|trust`: the gateway's OPC UA PKI lives in
// <data_dir>/pki; unknown server certificates are rejected and land in rejected/,
// and this command moves one to trusted/. A running gateway picks it up on its next
// connection attempt, no restart needed.
import { resolve } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../config/loader.js';
import { routeNodeOpcuaLogs } from '../protocols/opcua/node-opcua-log.js';
import { listCertificates, pkiDir, trustCertificate, type StoredCertificate } from '../protocols/opcua/pki.js';
import { CONFIG_OPTION, parseCommandArgs } from './args.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Command } from './command.js';

const USAGE = `energy-gateway opcua certs list  (--config FILE | --data-dir DIR) [--json]
energy-gateway opcua certs trust <thumbprint> (--config FILE | --data-dir DIR)

The OPC UA PKI is <gateway.data_dir>/pki: own/ holds the gateway's application
certificate (created once, reused across restarts), trusted/ the server certificates
the gateway accepts, rejected/ the ones it refused. A server certificate is refused
until trusted; the gateway's log line "opcua server certificate not trusted" gives the
exact trust command. <thumbprint> is the SHA-1 shown by 'list' (a unique prefix of at
least 8 hex digits is enough; colons and case do not matter).`;

function dataDirFrom(values: { config?: string | boolean; 'data-dir'?: string | boolean }): string {
  if (typeof values['data-dir'] === 'string' && values['data-dir']) return resolve(values['data-dir']);
  if (typeof values.config === 'string' && values.config) return resolve(loadConfig(values.config).gateway.data_dir);
  throw new UsageError('missing --config FILE (or --data-dir DIR)');
}

function table(certs: StoredCertificate[]): string {
  if (certs.length === 0) return 'no certificates\n';
  const rows = [['status', 'thumbprint', 'valid_to', 'subject', 'application_uri'],
    ...certs.map((c) => [c.status, c.thumbprint, c.validTo.slice(0, 10), c.subject, c.applicationUri ?? ''])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  routeNodeOpcuaLogs(pino({ level: 'silent' }));
  const { values, positionals } = parseCommandArgs(argv, {
    ...CONFIG_OPTION,
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
  }, true);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  const [group, action, thumb, ...extra] = positionals;
  if (group !== 'certs' || (action !== 'list' && action !== 'trust')) {
    process.stderr.write(`${USAGE}\n`);
    return EXIT_USAGE;
  }
  const dataDir = dataDirFrom(values);
  if (action === 'list') {
    if (thumb !== undefined) throw new UsageError(`unexpected argument "${thumb}"`);
    const certs = listCertificates(dataDir);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(certs.map((c) => ({
        status: c.status, thumbprint: c.thumbprint, subject: c.subject, application_uri: c.applicationUri ?? null,
        valid_from: c.validFrom, valid_to: c.validTo, file: c.file,
      })), null, 2)}\n`);
    } else {
      process.stdout.write(`pki: ${pkiDir(dataDir)}\n${table(certs)}`);
    }
    return EXIT_OK;
  }
  if (!thumb || extra.length > 0) throw new UsageError('certs trust needs exactly one <thumbprint>');
  const result = await trustCertificate(dataDir, thumb);
  if (!result.ok) {
    const what = result.reason === 'ambiguous' ? `thumbprint "${thumb}" matches several certificates` : `no certificate with thumbprint "${thumb}" in ${pkiDir(dataDir)}`;
    process.stderr.write(`${what}\n${result.candidates.length ? `candidates:\n${table(result.candidates)}` : 'no rejected certificates: connect once so the server certificate is recorded\n'}`);
    return EXIT_FAILURE;
  }
  const c = result.certificate;
  process.stdout.write(result.alreadyTrusted
    ? `already trusted: ${c.thumbprint} ${c.subject}\n`
    : `trusted: ${c.thumbprint} ${c.subject}\na running gateway uses it on its next connection attempt\n`);
  return EXIT_OK;
}

export const opcuaCommand: Command = {
  name: 'opcua',
  summary: 'OPC UA certificates: list, trust a rejected server certificate',
  usage: USAGE,
  run,
};

import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, formatPath, type ConfigProblem } from './errors.js';
import { crossCheck, RootConfig } from './schema.js';
import { resolveSecrets, type SecretProblem } from './secrets.js';
import { parseLocated } from './yaml-lines.js';

/** A check that needs more than the schema (e.g. the driver catalogue). */
export type ConfigCheck = (config: RootConfig) => Array<{ path: (string | number)[]; message: string }>;

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  checks?: ConfigCheck[];
}

/** Reads, interpolates and validates a config file; throws ConfigError listing every problem. */
export function loadConfig(file: string, options: LoadOptions = {}): RootConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([{ file, line: 0, path: '', message: `cannot read config file (${code})` }]);
  }
  return parseConfigText(text, file, options);
}

export function parseConfigText(text: string, file: string, options: LoadOptions = {}): RootConfig {
  const located = parseLocated(text);
  const problems: ConfigProblem[] = [];
  const at = (path: readonly PropertyKey[], message: string): ConfigProblem => ({
    file, line: located.lineOf(path), path: formatPath(path), message,
  });

  if (located.doc.errors.length > 0) {
    // After the first syntax error the parser's view is unreliable: report where it starts.
    const first = located.doc.errors[0]!;
    throw new ConfigError([{
      file, line: located.lineAtOffset(first.pos[0]), path: '', message: `YAML syntax: ${first.message.split('\n')[0]}`,
    }]);
  }
  const raw: unknown = located.doc.toJS();
  const secretProblems: SecretProblem[] = [];
  const resolved = resolveSecrets(raw, file, options.env ?? process.env, secretProblems);
  problems.push(...secretProblems.map((p) => at(p.path, p.message)));

  const secretPaths = new Set(secretProblems.map((p) => formatPath(p.path)));
  const parsed = RootConfig.safeParse(resolved ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // An unset secret already explains why the value is empty.
      if (secretPaths.has(formatPath(issue.path))) continue;
      problems.push(...issueProblems(issue, at));
    }
  }
  for (const p of crossCheck(resolved)) problems.push(at(p.path, p.message));
  if (parsed.success && problems.length === 0) {
    for (const check of options.checks ?? []) {
      for (const p of check(parsed.data)) problems.push(at(p.path, p.message));
    }
  }
  if (problems.length > 0) {
    problems.sort((a, b) => a.line - b.line);
    throw new ConfigError(problems);
  }
  return (parsed as { data: RootConfig }).data;
}

function issueProblems(
  issue: z.core.$ZodIssue,
  at: (path: readonly PropertyKey[], message: string) => ConfigProblem,
): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => at([...issue.path, key], 'unknown key'));
  }
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
    return [at(issue.path, `required key is missing (expected ${issue.expected})`)];
  }
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
    const path = issue.path.at(-1) === 'type' ? issue.path : [...issue.path, 'type'];
    return [at(path, 'unknown type (expected modbus_tcp, modbus_rtu, modbus_rtu_over_tcp or opcua)')];
  }
  return [at(issue.path, issue.message)];
}

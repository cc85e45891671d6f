import { readFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';

const REF_RE = /\$\{(env|file):([^}]+)\}/g;

export interface SecretProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Replaces `${env:NAME}` and `${file:PATH}` in every string of a parsed config.
 * File paths are relative to the config file. Values are never echoed in errors,
 * only the reference, so a problem report cannot leak a secret.
 */
export function resolveSecrets(
  value: unknown,
  configFile: string,
  env: NodeJS.ProcessEnv,
  problems: SecretProblem[],
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(REF_RE, (whole, kind: string, ref: string) => {
      if (kind === 'env') {
        const v = env[ref];
        if (v === undefined) {
          problems.push({ path, message: `environment variable ${ref} is not set (referenced as ${whole})` });
          return '';
        }
        return v;
      }
      const file = resolve(dirname(configFile), ref);
      try {
        return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        problems.push({ path, message: `cannot read secret file ${file} (${code})` });
        return '';
      }
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveSecrets(v, configFile, env, problems, [...path, i]));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveSecrets(v, configFile, env, problems, [...path, k]);
    return out;
  }
  return value;
}

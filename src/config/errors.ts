/** A problem at one place in a config file; `line` is 1-based, 0 when unknown. */
export interface ConfigProblem {
  file: string;
  line: number;
  path: string;
  message: string;
}

/**
 * Fatal: the config cannot be used. The CLI prints every problem and exits 2. The warnings
 * found in the same pass ride along, so `check` can list both at once.
 */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[], readonly warnings: ConfigProblem[] = []) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}` : p.file;
  return p.path ? `${where} ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/**
 * Legal but usually wrong (one meter on two device entries): the config loads, and the user
 * is told on stderr or in the log. Same shape as a problem, so an editor can jump to it.
 */
export function formatWarning(w: ConfigProblem): string {
  return `warning: ${formatProblem(w)}`;
}

/** `devices[2].bus` — the way a user would point at a key in their YAML. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { AccountConfig, MeterChannel } from './energy.js';
import { ConfigError, formatPath, type ConfigProblem } from './errors.js';
import { BusConfig, crossCheck, DeviceConfig, RootConfig } from './schema.js';
import { resolveSecrets, type SecretProblem } from './secrets.js';
import { crossWarnings } from './warnings.js';
import { parseLocated } from './yaml-lines.js';

/**
 * Something a check found at `path`. `also` names other keys a warning rests on (the unit id of
 * the first of two devices at one unit id): a warning resting on a key patched to get this far
 * (a bad value dropped for its default) is left out, as its problem is already listed.
 */
export interface Finding {
  path: (string | number)[];
  message: string;
  also?: (string | number)[][];
}

/** A check that needs more than the schema (e.g. the driver catalogue): problems, and optionally warnings. */
export type ConfigCheck = (config: RootConfig) => Finding[] | { problems: Finding[]; warnings: Finding[] };

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  checks?: ConfigCheck[];
}

/** A config that loaded, with what is legal in it but usually wrong. */
export interface LoadedConfig {
  config: RootConfig;
  warnings: ConfigProblem[];
}

/** Reads, interpolates and validates a config file; throws ConfigError listing every problem. */
export function loadConfig(file: string, options: LoadOptions = {}): RootConfig {
  return loadConfigWithWarnings(file, options).config;
}

/** loadConfig, keeping the warnings (a ConfigError carries them too). */
export function loadConfigWithWarnings(file: string, options: LoadOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([{ file, line: 0, path: '', message: `cannot read config file (${code})` }]);
  }
  return parseConfigTextWithWarnings(text, file, options);
}

export function parseConfigText(text: string, file: string, options: LoadOptions = {}): RootConfig {
  return parseConfigTextWithWarnings(text, file, options).config;
}

export function parseConfigTextWithWarnings(text: string, file: string, options: LoadOptions = {}): LoadedConfig {
  const located = parseLocated(text);
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const at = (path: readonly PropertyKey[], message: string): ConfigProblem => ({
    // A key the document does not have at all (an empty file) is reported at its top.
    file, line: located.lineOf(path) || 1, path: formatPath(path), message,
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
      problems.push(...issueProblems(issue, at, resolved));
    }
  }
  for (const p of crossCheck(resolved)) problems.push(at(p.path, p.message));
  for (const w of crossWarnings(resolved)) warnings.push(at(w.path, w.message));
  // The driver checks run on what is valid even when other parts are not, so a user fixes a
  // config in one pass: an unknown key in mqtt does not hide an unknown driver or a bad point.
  const salvaged = parsed.success ? { config: parsed.data, reported: [] } : salvage(resolved);
  if (salvaged) {
    // A part that already has a schema problem was patched to get this far: what the checks
    // say about it would only be an echo.
    const echo = (path: readonly (string | number)[]) => salvaged.reported.some((r) => r.every((k, i) => path[i] === k));
    // A warning is about the config as written: one resting on a patched key (a bad unit id
    // dropped for the default) would be about the patch, not the file.
    const touched = (path: readonly (string | number)[]) => salvaged.reported.some((r) => r.every((k, i) => i >= path.length || path[i] === k));
    for (const check of options.checks ?? []) {
      const found = check(salvaged.config);
      const { problems: checkProblems, warnings: checkWarnings } = Array.isArray(found) ? { problems: found, warnings: [] } : found;
      for (const p of checkProblems) if (!echo(p.path)) problems.push(at(p.path, p.message));
      for (const w of checkWarnings) if (![w.path, ...(w.also ?? [])].some(touched)) warnings.push(at(w.path, w.message));
    }
  }
  const uniqueWarnings = unique(warnings);
  if (problems.length > 0) throw new ConfigError(unique(problems), uniqueWarnings);
  return { config: (parsed as { data: RootConfig }).data, warnings: uniqueWarnings };
}

/** Each finding once (two checks may see the same thing), in file order. */
function unique(found: readonly ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  const out = found.filter((p) => {
    const key = `${p.line}\u0000${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return out.sort((a, b) => a.line - b.line);
}

/**
 * The buses and devices of a config that failed validation elsewhere, each validated on its
 * own: enough for the driver checks, which only look at those two sections (and the meters of
 * its accounts, for the warnings). A device with schema problems in its points is patched (the offending fields dropped, a bad point id
 * replaced) so its other points are still checked; `reported` lists the parts patched, whose
 * check results are not shown. A device that cannot be patched keeps its index (paths stay
 * right) as a disabled stand-in on no bus. A bus with a bad setting is patched the same way (the
 * setting dropped for its default), so its devices are still checked; one of an unknown type, or
 * without its host or path, is left out, and its devices with it.
 */
function salvage(raw: unknown): { config: RootConfig; reported: Array<(string | number)[]> } | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const doc = raw as { buses?: unknown; devices?: unknown; accounts?: unknown };
  const base = RootConfig.safeParse({ version: 1, gateway: { id: 'salvaged', site: 'salvaged' } });
  if (!base.success) return undefined;
  const reported: Array<(string | number)[]> = [];
  const buses = (Array.isArray(doc.buses) ? doc.buses : []).flatMap((b: unknown, i) => {
    const patched = patchBus(b);
    if (!patched) return [];
    for (const part of patched.patched) reported.push(['buses', i, ...part]);
    return [patched.bus];
  });
  const standIn = DeviceConfig.parse({ id: 'invalid', bus: 'invalid', driver: 'invalid', enabled: false });
  const devices = (Array.isArray(doc.devices) ? doc.devices : []).map((d: unknown, i): DeviceConfig => {
    const patched = patchDevice(d);
    if (!patched) return { ...standIn, bus: '' };
    for (const part of patched.patched) reported.push(['devices', i, ...part]);
    return patched.device;
  });
  // Which devices are in accounts, for the warnings that depend on it: each account's usable
  // meters, whatever else is wrong with it (its problems are reported on their own).
  const accounts = (Array.isArray(doc.accounts) ? doc.accounts : []).flatMap((a: unknown, i) => {
    const loose = a && typeof a === 'object' ? (a as { meters?: unknown }) : {};
    const meters = (Array.isArray(loose.meters) ? loose.meters : []).flatMap((m: unknown) => {
      const r = MeterChannel.safeParse(m);
      return r.success ? [r.data] : [];
    });
    const r = AccountConfig.safeParse({ id: `salvaged_${i}`, meters });
    return r.success ? [r.data] : [];
  });
  return { config: { ...base.data, buses, devices, accounts }, reported };
}

/**
 * A bus with its bad settings dropped (each falls back to its default), or undefined when what
 * is wrong cannot be dropped (its type, host or path).
 */
function patchBus(raw: unknown): { bus: BusConfig; patched: Array<(string | number)[]> } | undefined {
  const copy = cloneObject(raw);
  if (!copy) return undefined;
  const patched: Array<(string | number)[]> = [];
  for (let round = 0; round < 5; round++) {
    const r = BusConfig.safeParse(copy);
    if (r.success) return { bus: r.data, patched };
    if (!dropKeys(copy, r.error.issues, patched, ['id', 'type'])) return undefined;
  }
  return undefined;
}

/** Values standing in for bad ones that other checks compare with, instead of their defaults. */
const STAND_INS: Readonly<Record<string, unknown>> = { poll_interval: '1ms' };

/**
 * Drops the top-level keys the issues are about (an unknown key, or a bad value whose default
 * stands in), recording each in `patched`; false when an issue is about one of `keep` or has
 * no key to drop.
 */
function dropKeys(copy: Record<string, unknown>, issues: readonly z.core.$ZodIssue[], patched: Array<(string | number)[]>, keep: readonly string[]): boolean {
  for (const issue of issues) {
    const keys = issue.code === 'unrecognized_keys' && issue.path.length === 0 ? issue.keys : issue.path.length > 0 ? [String(issue.path[0])] : [];
    if (keys.length === 0 || keys.some((k) => keep.includes(k) || !(k in copy))) return false;
    for (const key of keys) {
      // Other settings are checked against this one (no interval shorter than the device's):
      // its stand-in must not make them wrong, as the 5 s default would for a 1 s counter_interval.
      if (key in STAND_INS) copy[key] = STAND_INS[key];
      else delete copy[key];
      patched.push([key]);
    }
  }
  return true;
}

function cloneObject(raw: unknown): Record<string, unknown> | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  try {
    return structuredClone(raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * A device with what fails its schema patched: inline points' bad fields dropped (a bad point
 * id replaced), other bad settings dropped for their defaults. Not a device whose id or bus
 * is unusable.
 */
function patchDevice(raw: unknown): { device: DeviceConfig; patched: Array<(string | number)[]> } | undefined {
  const copy = cloneObject(raw);
  if (!copy) return undefined;
  const patched: Array<(string | number)[]> = [];
  for (let round = 0; round < 5; round++) {
    const r = DeviceConfig.safeParse(copy);
    if (r.success) return { device: r.data, patched };
    let changed = false;
    const others = r.error.issues.filter((issue) => issue.path[0] !== 'points');
    if (others.length > 0) {
      if (!dropKeys(copy, others, patched, ['id', 'bus'])) return undefined;
      changed = true;
    }
    for (const issue of r.error.issues) {
      const path = issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k));
      if (path[0] !== 'points') continue;
      const j = path[1];
      if (typeof j !== 'number' || !Array.isArray(copy.points)) return undefined;
      const point = copy.points[j] as Record<string, unknown> | undefined;
      if (!point || typeof point !== 'object') return undefined;
      patched.push(['points', j]);
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : path.length >= 3 ? [String(path[2])] : [];
      for (const key of keys) {
        if (key === 'id') point.id = `invalid_point_${j}`;
        else delete point[key];
        changed = true;
      }
    }
    if (!changed) return undefined;
  }
  return undefined;
}

function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let node = doc;
  for (const key of path) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function issueProblems(
  issue: z.core.$ZodIssue,
  at: (path: readonly PropertyKey[], message: string) => ConfigProblem,
  doc: unknown,
): ConfigProblem[] {
  if (issue.code === 'invalid_value' && issue.path.length > 0 && valueAt(doc, issue.path) === undefined) {
    return [at(issue.path, `required key is missing (expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')})`)];
  }
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
  if (issue.code === 'invalid_union' && 'errors' in issue) {
    // A choice of constants (qos 0 or 1, 7 or 8 data bits): name them instead of "Invalid input".
    const options = issue.errors.flat();
    const values = options.flatMap((o) => (o.code === 'invalid_value' ? o.values : []));
    if (options.length > 0 && options.every((o) => o.code === 'invalid_value' && o.path.length === 0)) {
      return [at(issue.path, `expected ${values.map((v) => JSON.stringify(v)).join(' or ')}`)];
    }
  }
  return [at(issue.path, issue.message)];
}

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { OpcuaProfile } from './opcua-schema.js';
import { DriverProfile } from './schema.js';

export type AnyProfile = DriverProfile | OpcuaProfile;
export const PROTOCOLS = ['modbus', 'opcua'] as const;

/**
 * Every profile under drivers/. As a Map it holds the Modbus register maps (what Modbus
 * code resolves `driver:` against); `opcua` holds the `protocol: opcua` profiles. Ids are
 * unique across both, so `protocolOf` can tell a user which kind a driver name is.
 */
export class Catalogue extends Map<string, DriverProfile> {
  readonly opcua = new Map<string, OpcuaProfile>();

  protocolOf(id: string): AnyProfile['protocol'] | undefined {
    if (this.has(id)) return 'modbus';
    return this.opcua.has(id) ? 'opcua' : undefined;
  }
}

/** Every problem found while loading profiles, each as `file:line path: message`. */
export class CatalogueError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid driver profiles:\n  ${problems.join('\n  ')}`);
    this.name = 'CatalogueError';
  }
}

/**
 * The shipped drivers/ folder. Found by walking up from this module to the package root,
 * so it works from src/profiles/ (tests) and from dist/src/profiles/ (installed package).
 */
export function defaultDriversDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'drivers'))) return join(dir, 'drivers');
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the drivers/ folder above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

type ParseResult = { ok: true; profile: AnyProfile } | { ok: false; problems: string[] };

function lineOf(doc: Document, counter: LineCounter, path: readonly PropertyKey[]): number {
  // A missing key has no node; point at the nearest ancestor that exists.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) {
      return counter.linePos(node.range[0]).line;
    }
  }
  return 1;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 ? '' : '.'}${String(k)}`)).join('') || '(root)';
}

/** Parses one profile's YAML text; `file` is only used in messages. */
export function parseProfile(text: string, file: string): ParseResult {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  const yamlProblems = [...doc.errors, ...doc.warnings].map((e) => {
    const line = e.linePos?.[0]?.line ?? 1;
    return `${file}:${line} (yaml): ${e.message.split('\n')[0] ?? e.message}`;
  });
  if (doc.errors.length > 0) return { ok: false, problems: yamlProblems };
  const raw: unknown = doc.toJS();
  const protocol = raw && typeof raw === 'object' ? (raw as { protocol?: unknown }).protocol : undefined;
  if (!PROTOCOLS.includes(protocol as AnyProfile['protocol'])) {
    const line = lineOf(doc, counter, ['protocol']);
    return { ok: false, problems: [...yamlProblems, `${file}:${line} protocol: expected ${PROTOCOLS.join(' or ')}, got ${JSON.stringify(protocol) ?? 'nothing'}`] };
  }
  const parsed = protocol === 'opcua' ? OpcuaProfile.safeParse(raw) : DriverProfile.safeParse(raw);
  if (parsed.success) {
    return yamlProblems.length > 0 ? { ok: false, problems: yamlProblems } : { ok: true, profile: parsed.data };
  }
  return { ok: false, problems: [...yamlProblems, ...formatIssues(parsed.error.issues, doc, counter, file)] };
}

function formatIssues(issues: readonly z.core.$ZodIssue[], doc: Document, counter: LineCounter, file: string): string[] {
  return issues.map((issue) => `${file}:${lineOf(doc, counter, issue.path)} ${formatPath(issue.path)}: ${issue.message}`);
}

function collectYamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...collectYamlFiles(full));
    else if (/\.ya?ml$/.test(entry)) out.push(full);
  }
  return out;
}

async function collectYamlFilesAsync(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const sorted = entries.sort((a, b) => a.name.localeCompare(b.name));
  const out: string[] = [];
  for (const entry of sorted) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await collectYamlFilesAsync(full)));
    else if (/\.ya?ml$/.test(entry.name)) out.push(full);
  }
  return out;
}

function assertFolder(dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CatalogueError([`${dir}: drivers folder not found`]);
}

function assemble(dir: string, files: readonly { path: string; text: string }[]): Catalogue {
  const problems: string[] = [];
  const profiles = new Catalogue();
  const origin = new Map<string, string>();
  for (const { path, text } of files) {
    const name = relative(process.cwd(), path) || path;
    const result = parseProfile(text, name);
    if (!result.ok) {
      problems.push(...result.problems);
      continue;
    }
    const { id } = result.profile;
    const first = origin.get(id);
    if (first) {
      problems.push(`${name}:1 id: duplicate profile id "${id}" (also in ${first})`);
      continue;
    }
    origin.set(id, name);
    if (result.profile.protocol === 'opcua') profiles.opcua.set(id, result.profile);
    else profiles.set(id, result.profile);
  }
  if (problems.length > 0) throw new CatalogueError(problems);
  if (files.length === 0) throw new CatalogueError([`${dir}: no driver profiles (*.yaml) found`]);
  return profiles;
}

/**
 * Loads every `**\/*.yaml` under `dir` (default: the shipped drivers/). Throws a
 * CatalogueError listing every problem in every file, not just the first.
 */
export async function loadCatalogue(dir: string = defaultDriversDir()): Promise<Catalogue> {
  const root = resolve(dir);
  assertFolder(root);
  const paths = await collectYamlFilesAsync(root);
  const files = await Promise.all(paths.map(async (path) => ({ path, text: await readFile(path, 'utf8') })));
  return assemble(root, files);
}

/** The same as loadCatalogue, for callers that cannot await (config checks at start-up). */
export function loadCatalogueSync(dir: string = defaultDriversDir()): Catalogue {
  const root = resolve(dir);
  assertFolder(root);
  return assemble(root, collectYamlFiles(root).map((path) => ({ path, text: readFileSync(path, 'utf8') })));
}

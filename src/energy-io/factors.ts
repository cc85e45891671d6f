// Reads factor-set YAML files (config/factors/*.yaml) and hands the parsed, validated
// sets to the pure core. The only file I/O of the energy accounting.
import { readdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { resolveFactorSets, type FactorSet, type FactorSetDoc } from '../core/factors.js';

export const FactorEntryFile = z.strictObject({
  key: z.string().min(1),
  value: z.number().nonnegative(),
  unit: z.string().regex(/^(kgce|kgCO2)\/[A-Za-z0-9_]+$/, 'write units as kgce/<unit> or kgCO2/<unit>'),
  source: z.string().min(1),
  clause: z.string().optional(),
  effective_from: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
  effective_to: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
  confidence: z.enum(['C', 'S', 'M']),
  flags: z.array(z.string()).optional(),
  note: z.string().optional(),
});
export type FactorEntryFile = z.infer<typeof FactorEntryFile>;

export const FactorSetFile = z.strictObject({
  schema: z.literal('energy-gateway.factors/v1'),
  id: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/),
  kind: z.enum(['coal', 'co2']),
  title: z.string().min(1),
  basis: z.string().optional(),
  extends: z.string().optional(),
  notes: z.string().optional(),
  entries: z.array(FactorEntryFile),
}).superRefine((s, ctx) => {
  s.entries.forEach((e, i) => {
    const want = s.kind === 'coal' ? 'kgce/' : 'kgCO2/';
    if (!e.unit.startsWith(want)) ctx.addIssue({ code: 'custom', path: ['entries', i, 'unit'], message: `a ${s.kind} set gives ${want}<unit>` });
  });
});
export type FactorSetFile = z.infer<typeof FactorSetFile>;

export class FactorError extends Error {
  constructor(message: string, readonly problems: string[]) {
    super(`${message}:\n  ${problems.join('\n  ')}`);
    this.name = 'FactorError';
  }
}

/** The shipped factor directory (works from src/ under tsx/vitest and from dist/src/). */
export function defaultFactorDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const up of ['../../config/factors', '../../../config/factors']) {
    const dir = join(here, up);
    if (existsSync(dir)) return dir;
  }
  return join(here, '../../config/factors');
}

/** Parses one file's text (pure apart from YAML); problems are returned as `file: path: message`. */
export function parseFactorFile(name: string, text: string): { doc?: FactorSetDoc; problems: string[] } {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    return { problems: [`${name}: ${(err as Error).message}`] };
  }
  const r = FactorSetFile.safeParse(raw);
  if (!r.success) return { problems: r.error.issues.map((i) => `${name}: ${i.path.join('.') || '(root)'}: ${i.message}`) };
  const { schema: _schema, ...doc } = r.data;
  return { doc, problems: [] };
}

/** Loads and resolves every *.yaml set in a directory. Throws FactorError listing every problem. */
export async function loadFactorSets(dir = defaultFactorDir()): Promise<Map<string, FactorSet>> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml')).sort();
  const docs: FactorSetDoc[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const r = parseFactorFile(name, await readFile(join(dir, name), 'utf8'));
    if (r.doc) docs.push(r.doc);
    problems.push(...r.problems);
  }
  const { sets, errors } = resolveFactorSets(docs);
  problems.push(...errors);
  if (problems.length) throw new FactorError(`invalid factor sets in ${dir}`, problems);
  return sets;
}

/** The coal and CO2 sets a config selects; throws FactorError when one is missing or of the wrong kind. */
export async function loadSelectedFactors(selection: { dir?: string | undefined; coal: string; co2: string }): Promise<{ coal: FactorSet; co2: FactorSet }> {
  const sets = await loadFactorSets(selection.dir ?? defaultFactorDir());
  const pick = (id: string, kind: 'coal' | 'co2'): FactorSet => {
    const s = sets.get(id);
    if (!s) throw new FactorError('unknown factor set', [`"${id}" (known: ${[...sets.keys()].join(', ')})`]);
    if (s.kind !== kind) throw new FactorError('wrong kind of factor set', [`"${id}" is a ${s.kind} set, expected ${kind}`]);
    return s;
  };
  return { coal: pick(selection.coal, 'coal'), co2: pick(selection.co2, 'co2') };
}

/** Factor-set problems as config problems (exit 2), pointing at energy.factors of the config file. */
export function factorProblems(file: string, err: FactorError): Array<{ file: string; line: number; path: string; message: string }> {
  return err.problems.map((message) => ({ file, line: 0, path: 'energy.factors', message: `${err.message.split(':')[0]}: ${message}` }));
}

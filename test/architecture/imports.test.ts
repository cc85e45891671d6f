// Keeps the import direction of DESIGN.md true: a pure core, adapters at the edges that
// never reach into each other, and one composition root that only the CLI uses.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';

const SRC = join(ROOT, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative import (static or dynamic) of a file, as a path below src/. */
function imports(file: string): Array<{ target: string; external: boolean; spec: string }> {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((spec) => spec.startsWith('.')
    ? { target: relative(SRC, resolve(dirname(file), spec)), external: false, spec }
    : { target: spec, external: true, spec });
}

const all = files(SRC).map((f) => ({ file: relative(SRC, f), imports: imports(f) }));
const area = (path: string) => (path.startsWith('protocols/') || path.startsWith('sinks/') ? path.split('/').slice(0, 2).join('/') : path.split('/')[0]!);

function violations(from: (file: string) => boolean, forbidden: (target: string) => boolean): string[] {
  return all.filter((f) => from(f.file)).flatMap((f) => f.imports.filter((i) => !i.external && forbidden(i.target)).map((i) => `${f.file} → ${i.spec}`));
}

describe('import direction', () => {
  it('the energy core imports only the core: no I/O, no clock source, no logger', () => {
    const core = (f: string) => f.startsWith('core/');
    expect(violations(core, (t) => !t.startsWith('core/'))).toEqual([]);
    const externals = all.filter((f) => core(f.file)).flatMap((f) => f.imports.filter((i) => i.external).map((i) => `${f.file} → ${i.spec}`));
    expect(externals).toEqual([]);
  });

  it('only the CLI builds the application (nothing else imports app/)', () => {
    expect(violations((f) => !f.startsWith('cli/') && !f.startsWith('app/'), (t) => t.startsWith('app/'))).toEqual([]);
  });

  it('protocol adapters reach neither sinks, outbox, pipeline nor each other', () => {
    for (const proto of ['protocols/modbus', 'protocols/opcua']) {
      const other = proto === 'protocols/modbus' ? 'protocols/opcua' : 'protocols/modbus';
      expect(violations((f) => f.startsWith(`${proto}/`), (t) => ['sinks', 'outbox', 'pipeline', 'http', 'sim'].includes(t.split('/')[0]!) || t.startsWith(`${other}/`))).toEqual([]);
    }
  });

  it('sinks know records, not where they came from', () => {
    expect(violations((f) => f.startsWith('sinks/'), (t) => ['protocols', 'pipeline', 'sim', 'profiles', 'energy-io'].includes(t.split('/')[0]!))).toEqual([]);
  });

  it('the outbox and the HTTP server stand alone', () => {
    expect(violations((f) => f.startsWith('outbox/') || f.startsWith('http/'), (t) => !['core', 'config', 'outbox', 'http'].includes(area(t)))).toEqual([]);
  });

  it('shipped code never imports tests or benchmarks', () => {
    expect(violations(() => true, (t) => t.startsWith('../test') || t.startsWith('../bench'))).toEqual([]);
  });
});

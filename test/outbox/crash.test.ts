// SIGKILL while the outbox is being written: after every kill the stored records and
// the stored state agree exactly (the state says n records were produced, and records
// 1..n exist unless acknowledged), and the database is intact.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Outbox } from '../../src/outbox/outbox.js';
import { ROOT } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'eg-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runUntilKilled(file: string, aliveMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/outbox/fixtures/commit-loop.ts', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout.once('data', (d: Buffer) => {
      const m = /ready (\d+)/.exec(d.toString());
      setTimeout(() => child.kill('SIGKILL'), aliveMs);
      child.once('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(Number(m?.[1] ?? -1)) : reject(new Error(`child exited on its own: ${err}`))));
    });
    child.once('error', reject);
  });
}

describe('outbox under SIGKILL', () => {
  it('never holds records without the state that produced them, nor state without its records', async () => {
    const file = join(dir, 'outbox.sqlite');
    let previous = 0;
    for (let round = 0; round < 8; round++) {
      const startedWith = await runUntilKilled(file, 150 + Math.floor(Math.random() * 450));
      // Each start resumes from what the previous run stored.
      expect(startedWith).toBe(previous);

      const db = new Database(file, { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();

      const o = new Outbox(file, ['influx']);
      const n = o.loadState<{ n: number }>('engine')?.n ?? 0;
      expect(n).toBeGreaterThan(previous);
      expect(o.maxSeq()).toBe(n);
      const held = o.peek<{ i: number }>('influx', 1_000_000);
      // Every record not yet acknowledged is there, in order, numbered as produced.
      for (const r of held) expect(r.record.i).toBe(r.seq);
      if (held.length > 0) expect(held[held.length - 1]!.seq).toBe(n);
      expect(o.stats().depth).toBe(held.length);
      o.close();
      previous = n;
    }
  }, 120_000);
});

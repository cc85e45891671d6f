import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { startCheckpointer, type Checkpointer } from '../../src/outbox/checkpointer.js';

const dirs: string[] = [];
const stops: Checkpointer[] = [];
afterEach(() => {
  for (const c of stops.splice(0)) c.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function walDb(): { db: Database.Database; file: string; write(bytes: number): void; written(): number } {
  const dir = mkdtempSync(join(tmpdir(), 'eg-ckpt-'));
  dirs.push(dir);
  const file = join(dir, 'o.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (v TEXT)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  let pending = 0;
  return {
    db, file,
    write: (bytes) => {
      db.transaction(() => { for (let n = 0; n < bytes; n += 1000) insert.run('x'.repeat(1000)); })();
      pending += bytes;
    },
    written: () => { const n = pending; pending = 0; return n; },
  };
}

/** A checkpointer over a fresh WAL database, stopped after the test. */
function started(w: ReturnType<typeof walDb>, opts: Omit<Parameters<typeof startCheckpointer>[0], 'db' | 'file' | 'takeWritten'>): Checkpointer {
  const c = startCheckpointer({ db: w.db, file: w.file, takeWritten: w.written, ...opts });
  stops.push(c);
  return c;
}

const until = async (ok: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return ok();
};

describe('checkpointer', () => {
  it('copies small WAL growth on the caller’s thread, without starting a worker, after waiting for more', async () => {
    const w = walDb();
    const c = started(w, { everyMs: 20, inlineMaxBytes: 1_000_000, minBytes: 500_000, maxWaitMs: 400 });
    const before = statSync(w.file).size;
    w.write(200_000);
    // Less than minBytes: the checkpoint waits up to maxWaitMs for more writes.
    await new Promise((r) => setTimeout(r, 100));
    expect(c.stats().inline).toBe(0);
    expect(await until(() => c.stats().inline >= 1)).toBe(true);
    // The rows reached the database file itself.
    expect(statSync(w.file).size).toBeGreaterThan(before + 150_000);
    expect(c.stats()).toMatchObject({ delegated: 0, workerStarts: 0, workerRunning: false });
    c.stop();
    w.db.close();
  });

  it('hands large growth to a worker thread, and stops it once writes stay small', async () => {
    const w = walDb();
    const c = started(w, { everyMs: 20, inlineMaxBytes: 100_000, workerIdleMs: 300, minBytes: 0 });
    const before = statSync(w.file).size;
    w.write(1_000_000);
    expect(await until(() => c.stats().delegated >= 1)).toBe(true);
    expect(c.stats()).toMatchObject({ workerStarts: 1, workerRunning: true, inline: 0 });
    expect(await until(() => statSync(w.file).size > before + 900_000)).toBe(true);
    // Small writes from here on: after workerIdleMs the worker goes, and checkpoints are inline again.
    const tick = setInterval(() => w.write(1000), 30);
    try {
      expect(await until(() => !c.stats().workerRunning)).toBe(true);
      expect(await until(() => c.stats().inline >= 1)).toBe(true);
    } finally {
      clearInterval(tick);
    }
    expect(c.stats().workerStarts).toBe(1);
    c.stop();
    w.db.close();
  });

  it('does nothing when nothing was written', async () => {
    const w = walDb();
    const c = started(w, { everyMs: 10 });
    await new Promise((r) => setTimeout(r, 100));
    expect(c.stats()).toEqual({ inline: 0, delegated: 0, workerStarts: 0, workerRunning: false });
    c.stop();
    w.db.close();
  });
});

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** What a sink receives: the stored record with its position in the queue. */
export interface QueuedRecord<T = unknown> {
  seq: number;
  kind: string;
  createdMs: number;
  record: T;
}

export interface OutboxStats {
  depth: number;
  oldestCreatedMs: number | null;
  bytes: number;
  perSink: Record<string, { pending: number }>;
}

/**
 * Durable queue between the energy core and the network. A record is written here
 * (fsync'd by SQLite's WAL) before any send; every sink has its own cursor, and a
 * record is deleted only once every sink has moved past it.
 */
export class Outbox {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly insertMany: (rows: Array<{ kind: string; payload: string; createdMs: number }>) => void;
  private readonly sinks: string[];
  private readonly putState: Database.Statement;
  private readonly commitTx: (rows: Array<{ kind: string; payload: string; createdMs: number }>, states: Array<[string, string]>) => void;

  constructor(file: string, sinks: string[]) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a record acknowledged as stored survives a power cut, not only a crash.
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        payload TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    this.putState = this.db.prepare('INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.commitTx = this.db.transaction((rows: Array<{ kind: string; payload: string; createdMs: number }>, states: Array<[string, string]>) => {
      for (const row of rows) this.insert.run(row);
      for (const [key, value] of states) this.putState.run(key, value);
    });
    this.sinks = sinks;
    const maxSeq = (this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS m FROM records').get() as { m: number }).m;
    const minSeq = (this.db.prepare('SELECT COALESCE(MIN(seq), 1) - 1 AS m FROM records').get() as { m: number }).m;
    // A sink added later starts at the oldest record still held, so it gets the backlog.
    const addCursor = this.db.prepare('INSERT OR IGNORE INTO cursors (sink, seq) VALUES (?, ?)');
    for (const sink of sinks) addCursor.run(sink, maxSeq === 0 ? 0 : minSeq);
    this.insert = this.db.prepare('INSERT INTO records (kind, created_ms, payload) VALUES (@kind, @createdMs, @payload)');
    this.insertMany = this.db.transaction((rows: Array<{ kind: string; payload: string; createdMs: number }>) => {
      for (const row of rows) this.insert.run(row);
    });
  }

  /** Stores records atomically: all of them or none. */
  append(records: Array<{ kind: string; record: unknown }>, nowMs: number): void {
    if (records.length === 0) return;
    this.insertMany(records.map((r) => ({ kind: r.kind, payload: JSON.stringify(r.record), createdMs: nowMs })));
  }

  /**
   * Stores records and the state that produced them in one transaction, so that after
   * a crash the energy core resumes exactly where its last stored record left off:
   * nothing double-counted, nothing lost.
   */
  commit(records: Array<{ kind: string; record: unknown }>, states: Record<string, unknown>, nowMs: number): void {
    this.commitTx(
      records.map((r) => ({ kind: r.kind, payload: JSON.stringify(r.record), createdMs: nowMs })),
      Object.entries(states).map(([k, v]) => [k, JSON.stringify(v)]),
    );
  }

  loadState<T>(key: string): T | undefined {
    const row = this.db.prepare('SELECT value FROM state WHERE key = ?').get(key) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  /** The next records a sink has not acknowledged, oldest first. */
  peek<T = unknown>(sink: string, limit: number): Array<QueuedRecord<T>> {
    const cursor = this.cursor(sink);
    const rows = this.db
      .prepare('SELECT seq, kind, created_ms AS createdMs, payload FROM records WHERE seq > ? ORDER BY seq LIMIT ?')
      .all(cursor, limit) as Array<{ seq: number; kind: string; createdMs: number; payload: string }>;
    return rows.map((r) => ({ seq: r.seq, kind: r.kind, createdMs: r.createdMs, record: JSON.parse(r.payload) as T }));
  }

  /** A sink has durably delivered everything up to and including `seq`. */
  ack(sink: string, seq: number): void {
    this.db.prepare('UPDATE cursors SET seq = MAX(seq, ?) WHERE sink = ?').run(seq, sink);
    this.compact();
  }

  private cursor(sink: string): number {
    const row = this.db.prepare('SELECT seq FROM cursors WHERE sink = ?').get(sink) as { seq: number } | undefined;
    if (!row) throw new Error(`outbox has no sink "${sink}"`);
    return row.seq;
  }

  private compact(): void {
    const placeholders = this.sinks.map(() => '?').join(',');
    const min = this.db.prepare(`SELECT MIN(seq) AS m FROM cursors WHERE sink IN (${placeholders})`).get(...this.sinks) as { m: number | null };
    if (min.m !== null) this.db.prepare('DELETE FROM records WHERE seq <= ?').run(min.m);
  }

  stats(): OutboxStats {
    const agg = this.db.prepare('SELECT COUNT(*) AS n, MIN(created_ms) AS oldest, COALESCE(SUM(LENGTH(payload)), 0) AS bytes FROM records').get() as { n: number; oldest: number | null; bytes: number };
    const perSink: OutboxStats['perSink'] = {};
    for (const sink of this.sinks) {
      const c = this.cursor(sink);
      perSink[sink] = { pending: (this.db.prepare('SELECT COUNT(*) AS n FROM records WHERE seq > ?').get(c) as { n: number }).n };
    }
    return { depth: agg.n, oldestCreatedMs: agg.oldest, bytes: agg.bytes, perSink };
  }

  close(): void {
    this.db.close();
  }
}

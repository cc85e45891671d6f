import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { startCheckpointer, type Checkpointer } from './checkpointer.js';
import { MAX_LAYOUTS, PackedTelemetry, TelemetryLayouts, type TelemetryLayout } from './packed-telemetry.js';
import { addRange, contains, intersectWith, subtractFrom, type SeqRange } from './ranges.js';

/** What a sink receives: the stored record with its position in the queue. */
export interface QueuedRecord<T = unknown> {
  seq: number;
  kind: string;
  createdMs: number;
  record: T;
  /** The record as JSON, when read from the outbox: a sink that can use the text skips parsing it. */
  payload?: string;
  /**
   * Telemetry stored packed (see packed-telemetry.ts), when read from the outbox: a sink
   * can write its bytes without the JSON text being made (`payload` makes it).
   */
  packed?: PackedTelemetry;
  /** What the reader's `encode` made of the stored JSON (see next()); then neither record nor payload is kept. */
  encoded?: unknown;
}

/** Turns a stored record (its JSON text) into what a sink sends, as it is read. */
export type StoredEncoder = (payload: string, kind: string) => unknown;

/**
 * A sink whose wire text is made when a record is stored, and stored with it (InfluxDB
 * line protocol). Making it costs the same then as when sending; but a backlog is sent
 * as fast as it can be read, while it was stored at the pace the meters were read.
 * `encode` returns undefined for a record it leaves to the sink's own encoder.
 */
export interface StoreEncoder {
  sink: string;
  encode: (payload: string, kind: string) => string | undefined;
}

/**
 * A record read from the outbox. The JSON is parsed on first use of `record` only: the
 * InfluxDB writer formats telemetry straight from the stored text, and parsing (and
 * collecting) millions of objects it never looks at was most of a replay's CPU.
 */
class StoredRecord<T> implements QueuedRecord<T> {
  private parsed: T | undefined;
  private text: string | undefined;
  constructor(readonly seq: number, readonly kind: string, readonly createdMs: number, private readonly stored: string, readonly packed: PackedTelemetry | undefined) {}

  get payload(): string {
    if (this.packed === undefined) return this.stored;
    this.text ??= this.packed.text();
    return this.text;
  }

  get record(): T {
    if (this.parsed === undefined) this.parsed = JSON.parse(this.payload) as T;
    return this.parsed;
  }
}

/** A record encoded as it was read: the stored text is gone (see next()). */
class EncodedRecord implements QueuedRecord<never> {
  constructor(readonly seq: number, readonly kind: string, readonly createdMs: number, readonly encoded: unknown) {}

  get record(): never {
    throw new Error('this record was encoded when read; use `encoded`');
  }
}

/**
 * Telemetry is the raw per-poll stream: when the disk cap is reached it is what we
 * give up first. Everything else (energy and EnPI intervals, demand, events) is an
 * accounting result that cannot be recomputed later, so it goes only when no
 * telemetry is left to drop.
 */
export type RecordClass = 'telemetry' | 'interval';
export const RECORD_CLASSES: readonly RecordClass[] = ['telemetry', 'interval'];
export function recordClass(kind: string): RecordClass {
  return kind === 'telemetry' ? 'telemetry' : 'interval';
}

export type DropReason = 'size' | 'age';

export interface OutboxLimits {
  /** Bytes held at most (UTF-8 JSON, and the text stored for a StoreEncoder); the file on disk is somewhat larger. */
  maxBytes: number;
  /** Records older than this are dropped, per class; 0 = no age limit. */
  maxAgeMs: Record<RecordClass, number>;
}

export interface OutboxOptions {
  sinks: string[];
  limits?: Partial<OutboxLimits>;
  log?: Logger;
  /** Text made for one sink as records are stored; next() for that sink returns it as `encoded`. */
  storeEncoder?: StoreEncoder;
  /** Bytes of the newest rows kept in memory for sinks that keep up (default 2 MiB; 0 reads every batch from disk). */
  recentMaxBytes?: number;
}

/** A slice of a sink's queue: every unacknowledged record with seq in [fromSeq, toSeq]. */
export interface PendingBatch<T = unknown> {
  records: Array<QueuedRecord<T>>;
  fromSeq: number;
  toSeq: number;
}

/** Part of a sink's queue: records after `after` (exclusive) up to `upTo` (inclusive). */
export interface SeqRegion {
  after?: number;
  upTo?: number;
}

export interface OutboxStats {
  depth: number;
  oldestCreatedMs: number | null;
  bytes: number;
  maxBytes: number;
  byClass: Record<RecordClass, { depth: number; bytes: number }>;
  perSink: Record<string, { pending: number; oldestPendingMs: number | null }>;
  /** Records dropped since the outbox file was created, by class and reason. */
  dropped: Record<RecordClass, Record<DropReason, number>>;
  /** A drop episode is in progress (the cap is hit or records are expiring). */
  dropping: boolean;
}

type Row = [seq: number, kind: string, createdMs: number, payload: string, layout: number | null];
/** payload is only read when there is no stored encoding. */
type EncodedRow = [seq: number, kind: string, createdMs: number, encoded: string | null, payload: string | null, layout: number | null];
/** layout: the id of the layout a packed telemetry payload refers to; null for a JSON payload. */
type InsertRow = [kind: string, createdMs: number, payload: string, bytes: number, encoded: string | null, layout: number | null];
/** Rows deleted, by class: [isTelemetry (1/0), count, bytes]. */
type Removed = Array<[isTelemetry: number, count: number, bytes: number]>;
type ScanRow = [seq: number, kind: string, createdMs: number, bytes: number];
/** Acknowledgements to write: per sink the newly acknowledged ranges, and the rows every sink has. */
interface AckWrite { fresh: Array<[string, SeqRange[]]>; deletable: SeqRange[] }
interface AckWritten { credited: Array<[string, number]>; removed: Removed }

const DEFAULT_LIMITS: OutboxLimits = { maxBytes: 512 * 1024 * 1024, maxAgeMs: { telemetry: 7 * 86_400_000, interval: 0 } };
/** Dropping for size goes a little below the cap, so that it does not run on every commit. */
const SIZE_DROP_TARGET = 0.98;
/** A size episode ends once the queue is this far below the cap again. */
const SIZE_EPISODE_END = 0.9;
const SCAN_PAGE = 2000;
/** Acknowledgements wait at most this long for a commit to be written with. */
const ACK_WRITE_MS = 250;
/** Text of the newest rows kept in memory for sinks that keep up (see Outbox.recent). */
const DEFAULT_RECENT_MAX_BYTES = 2 * 1024 * 1024;

/**
 * The outbox file's format, kept in SQLite's `user_version`: 2 holds telemetry packed against
 * stored layouts. Versions before this number was kept left it 0 (some of them wrote packed
 * rows too). A file of a higher format than this version knows is refused at open: reading
 * it would hand sinks rows this version cannot expand.
 */
export const OUTBOX_FORMAT = 2;

/** A row as it was stored, kept for a while in memory. */
interface RecentRow { seq: number; kind: string; createdMs: number; payload: string; encoded: string | null; bytes: number; layout: number | null }

/** The store encoder's text, or null: a record it cannot encode must not stop the commit (the sink encodes it when reading). */
function storedText(e: StoreEncoder, payload: string, kind: string): string | null {
  try {
    return e.encode(payload, kind) ?? null;
  } catch {
    return null;
  }
}

/**
 * A record to store. `json`, when given, is the record's JSON text (JSON.stringify of
 * `record`, or text that parses to the same value): a producer with a faster serializer
 * for its own shape passes it instead of paying for JSON.stringify here.
 */
export interface RecordToStore {
  kind: string;
  record: unknown;
  json?: string;
  /** `json` is telemetry packed against this layout of the outbox's `layouts` (telemetryStored). */
  layout?: TelemetryLayout | null;
}

/** A state value already written as JSON text: stored as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

/**
 * Durable queue between the energy core and the network. A record is written here
 * (fsync'd through SQLite's WAL) before any send; every sink acknowledges what it
 * delivered, and a record is deleted only once every sink has acknowledged it.
 *
 * Acknowledgements are sets of sequence ranges, not a single cursor: after an outage
 * the live records go out first while the backlog is replayed behind them.
 */
export class Outbox {
  /** Layouts of the telemetry stored packed: pack against these only. */
  readonly layouts = new TelemetryLayouts();
  private readonly db: Database.Database;
  private readonly sinks: string[];
  private readonly limits: OutboxLimits;
  private readonly log: Logger | undefined;
  private readonly storeEncoder: StoreEncoder | undefined;
  private readonly acked = new Map<string, SeqRange[]>();
  /** Rows still held that a sink has acknowledged (held for another sink): pending = depth - this. */
  private readonly ackedHeld = new Map<string, number>();
  private readonly checkpointer: Checkpointer | null;
  /** Bytes stored and deleted since the checkpointer last asked: how much the WAL grew, roughly. */
  private written = 0;
  /**
   * Acknowledgements taken in memory but not yet written, per sink: the newly
   * acknowledged ranges. They are written inside the next commit's transaction (no
   * transaction of their own) or after ACK_WRITE_MS when no commit comes.
   */
  private readonly unwritten = new Map<string, SeqRange[]>();
  private ackTimer: NodeJS.Timeout | null = null;
  private lastSeq: number;
  private readonly totals: Record<RecordClass, { depth: number; bytes: number }> = {
    telemetry: { depth: 0, bytes: 0 }, interval: { depth: 0, bytes: 0 },
  };
  private readonly dropped: Record<RecordClass, Record<DropReason, number>> = {
    telemetry: { size: 0, age: 0 }, interval: { size: 0, age: 0 },
  };
  /** Open drop episodes (`reason:class`) and what they dropped so far: logged once at start and once at end. */
  private readonly episodes = new Map<string, number>();
  private lastAgeCheckMs = 0;
  private readonly ageCheckEveryMs: number;
  /**
   * Ranges a sink is delivering right now. Drops leave them alone: a record removed
   * while its delivery succeeds would be counted dropped and arrive all the same, so
   * the drop counter would no longer say what was lost.
   */
  private readonly inFlight = new Set<SeqRange>();
  /**
   * The newest rows as they were stored, oldest first from `recentHead`, consecutive in
   * seq: a sink that keeps up reads its next batch from here instead of back from SQLite.
   * Reading a thousand just-written texts a second back out of the database, and decoding
   * each into a new string, was a twentieth of a poll's cost at a thousand meters. At
   * most `recentMaxBytes`; emptied when records are dropped, so that it never serves a
   * row the table no longer has. Rows deleted after every sink acknowledged them may stay
   * a while: no sink asks for them again.
   */
  private recent: RecentRow[] = [];
  private readonly recentMaxBytes: number;
  private recentHead = 0;
  private recentBytes = 0;

  private readonly stmts: {
    insert: Database.Statement;
    putState: Database.Statement;
    getState: Database.Statement;
    range: Database.Statement;
    rangeEncoded: Database.Statement;
    countRange: Database.Statement;
    countRangeLimited: Database.Statement;
    firstInRange: Database.Statement;
    oldest: Database.Statement;
    scan: Database.Statement;
    sumRange: Database.Statement;
    deleteRange: Database.Statement;
    deleteClassRange: Database.Statement;
    deleteAcks: Database.Statement;
    insertAck: Database.Statement;
    bumpCounter: Database.Statement;
  };
  private readonly commitTx: (rows: InsertRow[], states: Array<[string, string]>, acks: AckWrite | null, seqs: number[], layouts: TelemetryLayout[]) => AckWritten | null;
  private readonly ackWriteTx: (acks: AckWrite) => AckWritten;
  private readonly ackSetTx: (sink: string, set: readonly SeqRange[]) => void;
  private readonly dropTx: (cls: RecordClass, reason: DropReason, fromSeq: number, toSeq: number, maxCreatedMs: number) => Array<[number, number, number]>;

  constructor(file: string, sinksOrOptions: string[] | OutboxOptions) {
    const options: OutboxOptions = Array.isArray(sinksOrOptions) ? { sinks: sinksOrOptions } : sinksOrOptions;
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.sinks = [...options.sinks];
    this.log = options.log;
    this.storeEncoder = options.storeEncoder;
    this.recentMaxBytes = options.recentMaxBytes ?? DEFAULT_RECENT_MAX_BYTES;
    this.limits = {
      maxBytes: options.limits?.maxBytes ?? DEFAULT_LIMITS.maxBytes,
      maxAgeMs: { ...DEFAULT_LIMITS.maxAgeMs, ...options.limits?.maxAgeMs },
    };
    const ages = RECORD_CLASSES.map((c) => this.limits.maxAgeMs[c]).filter((a) => a > 0);
    this.ageCheckEveryMs = Math.max(100, Math.min(60_000, ...ages.map((a) => a / 10)));

    this.db = new Database(file);
    const format = this.db.pragma('user_version', { simple: true }) as number;
    if (format > OUTBOX_FORMAT) {
      this.db.close();
      throw new Error(
        `outbox ${file} was written by a newer energy-gateway (outbox format ${format}; this version reads up to ${OUTBOX_FORMAT}): `
        + 'run the newer version until its backlog is delivered, or move the file aside',
      );
    }
    this.db.pragma('journal_mode = WAL');
    // FULL: a stored record survives a power cut, not only a crash. Acknowledgements
    // and drops are written with NORMAL (see ack): losing one means a redelivery.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    // Keep the WAL from staying huge after a replay deleted a large backlog.
    this.db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
    this.migrate();
    if (format < OUTBOX_FORMAT) this.db.pragma(`user_version = ${OUTBOX_FORMAT}`);
    // Checkpoints (copying the WAL into the database, with an fsync): small ones here,
    // large ones in a worker thread, so that they never stall a commit or a delivery.
    this.checkpointer = file === ':memory:' ? null : startCheckpointer({
      db: this.db,
      file,
      takeWritten: () => {
        const n = this.written;
        this.written = 0;
        return n;
      },
    });
    if (this.checkpointer) this.db.pragma('wal_autocheckpoint = 0');

    this.loadLayouts();
    const insert = this.db.prepare('INSERT INTO records (kind, created_ms, payload, bytes, encoded, layout) VALUES (?, ?, ?, ?, ?, ?)');
    const insertLayout = this.db.prepare('INSERT OR REPLACE INTO layouts (id, spec) VALUES (?, ?)');
    this.stmts = {
      insert,
      putState: this.db.prepare('INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      getState: this.db.prepare('SELECT value FROM state WHERE key = ?'),
      range: this.db.prepare('SELECT seq, kind, created_ms, payload, layout FROM records WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?').raw(),
      rangeEncoded: this.db.prepare(
        'SELECT seq, kind, created_ms, encoded, CASE WHEN encoded IS NULL THEN payload END, layout FROM records WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?',
      ).raw(),
      countRange: this.db.prepare('SELECT COUNT(*) FROM records WHERE seq >= ? AND seq <= ?').pluck(),
      countRangeLimited: this.db.prepare('SELECT COUNT(*) FROM (SELECT 1 FROM records WHERE seq >= ? AND seq <= ? LIMIT ?)').pluck(),
      firstInRange: this.db.prepare('SELECT created_ms FROM records WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT 1').pluck(),
      oldest: this.db.prepare('SELECT created_ms FROM records ORDER BY seq LIMIT 1').pluck(),
      scan: this.db.prepare('SELECT seq, kind, created_ms, bytes FROM records WHERE seq > ? ORDER BY seq LIMIT ?').raw(),
      // Counting first and deleting plainly is several times cheaper than DELETE … RETURNING.
      sumRange: this.db.prepare("SELECT kind = 'telemetry', COUNT(*), COALESCE(SUM(bytes), 0) FROM records WHERE seq >= ? AND seq <= ? GROUP BY 1").raw(),
      deleteRange: this.db.prepare('DELETE FROM records WHERE seq >= ? AND seq <= ?'),
      deleteClassRange: this.db.prepare(
        "DELETE FROM records WHERE seq >= ? AND seq <= ? AND (kind = 'telemetry') = ? AND created_ms <= ? RETURNING kind = 'telemetry', bytes, seq",
      ).raw(),
      deleteAcks: this.db.prepare('DELETE FROM acks WHERE sink = ?'),
      insertAck: this.db.prepare('INSERT INTO acks (sink, lo, hi) VALUES (?, ?, ?)'),
      bumpCounter: this.db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value'),
    };

    this.commitTx = this.db.transaction((rows: InsertRow[], states: Array<[string, string]>, acks: AckWrite | null, seqs: number[], layouts: TelemetryLayout[]) => {
      // A layout is stored with the first records packed against it.
      for (const l of layouts) insertLayout.run(l.id, l.spec);
      for (const r of rows) {
        this.lastSeq = Number(insert.run(r[0], r[1], r[2], r[3], r[4], r[5]).lastInsertRowid);
        seqs.push(this.lastSeq);
      }
      for (const [key, value] of states) this.stmts.putState.run(key, value);
      return acks ? this.runAckWrite(acks) : null;
    });
    this.ackWriteTx = this.db.transaction((acks: AckWrite) => this.runAckWrite(acks));
    this.ackSetTx = this.db.transaction((sink: string, set: readonly SeqRange[]) => this.writeAckSet(sink, set));
    this.dropTx = this.db.transaction((cls: RecordClass, reason: DropReason, fromSeq: number, toSeq: number, maxCreatedMs: number) => {
      const removed: Array<[number, number, number]> = [];
      for (const [lo, hi] of subtractFrom(fromSeq, toSeq, this.heldRanges())) {
        for (const row of this.stmts.deleteClassRange.all(lo, hi, cls === 'telemetry' ? 1 : 0, maxCreatedMs) as Array<[number, number, number]>) removed.push(row);
      }
      if (removed.length > 0) this.stmts.bumpCounter.run(`dropped.${cls}.${reason}`, removed.length);
      return removed;
    });

    this.lastSeq = Number(this.db.prepare("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0)").pluck().get());
    for (const [isTelemetry, n, bytes] of this.db.prepare("SELECT kind = 'telemetry', COUNT(*), COALESCE(SUM(bytes), 0) FROM records GROUP BY 1").raw().all() as Array<[number, number, number]>) {
      this.totals[isTelemetry ? 'telemetry' : 'interval'] = { depth: n, bytes };
    }
    for (const [name, value] of this.db.prepare('SELECT name, value FROM counters').raw().all() as Array<[string, number]>) {
      const [, cls, reason] = name.split('.');
      if ((cls === 'telemetry' || cls === 'interval') && (reason === 'size' || reason === 'age')) this.dropped[cls][reason] = value;
    }
    this.initSinks();
  }

  private migrate(): void {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        payload TEXT NOT NULL,
        bytes INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE IF NOT EXISTS acks (sink TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, PRIMARY KEY (sink, lo)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS layouts (id INTEGER PRIMARY KEY, spec TEXT NOT NULL);
    `);
    // Outboxes written by 0.1 (the walking skeleton): no byte sizes, one cursor per sink.
    const columns = this.db.prepare('PRAGMA table_info(records)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'bytes')) {
      this.db.exec('ALTER TABLE records ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0');
    }
    this.db.exec('UPDATE records SET bytes = length(CAST(payload AS BLOB)) WHERE bytes = 0');
    // Outboxes written before sinks could store their own text with a record.
    if (!columns.some((c) => c.name === 'encoded')) this.db.exec('ALTER TABLE records ADD COLUMN encoded TEXT');
    // Outboxes written before telemetry was stored packed.
    if (!columns.some((c) => c.name === 'layout')) this.db.exec('ALTER TABLE records ADD COLUMN layout INTEGER');
    const hasCursors = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cursors'").get();
    if (hasCursors) {
      this.db.transaction(() => {
        this.db.exec('INSERT OR IGNORE INTO acks (sink, lo, hi) SELECT sink, 0, seq FROM cursors');
        this.db.exec('DROP TABLE cursors');
      })();
    }
  }

  /**
   * The stored layouts. When they fill half of what may be made, those no record refers to
   * any more (a model replaced, a quality pattern long gone) are deleted first: a full scan
   * of the records, so only then.
   */
  private loadLayouts(): void {
    const count = this.db.prepare('SELECT COUNT(*) FROM layouts').pluck().get() as number;
    if (count > MAX_LAYOUTS / 2) this.db.exec('DELETE FROM layouts WHERE id NOT IN (SELECT layout FROM records WHERE layout IS NOT NULL)');
    this.layouts.load(this.db.prepare('SELECT id, spec FROM layouts').raw().all() as Array<[number, string]>);
  }

  private initSinks(): void {
    const load = this.db.prepare('SELECT lo, hi FROM acks WHERE sink = ? ORDER BY lo').raw();
    const minSeq = this.db.prepare('SELECT MIN(seq) FROM records').pluck().get() as number | null;
    for (const sink of this.sinks) {
      let set = (load.all(sink) as Array<[number, number]>).map(([lo, hi]) => [lo, hi] as SeqRange);
      if (set.length === 0) {
        // A sink added later starts at the oldest record still held, so it gets the backlog.
        set = [[0, minSeq === null ? this.lastSeq : minSeq - 1]];
        this.ackSetTx(sink, set);
      }
      this.acked.set(sink, set);
      // Once per start: afterwards this count is kept up to date as rows come and go.
      this.ackedHeld.set(sink, set.reduce((n, [lo, hi]) => n + (this.stmts.countRange.get(lo, hi) as number), 0));
    }
  }

  /** Stores records atomically: all of them or none. */
  append(records: RecordToStore[], nowMs: number): void {
    if (records.length === 0) return;
    this.commit(records, {}, nowMs);
  }

  /**
   * Stores records and the state that produced them in one transaction, so that after
   * a crash the energy core resumes exactly where its last stored record left off:
   * nothing double-counted, nothing lost.
   */
  commit(records: RecordToStore[], states: Record<string, unknown>, nowMs: number): void {
    const storeEncoder = this.storeEncoder;
    const rows = records.map((r): InsertRow => {
      let payload = r.json ?? JSON.stringify(r.record);
      let layout: number | null = null;
      if (r.json !== undefined && r.layout) {
        // Packed against a layout of another registry: stored as JSON.
        if (this.isOwnLayout(r.layout)) layout = r.layout.id;
        else payload = new PackedTelemetry(r.json, r.layout).text();
      }
      // The encoder reads records as sinks get them: unpacked.
      const encoded = storeEncoder ? storedText(storeEncoder, layout === null ? payload : this.unpacked(payload, layout).text(), r.kind) : null;
      const bytes = Buffer.byteLength(payload, 'utf8') + (encoded === null ? 0 : Buffer.byteLength(encoded, 'utf8'));
      return [r.kind, nowMs, payload, bytes, encoded, layout];
    });
    // Acknowledgements taken since the last write ride along: no transaction of their own.
    const acks = this.planAckWrite();
    const stateRows = Object.entries(states).map(([k, v]): [string, string] => [k, v instanceof JsonText ? v.text : JSON.stringify(v)]);
    const seqs: number[] = [];
    const layouts = this.layouts.takeUnstored();
    let written: AckWritten | null;
    try {
      written = this.commitTx(rows, stateRows, acks, seqs, layouts);
    } catch (err) {
      this.layouts.putBackUnstored(layouts);
      throw err;
    }
    this.keepRecent(rows, seqs);
    if (written) this.applyAckWrite(written);
    for (const r of rows) {
      const t = this.totals[recordClass(r[0])];
      t.depth += 1;
      t.bytes += r[3];
      this.written += r[3];
    }
    for (const [, v] of stateRows) this.written += v.length;
    this.enforceLimits(nowMs);
  }

  private isOwnLayout(layout: TelemetryLayout): boolean {
    return layout.id > 0 && this.layouts.get(layout.id) === layout;
  }

  /** A stored packed text with its layout. */
  private unpacked(payload: string, layout: number): PackedTelemetry {
    return new PackedTelemetry(payload, this.layouts.get(layout));
  }

  loadState<T>(key: string): T | undefined {
    const row = this.stmts.getState.get(key) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  /** The newest sequence number handed out (0 before the first record). */
  maxSeq(): number {
    return this.lastSeq;
  }

  /** The next records a sink has not acknowledged, oldest first. */
  peek<T = unknown>(sink: string, limit: number): Array<QueuedRecord<T>> {
    return this.next<T>(sink, limit).records;
  }

  /**
   * The oldest records of a sink's queue within a region, with the range they cover,
   * to be acknowledged as a whole with ackRange(sink, fromSeq, toSeq) once delivered.
   * With `encode`, each record carries `encoded` (what encode made of its stored JSON)
   * instead of the record.
   */
  next<T = unknown>(sink: string, limit: number, region: SeqRegion = {}, encode?: StoredEncoder): PendingBatch<T> {
    const set = this.ackSet(sink);
    const upTo = Math.min(region.upTo ?? Number.POSITIVE_INFINITY, this.lastSeq);
    const gaps = subtractFrom((region.after ?? 0) + 1, upTo, set);
    const records: Array<QueuedRecord<T>> = [];
    if (gaps.length === 0) return { records, fromSeq: 0, toSeq: -1 };
    const fromSeq = gaps[0]![0];
    let toSeq = fromSeq - 1;
    const stored = encode !== undefined && this.storeEncoder?.sink === sink;
    // One row as the sink gets it, whether it comes from memory or from disk: the stored
    // text, or what `encode` makes of it (the text made at storing, for the store encoder's sink).
    const toRecord = (seq: number, kind: string, createdMs: number, payload: string | null, encoded: string | null, layout: number | null): QueuedRecord<T> => {
      const packed = layout === null || payload === null ? undefined : this.unpacked(payload, layout);
      if (encode === undefined) return new StoredRecord<T>(seq, kind, createdMs, payload!, packed);
      return new EncodedRecord(seq, kind, createdMs, (stored ? encoded : null) ?? encode(packed === undefined ? payload! : packed.text(), kind)) as QueuedRecord<T>;
    };
    for (const [lo, hi] of gaps) {
      const at = this.recentIndex(lo);
      if (at >= 0) {
        const rows = this.recent;
        for (let i = at; i < rows.length && rows[i]!.seq <= hi && records.length < limit; i++) {
          const r = rows[i]!;
          records.push(toRecord(r.seq, r.kind, r.createdMs, r.payload, r.encoded, r.layout));
        }
      } else if (stored) {
        // Text made when the record was stored; rows stored without one (by an older
        // version, or left to the sink) are encoded now.
        for (const [seq, kind, createdMs, encoded, payload, layout] of this.stmts.rangeEncoded.iterate(lo, hi, limit - records.length) as IterableIterator<EncodedRow>) {
          records.push(toRecord(seq, kind, createdMs, payload, encoded, layout));
        }
      } else if (encode) {
        // Row by row, each stored text encoded and dropped at once: a whole batch of
        // texts held while it is encoded is copied by every young-generation collection
        // that the encoding triggers (most of a replay's garbage-collection time).
        for (const [seq, kind, createdMs, payload, layout] of this.stmts.range.iterate(lo, hi, limit - records.length) as IterableIterator<Row>) {
          records.push(toRecord(seq, kind, createdMs, payload, null, layout));
        }
      } else {
        const rows = this.stmts.range.all(lo, hi, limit - records.length) as Row[];
        for (const [seq, kind, createdMs, payload, layout] of rows) records.push(toRecord(seq, kind, createdMs, payload, null, layout));
      }
      if (records.length >= limit) {
        toSeq = records[records.length - 1]!.seq;
        break;
      }
      // Every record of this gap is in the batch: acknowledging it closes the gap,
      // including holes left by dropped records.
      toSeq = hi;
    }
    return { records, fromSeq, toSeq };
  }

  /** Where `seq` is in `recent`, or -1 when it is not there. */
  private recentIndex(seq: number): number {
    const rows = this.recent;
    if (this.recentHead >= rows.length) return -1;
    const first = rows[this.recentHead]!.seq;
    const i = this.recentHead + (seq - first);
    return seq >= first && i < rows.length ? i : -1;
  }

  /** Rows just committed, with the seqs they were given. */
  private keepRecent(rows: InsertRow[], seqs: number[]): void {
    if (seqs.length === 0 || this.recentMaxBytes <= 0) return;
    this.trimRecent();
    const rowsKept = this.recent;
    // Consecutive with what is kept, or kept alone (a commit rolled back and its seqs reused).
    if (rowsKept.length > this.recentHead && seqs[0] !== rowsKept[rowsKept.length - 1]!.seq + 1) this.forgetRecent();
    for (let i = 0; i < seqs.length; i++) {
      const [kind, createdMs, payload, bytes, encoded, layout] = rows[i]!;
      this.recent.push({ seq: seqs[i]!, kind, createdMs, payload, encoded, bytes, layout });
      this.recentBytes += bytes;
    }
    while (this.recentBytes > this.recentMaxBytes && this.recentHead < this.recent.length) this.dropOldestRecent();
    if (this.recentHead > 1024 && this.recentHead * 2 > this.recent.length) {
      this.recent = this.recent.slice(this.recentHead);
      this.recentHead = 0;
    }
  }

  /** The oldest rows kept, as long as every sink has acknowledged them: nobody reads them again. */
  private trimRecent(): void {
    const rows = this.recent;
    const sets = this.sinks.map((sink) => this.ackSet(sink));
    while (this.recentHead < rows.length && sets.every((set) => contains(set, rows[this.recentHead]!.seq))) this.dropOldestRecent();
  }

  private dropOldestRecent(): void {
    this.recentBytes -= this.recent[this.recentHead]!.bytes;
    this.recent[this.recentHead] = undefined as unknown as RecentRow;
    this.recentHead += 1;
  }

  private forgetRecent(): void {
    this.recent = [];
    this.recentHead = 0;
    this.recentBytes = 0;
  }

  /** How many records of a sink's queue lie in a region (counting stops at `cap`). */
  pendingCount(sink: string, region: SeqRegion = {}, cap = Number.POSITIVE_INFINITY): number {
    const set = this.ackSet(sink);
    if (region.after === undefined && region.upTo === undefined && !Number.isFinite(cap)) {
      // The held counts are kept as acknowledgements are written.
      this.writeAcks();
      return this.depth() - (this.ackedHeld.get(sink) ?? 0);
    }
    const upTo = Math.min(region.upTo ?? Number.POSITIVE_INFINITY, this.lastSeq);
    let n = 0;
    for (const [lo, hi] of subtractFrom((region.after ?? 0) + 1, upTo, set)) {
      n += Number.isFinite(cap) ? (this.stmts.countRangeLimited.get(lo, hi, cap - n) as number) : (this.stmts.countRange.get(lo, hi) as number);
      if (n >= cap) break;
    }
    return n;
  }

  /**
   * Marks [fromSeq, toSeq] as being delivered, so that the size and age limits do not
   * drop it meanwhile; call the returned function when the delivery ends either way.
   */
  hold(fromSeq: number, toSeq: number): () => void {
    const range: SeqRange = [fromSeq, toSeq];
    this.inFlight.add(range);
    return () => {
      this.inFlight.delete(range);
    };
  }

  private heldRanges(): SeqRange[] {
    let set: SeqRange[] = [];
    for (const [lo, hi] of this.inFlight) set = addRange(set, lo, hi);
    return set;
  }

  /** A sink has durably delivered everything up to and including `seq`. */
  ack(sink: string, seq: number): void {
    this.ackRange(sink, 0, seq);
  }

  /**
   * A sink has delivered every record with seq in [fromSeq, toSeq] (or they no longer
   * exist). It takes effect at once (next() no longer returns them); it is written to
   * disk — and records every sink has acknowledged are deleted — with the next commit,
   * or within ACK_WRITE_MS when none comes. An acknowledgement lost in a crash or a
   * power cut only means a redelivery, which every sink tolerates (QoS 1 semantics;
   * InfluxDB overwrites the same point). Writing them on their own, one transaction
   * per delivered batch, took the event loop as often as the commits themselves.
   */
  ackRange(sink: string, fromSeq: number, toSeq: number): void {
    const set = this.ackSet(sink);
    const lo = Math.max(0, fromSeq);
    const hi = Math.min(toSeq, this.lastSeq);
    const fresh = subtractFrom(lo, hi, set);
    if (fresh.length === 0) return;
    this.acked.set(sink, addRange(set, lo, hi));
    let pending = this.unwritten.get(sink) ?? [];
    for (const [a, b] of fresh) pending = addRange(pending, a, b);
    this.unwritten.set(sink, pending);
    // While records are being dropped for want of space, room counts: delete at once.
    if (this.episodes.size > 0) {
      this.writeAcks();
      return;
    }
    if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = null;
        try {
          this.writeAcks();
        } catch (err) {
          // Kept in memory: the next commit or close tries again.
          this.log?.error({ err }, 'outbox could not write acknowledgements');
        }
      }, ACK_WRITE_MS);
      this.ackTimer.unref();
    }
  }

  /** Writes the acknowledgements taken in memory (their own transaction, not fsync'd). */
  private writeAcks(): void {
    const acks = this.planAckWrite();
    if (!acks) return;
    this.setSync('NORMAL');
    let written: AckWritten;
    try {
      written = this.ackWriteTx(acks);
    } finally {
      this.setSync('FULL');
    }
    this.applyAckWrite(written);
  }

  /** What the unwritten acknowledgements change: each sink's set, and the rows every sink now has. */
  private planAckWrite(): AckWrite | null {
    if (this.unwritten.size === 0) return null;
    const fresh = [...this.unwritten.entries()];
    let deletable: SeqRange[] = [];
    for (const [sink, ranges] of fresh) {
      // Newly acknowledged by this sink and already by every other: deleted now.
      let d: SeqRange[] = ranges;
      for (const other of this.sinks) {
        if (other === sink) continue;
        const otherSet = this.ackSet(other);
        d = d.flatMap(([lo, h]) => intersectWith(lo, h, otherSet));
      }
      for (const [a, b] of d) deletable = addRange(deletable, a, b);
    }
    return { fresh, deletable };
  }

  /** Inside a transaction. */
  private runAckWrite(acks: AckWrite): AckWritten {
    const credited: Array<[string, number]> = [];
    for (const [sink, ranges] of acks.fresh) {
      this.writeAckSet(sink, this.ackSet(sink));
      // The change in rows held that this sink has acknowledged: those newly
      // acknowledged that stay (for another sink), less those it had acknowledged
      // before that are deleted now. Rows both newly acknowledged and deleted leave the
      // count as it was, so the common case — one sink, or the last one to acknowledge
      // — counts nothing.
      let n = 0;
      for (const [lo, hi] of ranges) for (const [a, b] of subtractFrom(lo, hi, acks.deletable)) n += this.stmts.countRange.get(a, b) as number;
      for (const [lo, hi] of acks.deletable) for (const [a, b] of subtractFrom(lo, hi, ranges)) n -= this.stmts.countRange.get(a, b) as number;
      credited.push([sink, n]);
    }
    const removed: Removed = [];
    for (const [lo, hi] of acks.deletable) {
      removed.push(...(this.stmts.sumRange.all(lo, hi) as Removed));
      this.stmts.deleteRange.run(lo, hi);
    }
    return { credited, removed };
  }

  /** Inside a transaction: a sink's acknowledged ranges as they now stand. */
  private writeAckSet(sink: string, set: readonly SeqRange[]): void {
    this.stmts.deleteAcks.run(sink);
    for (const [lo, hi] of set) this.stmts.insertAck.run(sink, lo, hi);
  }

  /** After the transaction that wrote them committed. */
  private applyAckWrite(written: AckWritten): void {
    this.unwritten.clear();
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    // Deleted rows were acknowledged by every sink: a sink with nothing newly
    // acknowledged had them all counted as held.
    const gone = count(written.removed);
    const delta = new Map<string, number>(written.credited);
    for (const sink of this.sinks) this.ackedHeld.set(sink, (this.ackedHeld.get(sink) ?? 0) + (delta.get(sink) ?? -gone));
    this.forget(written.removed);
    this.maybeEndSizeEpisodes();
  }

  /**
   * SQLite applies `PRAGMA synchronous` when the statement is compiled, so a prepared
   * PRAGMA cannot be reused to switch back and forth: each switch compiles it afresh.
   */
  private setSync(level: 'FULL' | 'NORMAL'): void {
    this.db.pragma(`synchronous = ${level}`);
  }

  private ackSet(sink: string): SeqRange[] {
    const set = this.acked.get(sink);
    if (!set) throw new Error(`outbox has no sink "${sink}"`);
    return set;
  }

  private forget(removed: Removed): void {
    for (const [isTelemetry, n, bytes] of removed) {
      const t = this.totals[isTelemetry ? 'telemetry' : 'interval'];
      t.depth -= n;
      t.bytes -= bytes;
      this.written += bytes;
    }
  }

  // ------------------------------------------------------------------ limits

  /**
   * Applies the size and age bounds: oldest telemetry first; interval records only when
   * no telemetry is left (size) or when they are older than their own limit (age).
   * Runs after every commit; the age scan at most every few seconds.
   */
  enforceLimits(nowMs: number): void {
    if (this.bytesHeld() > this.limits.maxBytes) {
      const need = this.bytesHeld() - Math.floor(this.limits.maxBytes * SIZE_DROP_TARGET);
      let freed = this.dropOldest('telemetry', need);
      if (freed < need) freed += this.dropOldest('interval', need - freed);
    }
    if (nowMs - this.lastAgeCheckMs >= this.ageCheckEveryMs) {
      this.lastAgeCheckMs = nowMs;
      for (const cls of RECORD_CLASSES) {
        const maxAge = this.limits.maxAgeMs[cls];
        if (maxAge > 0) this.dropExpired(cls, nowMs - maxAge - 1);
      }
    }
    this.maybeEndSizeEpisodes();
  }

  private depth(): number {
    return this.totals.telemetry.depth + this.totals.interval.depth;
  }

  private bytesHeld(): number {
    return this.totals.telemetry.bytes + this.totals.interval.bytes;
  }

  /** Drops the oldest records of a class until `need` bytes are freed; returns the bytes freed. */
  private dropOldest(cls: RecordClass, need: number): number {
    if (this.totals[cls].depth === 0) return 0;
    const held = this.heldRanges();
    let after = 0;
    let freed = 0;
    let first: number | null = null;
    let last = 0;
    scan: for (;;) {
      const page = this.stmts.scan.all(after, SCAN_PAGE) as ScanRow[];
      if (page.length === 0) break;
      for (const [seq, kind, , bytes] of page) {
        after = seq;
        if (recordClass(kind) !== cls || (held.length > 0 && contains(held, seq))) continue;
        first ??= seq;
        last = seq;
        freed += bytes;
        if (freed >= need) break scan;
      }
    }
    if (first === null) return 0;
    return this.drop(cls, 'size', first, last, Number.MAX_SAFE_INTEGER);
  }

  /** Drops records of a class created at or before `cutoffMs`. */
  private dropExpired(cls: RecordClass, cutoffMs: number): void {
    if (this.totals[cls].depth === 0) {
      this.endEpisode('age', cls);
      return;
    }
    // Records are stored in time order, so the expired ones are at the front: scan
    // until the first record that is younger than the cutoff.
    const oldest = this.stmts.oldest.get() as number | undefined;
    if (oldest === undefined || oldest > cutoffMs) {
      this.endEpisode('age', cls);
      return;
    }
    let after = 0;
    let first: number | null = null;
    let last = 0;
    scan: for (;;) {
      const page = this.stmts.scan.all(after, SCAN_PAGE) as ScanRow[];
      if (page.length === 0) break;
      for (const [seq, kind, createdMs] of page) {
        after = seq;
        if (createdMs > cutoffMs) break scan;
        if (recordClass(kind) !== cls) continue;
        first ??= seq;
        last = seq;
      }
    }
    if (first === null) {
      this.endEpisode('age', cls);
      return;
    }
    this.drop(cls, 'age', first, last, cutoffMs);
  }

  private drop(cls: RecordClass, reason: DropReason, fromSeq: number, toSeq: number, maxCreatedMs: number): number {
    // The held counts below assume every acknowledgement in memory is written.
    this.writeAcks();
    this.setSync('NORMAL');
    let removed: Array<[number, number, number]>;
    try {
      removed = this.dropTx(cls, reason, fromSeq, toSeq, maxCreatedMs);
    } finally {
      this.setSync('FULL');
    }
    if (removed.length > 0) this.forgetRecent();
    this.forget(removed.map(([isTelemetry, bytes]) => [isTelemetry, 1, bytes]));
    for (const sink of this.sinks) {
      const set = this.ackSet(sink);
      const held = removed.reduce((n, [, , seq]) => n + (contains(set, seq) ? 1 : 0), 0);
      if (held > 0) this.ackedHeld.set(sink, (this.ackedHeld.get(sink) ?? 0) - held);
    }
    if (removed.length === 0) return 0;
    this.dropped[cls][reason] += removed.length;
    const key = `${reason}:${cls}`;
    const sofar = this.episodes.get(key);
    this.episodes.set(key, (sofar ?? 0) + removed.length);
    if (sofar === undefined) {
      const data = {
        class: cls, reason, dropped: removed.length,
        ...(reason === 'size' ? { max_bytes: this.limits.maxBytes } : { max_age_ms: this.limits.maxAgeMs[cls] }),
      };
      if (cls === 'interval') this.log?.error(data, 'outbox dropping interval records');
      else this.log?.warn(data, 'outbox dropping telemetry');
    }
    return removed.reduce((sum, [, bytes]) => sum + bytes, 0);
  }

  private maybeEndSizeEpisodes(): void {
    if (this.episodes.size === 0) return;
    if (this.bytesHeld() <= this.limits.maxBytes * SIZE_EPISODE_END) {
      for (const cls of RECORD_CLASSES) this.endEpisode('size', cls);
    }
  }

  private endEpisode(reason: DropReason, cls: RecordClass): void {
    const key = `${reason}:${cls}`;
    const dropped = this.episodes.get(key);
    if (dropped === undefined) return;
    this.episodes.delete(key);
    this.log?.info({ class: cls, reason, dropped }, 'outbox no longer dropping');
  }

  // ------------------------------------------------------------------ stats

  stats(): OutboxStats {
    this.writeAcks();
    const perSink: OutboxStats['perSink'] = {};
    for (const sink of this.sinks) {
      let oldestPendingMs: number | null = null;
      for (const [lo, hi] of subtractFrom(1, this.lastSeq, this.ackSet(sink))) {
        oldestPendingMs = (this.stmts.firstInRange.get(lo, hi) as number | undefined) ?? null;
        if (oldestPendingMs !== null) break;
      }
      perSink[sink] = { pending: this.depth() - (this.ackedHeld.get(sink) ?? 0), oldestPendingMs };
    }
    return {
      depth: this.depth(),
      bytes: this.bytesHeld(),
      maxBytes: this.limits.maxBytes,
      oldestCreatedMs: (this.stmts.oldest.get() as number | undefined) ?? null,
      byClass: { telemetry: { ...this.totals.telemetry }, interval: { ...this.totals.interval } },
      perSink,
      dropped: { telemetry: { ...this.dropped.telemetry }, interval: { ...this.dropped.interval } },
      dropping: this.episodes.size > 0,
    };
  }

  close(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (this.db.open) {
      try {
        this.writeAcks();
      } catch (err) {
        // Lost acknowledgements mean a redelivery after the restart, nothing worse.
        this.log?.warn({ err }, 'outbox acknowledgements not written at close');
      }
    }
    this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}

function count(removed: Removed): number {
  return removed.reduce((n, [, c]) => n + c, 0);
}

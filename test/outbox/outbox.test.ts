import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, OUTBOX_FORMAT, type OutboxOptions } from '../../src/outbox/outbox.js';

let dir: string;
const open: Outbox[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'eg-outbox-'));
});
afterEach(() => {
  for (const o of open.splice(0)) o.close();
  rmSync(dir, { recursive: true, force: true });
});

function outbox(options: string[] | OutboxOptions = ['mqtt', 'influx'], file = 'outbox.sqlite'): Outbox {
  const o = new Outbox(join(dir, file), options);
  open.push(o);
  return o;
}

function reopen(o: Outbox, options: string[] | OutboxOptions = ['mqtt', 'influx']): Outbox {
  o.close();
  return outbox(options);
}

const telemetry = (i: number) => ({ kind: 'telemetry', record: { kind: 'telemetry', device: 'm1', ts_ms: i, values: { p: { value: i, unit: 'W', quality: 'good' } } } });
const energy = (i: number) => ({ kind: 'energy', record: { kind: 'energy', account: 'a', window: '15m', start_ms: i, quantity: i } });

function logCollector() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

describe('outbox', () => {
  it('keeps committed records and state across a reopen, and hands them out oldest first', () => {
    let o = outbox();
    o.commit([telemetry(1), energy(2)], { engine: { n: 2 } }, 1000);
    o.commit([telemetry(3)], { engine: { n: 3 } }, 1001);
    o = reopen(o);
    expect(o.loadState('engine')).toEqual({ n: 3 });
    expect(o.peek('mqtt', 10).map((r) => (r.record as { ts_ms?: number; start_ms?: number }).ts_ms ?? (r.record as { start_ms: number }).start_ms)).toEqual([1, 2, 3]);
    expect(o.peek('mqtt', 10).map((r) => r.kind)).toEqual(['telemetry', 'energy', 'telemetry']);
  });

  it('removes a record only once every sink has acknowledged it', () => {
    const o = outbox();
    o.commit([telemetry(1), telemetry(2), telemetry(3)], {}, 0);
    const batch = o.next('mqtt', 2);
    o.ackRange('mqtt', batch.fromSeq, batch.toSeq);
    expect(o.stats().depth).toBe(3);
    expect(o.stats().perSink).toMatchObject({ mqtt: { pending: 1 }, influx: { pending: 3 } });
    o.ack('influx', o.maxSeq());
    expect(o.stats().depth).toBe(1);
    expect(o.peek('mqtt', 10)).toHaveLength(1);
    expect(o.peek('influx', 10)).toHaveLength(0);
  });

  it('hands a sink the stored JSON, or what its encoder made of it, for the same batch', () => {
    const o = outbox();
    o.commit([telemetry(1), telemetry(2)], {}, 0);
    const plain = o.next('influx', 10);
    expect(plain.records.map((r) => JSON.parse(r.payload!) as unknown)).toEqual(plain.records.map((r) => r.record));
    const encoded = o.next('influx', 10, {}, (payload, kind) => `${kind}:${payload.length}`);
    expect(encoded).toMatchObject({ fromSeq: plain.fromSeq, toSeq: plain.toSeq });
    expect(encoded.records.map((r) => r.encoded)).toEqual(plain.records.map((r) => `${r.kind}:${r.payload!.length}`));
  });

  it('stores a sink\'s own text with each record and hands it back; records stored without it are encoded when read', () => {
    const made: string[] = [];
    const storeEncoder = { sink: 'influx', encode: (payload: string, kind: string) => {
      made.push(payload);
      if (kind === 'energy') return undefined; // left to the sink
      if (payload.includes('"ts_ms":3,')) throw new Error('cannot encode this one');
      return `stored:${kind}:${payload.length}`;
    } };
    // Written before the sink had a store encoder: no text stored.
    let o = outbox(['mqtt', 'influx']);
    o.commit([telemetry(1)], {}, 0);
    o = reopen(o, { sinks: ['mqtt', 'influx'], storeEncoder });
    const before = o.stats().bytes;
    o.commit([telemetry(2), energy(5), telemetry(3)], {}, 0);
    expect(made).toHaveLength(3);
    const readNow = (payload: string, kind: string) => `read:${kind}:${payload.length}`;
    const batch = o.next('influx', 10, {}, readNow);
    const json = o.next('mqtt', 10).records.map((r) => r.payload!);
    expect(batch.records.map((r) => r.encoded)).toEqual([
      `read:telemetry:${json[0]!.length}`, // stored without text
      `stored:telemetry:${json[1]!.length}`,
      `read:energy:${json[2]!.length}`, // the encoder left it
      `read:telemetry:${json[3]!.length}`, // the encoder threw: the commit went through all the same
    ]);
    // The MQTT sink still gets the stored JSON; the cap counts the stored text too.
    expect(json.map((t) => JSON.parse(t) as unknown)).toEqual([telemetry(1), telemetry(2), energy(5), telemetry(3)].map((r) => r.record));
    const jsonBytes = json.slice(1).reduce((n, t) => n + Buffer.byteLength(t), 0);
    expect(o.stats().bytes - before).toBe(jsonBytes + `stored:telemetry:${json[1]!.length}`.length);
    // The stored text survives a reopen.
    o = reopen(o, { sinks: ['mqtt', 'influx'], storeEncoder });
    expect(o.next('influx', 10, {}, readNow).records[1]?.encoded).toBe(`stored:telemetry:${json[1]!.length}`);
  });

  it('takes an acknowledgement at once and writes it with the next commit, deleting what every sink has', () => {
    const o = outbox();
    o.commit([telemetry(1), telemetry(2), telemetry(3)], {}, 0);
    const onDisk = new Database(join(dir, 'outbox.sqlite'), { readonly: true });
    const stored = () => ({
      acks: onDisk.prepare('SELECT sink, lo, hi FROM acks ORDER BY sink').raw().all(),
      records: onDisk.prepare('SELECT COUNT(*) FROM records').pluck().get(),
    });
    try {
      const before = stored();
      o.ack('mqtt', 3);
      o.ack('influx', 2);
      expect(o.peek('mqtt', 10)).toHaveLength(0);
      expect(o.peek('influx', 10).map((r) => r.seq)).toEqual([3]);
      // Not written yet: a crash now means a redelivery of 1..3, never a loss.
      expect(stored()).toEqual(before);
      o.commit([telemetry(4)], {}, 0);
      expect(stored()).toEqual({ acks: [['influx', 0, 2], ['mqtt', 0, 3]], records: 2 });
      expect(o.stats()).toMatchObject({ depth: 2, perSink: { mqtt: { pending: 1 }, influx: { pending: 2 } } });
      o.ack('influx', 4);
      // Without a commit, reading the counts writes them.
      expect(o.stats()).toMatchObject({ depth: 1, perSink: { mqtt: { pending: 1 }, influx: { pending: 0 } } });
      expect(stored()).toEqual({ acks: [['influx', 0, 4], ['mqtt', 0, 3]], records: 1 });
    } finally {
      onDisk.close();
    }
  });

  it('lets live records be acknowledged ahead of a backlog, and remembers both across a reopen', () => {
    let o = outbox(['influx']);
    for (let i = 1; i <= 10; i++) o.commit([telemetry(i)], {}, i);
    const liveFrom = o.maxSeq(); // the sink came back: 1..10 are backlog
    o.commit([telemetry(11), telemetry(12)], {}, 11);

    const live = o.next('influx', 100, { after: liveFrom });
    expect(live.records.map((r) => r.seq)).toEqual([11, 12]);
    o.ackRange('influx', live.fromSeq, live.toSeq);
    expect(o.stats().depth).toBe(10);

    const backlog = o.next('influx', 4, { upTo: liveFrom });
    expect(backlog.records.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    o.ackRange('influx', backlog.fromSeq, backlog.toSeq);

    o = reopen(o, ['influx']);
    expect(o.peek('influx', 100).map((r) => r.seq)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(o.pendingCount('influx', { upTo: liveFrom })).toBe(6);
    expect(o.pendingCount('influx', { after: liveFrom })).toBe(0);
    const rest = o.next('influx', 100, { upTo: liveFrom });
    o.ackRange('influx', rest.fromSeq, rest.toSeq);
    expect(o.stats().depth).toBe(0);
    o.commit([telemetry(13)], {}, 13);
    expect(o.peek('influx', 10).map((r) => r.seq)).toEqual([13]);
  });

  it('acknowledging "everything" never covers records stored later', () => {
    const o = outbox(['discard']);
    o.commit([telemetry(1)], {}, 0);
    o.ack('discard', Number.MAX_SAFE_INTEGER);
    o.commit([telemetry(2)], {}, 0);
    expect(o.peek('discard', 10).map((r) => r.seq)).toEqual([2]);
    o.ack('discard', Number.MAX_SAFE_INTEGER);
    expect(o.stats().depth).toBe(0);
  });

  it('gives a sink added later the backlog still held', () => {
    let o = outbox(['mqtt']);
    o.commit([telemetry(1), telemetry(2)], {}, 0);
    o = reopen(o, ['mqtt', 'influx']);
    expect(o.peek('influx', 10)).toHaveLength(2);
  });

  it('drops the oldest telemetry when the cap is hit, keeps every interval record, and counts and logs each episode once', () => {
    const { log, lines } = logCollector();
    const one = Buffer.byteLength(JSON.stringify(telemetry(100000).record));
    const o = outbox({ sinks: ['influx'], limits: { maxBytes: one * 20 }, log });
    for (let i = 0; i < 200; i++) {
      o.commit([telemetry(100000 + i), ...(i % 10 === 0 ? [energy(i)] : [])], {}, i);
    }
    const st = o.stats();
    expect(st.bytes).toBeLessThanOrEqual(one * 20);
    expect(st.byClass.interval.depth).toBe(20);
    const kept = o.peek<{ ts_ms?: number }>('influx', 1000).filter((r) => r.kind === 'telemetry').map((r) => r.record.ts_ms);
    // What is left is the newest telemetry, contiguous up to the last one stored.
    expect(kept[kept.length - 1]).toBe(100199);
    expect(kept).toEqual(kept.map((_, i) => 100199 - kept.length + 1 + i));
    expect(st.dropped.telemetry.size).toBe(200 - kept.length);
    expect(st.dropped.interval.size).toBe(0);
    expect(st.dropping).toBe(true);
    expect(lines.filter((l) => l.msg === 'outbox dropping telemetry')).toHaveLength(1);

    // The sink catches up: the episode ends, logged once with its total.
    o.ack('influx', o.maxSeq());
    const end = lines.filter((l) => l.msg === 'outbox no longer dropping');
    expect(end).toHaveLength(1);
    expect(end[0]).toMatchObject({ class: 'telemetry', reason: 'size', dropped: 200 - kept.length });
    expect(o.stats().dropping).toBe(false);
  });

  it('drops interval records for size only when no telemetry is left', () => {
    const { log, lines } = logCollector();
    const one = Buffer.byteLength(JSON.stringify(energy(1000).record));
    const o = outbox({ sinks: ['influx'], limits: { maxBytes: one * 10 }, log });
    o.commit([telemetry(1)], {}, 0);
    for (let i = 0; i < 12; i++) o.commit([energy(1000 + i)], {}, 0);
    const st = o.stats();
    expect(st.byClass.telemetry.depth).toBe(0);
    expect(st.dropped.telemetry.size).toBe(1);
    expect(st.dropped.interval.size).toBeGreaterThan(0);
    expect(st.byClass.interval.depth + st.dropped.interval.size).toBe(12);
    expect(lines.some((l) => l.msg === 'outbox dropping interval records' && l.level === 50)).toBe(true);
  });

  it('drops telemetry older than its age limit and keeps older interval records', () => {
    const o = outbox({ sinks: ['influx'], limits: { maxAgeMs: { telemetry: 60_000, interval: 0 } } });
    o.commit([telemetry(1), energy(1)], {}, 0);
    o.commit([telemetry(2)], {}, 30_000);
    o.commit([telemetry(3)], {}, 90_000);
    const st = o.stats();
    expect(st.dropped.telemetry.age).toBe(1);
    expect(o.peek<{ ts_ms?: number }>('influx', 10).map((r) => r.kind)).toEqual(['energy', 'telemetry', 'telemetry']);
  });

  it('keeps drop counters across a reopen', () => {
    const one = Buffer.byteLength(JSON.stringify(telemetry(100000).record));
    let o = outbox({ sinks: ['influx'], limits: { maxBytes: one * 5 } });
    for (let i = 0; i < 20; i++) o.commit([telemetry(100000 + i)], {}, i);
    const dropped = o.stats().dropped.telemetry.size;
    expect(dropped).toBeGreaterThan(0);
    o = reopen(o, { sinks: ['influx'], limits: { maxBytes: one * 5 } });
    expect(o.stats().dropped.telemetry.size).toBe(dropped);
    expect(o.stats().depth).toBe(20 - dropped);
  });

  it('a sink skips over dropped records and acknowledging closes the hole', () => {
    const one = Buffer.byteLength(JSON.stringify(telemetry(100000).record));
    const o = outbox({ sinks: ['influx'], limits: { maxBytes: one * 5 } });
    for (let i = 0; i < 20; i++) o.commit([telemetry(100000 + i)], {}, i);
    const b = o.next('influx', 100);
    expect(b.records.length).toBe(o.stats().depth);
    expect(b.fromSeq).toBe(1);
    o.ackRange('influx', b.fromSeq, b.toSeq);
    expect(o.stats()).toMatchObject({ depth: 0, bytes: 0 });
    expect(o.next('influx', 100).records).toHaveLength(0);
  });

  it('never drops records a sink is delivering: what is counted dropped is exactly what was not delivered', () => {
    const one = Buffer.byteLength(JSON.stringify(telemetry(100000).record));
    const o = outbox({ sinks: ['influx'], limits: { maxBytes: one * 5, maxAgeMs: { telemetry: 60_000, interval: 0 } } });
    for (let i = 0; i < 4; i++) o.commit([telemetry(100000 + i)], {}, i);
    const batch = o.next<{ ts_ms: number }>('influx', 2);
    const release = o.hold(batch.fromSeq, batch.toSeq);
    // The cap is passed many times over, and the held records grow older than the age limit.
    for (let i = 4; i < 30; i++) o.commit([telemetry(100000 + i)], {}, i < 25 ? i : 120_000 + i);
    const held = o.peek<{ ts_ms: number }>('influx', 100).map((r) => r.record.ts_ms);
    expect(held.slice(0, 2)).toEqual(batch.records.map((r) => r.record.ts_ms));
    // The delivery succeeds: acknowledged in the same turn as released.
    release();
    o.ackRange('influx', batch.fromSeq, batch.toSeq);
    const rest = o.next('influx', 100);
    o.ackRange('influx', rest.fromSeq, rest.toSeq);
    const st = o.stats();
    expect(st.dropped.telemetry.size + st.dropped.telemetry.age).toBeGreaterThan(0);
    expect(batch.records.length + rest.records.length + st.dropped.telemetry.size + st.dropped.telemetry.age).toBe(30);
    expect(st.depth).toBe(0);
    // Released, the same records would have been dropped like any other.
    for (let i = 30; i < 40; i++) o.commit([telemetry(100000 + i)], {}, 200_000 + i);
    const b2 = o.next('influx', 1);
    o.hold(b2.fromSeq, b2.toSeq)();
    for (let i = 40; i < 60; i++) o.commit([telemetry(100000 + i)], {}, 200_000 + i);
    expect(o.next('influx', 100).records[0]!.seq).toBeGreaterThan(b2.toSeq);
  });

  it('keeps per-sink pending counts exact through interleaved commits, acknowledgements, replays and drops', () => {
    const one = Buffer.byteLength(JSON.stringify(telemetry(100000).record));
    let o = outbox({ sinks: ['mqtt', 'influx'], limits: { maxBytes: one * 60 } });
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const brute = (sink: string) => o.peek(sink, 1_000_000).length;
    for (let step = 0; step < 400; step++) {
      const r = rand();
      if (r < 0.45) {
        o.commit(Array.from({ length: 1 + Math.floor(rand() * 5) }, (_, i) => (rand() < 0.2 ? energy(step * 10 + i) : telemetry(100000 + step * 10 + i))), {}, step);
      } else {
        const sink = rand() < 0.5 ? 'mqtt' : 'influx';
        const liveFrom = Math.floor(rand() * o.maxSeq());
        const region = rand() < 0.5 ? { after: liveFrom } : { upTo: liveFrom };
        const b = o.next(sink, 1 + Math.floor(rand() * 8), region);
        if (b.toSeq >= b.fromSeq) o.ackRange(sink, b.fromSeq, b.toSeq);
      }
      if (step % 50 === 49) o = reopen(o, { sinks: ['mqtt', 'influx'], limits: { maxBytes: one * 60 } });
      const st = o.stats();
      expect(st.perSink.mqtt!.pending, `step ${step}`).toBe(brute('mqtt'));
      expect(st.perSink.influx!.pending, `step ${step}`).toBe(brute('influx'));
      expect(st.depth).toBe(o.peek('mqtt', 1_000_000).length + o.peek('influx', 1_000_000).filter((r) => !o.peek('mqtt', 1_000_000).some((m) => m.seq === r.seq)).length);
    }
    expect(o.stats().dropped.telemetry.size).toBeGreaterThan(0);
  });

  it('hands out the same batches from the rows kept in memory as from disk, through commits, acknowledgements, replays, drops and reopens', () => {
    const one = Buffer.byteLength(JSON.stringify(telemetry(100000).record));
    const storeEncoder = { sink: 'influx', encode: (payload: string, kind: string) => (kind === 'telemetry' ? `lp:${payload.length}` : undefined) };
    // Same operations on two outboxes: one keeps a few rows in memory, the other none.
    const options = (recentMaxBytes: number): OutboxOptions => ({ sinks: ['mqtt', 'influx'], limits: { maxBytes: one * 60 }, storeEncoder, recentMaxBytes });
    const files = ['kept.sqlite', 'disk.sqlite'];
    const sizes = [one * 12, 0];
    let pair = files.map((f, i) => outbox(options(sizes[i]!), f));
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const encode = (payload: string, kind: string) => `${kind}:${payload.length}`;
    const seen = (b: ReturnType<Outbox['next']>) => ({
      fromSeq: b.fromSeq, toSeq: b.toSeq,
      records: b.records.map((r) => [r.seq, r.kind, r.createdMs, r.encoded ?? r.payload]),
    });
    for (let step = 0; step < 600; step++) {
      const r = rand();
      if (r < 0.4) {
        const batch = Array.from({ length: 1 + Math.floor(rand() * 6) }, (_, i) => (rand() < 0.2 ? energy(step * 10 + i) : telemetry(100000 + step * 10 + i)));
        for (const o of pair) o.commit(batch, {}, step);
      } else {
        const sink = rand() < 0.5 ? 'mqtt' : 'influx';
        const liveFrom = Math.floor(rand() * pair[0]!.maxSeq());
        const region = rand() < 0.3 ? { after: liveFrom } : rand() < 0.5 ? { upTo: liveFrom } : {};
        const limit = 1 + Math.floor(rand() * 8);
        const how = rand() < 0.5 ? encode : undefined;
        const [kept, disk] = pair.map((o) => o.next(sink, limit, region, how));
        expect(seen(kept!), `step ${step}`).toEqual(seen(disk!));
        if (kept!.toSeq >= kept!.fromSeq && rand() < 0.8) for (const o of pair) o.ackRange(sink, kept!.fromSeq, kept!.toSeq);
      }
      if (step % 150 === 149) pair = pair.map((o, i) => { o.close(); return outbox(options(sizes[i]!), files[i]); });
      const [a, b] = pair.map((o) => o.stats());
      expect(a!.perSink, `step ${step}`).toEqual(b!.perSink);
      expect(a!.dropped).toEqual(b!.dropped);
    }
    expect(pair[0]!.stats().dropped.telemetry.size).toBeGreaterThan(0);
  });

  it('a sink that keeps up is handed what was just committed without reading it back from disk', () => {
    const o = outbox({ sinks: ['mqtt'] });
    o.commit([telemetry(1), telemetry(2)], {}, 0);
    o.ackRange('mqtt', 1, 2);
    o.commit([telemetry(3), energy(4)], {}, 1);
    // Behind the outbox's back: the rows are gone from the file, and still handed out.
    const other = new Database(join(dir, 'outbox.sqlite'));
    other.prepare('DELETE FROM records').run();
    other.close();
    const batch = o.next('mqtt', 10);
    expect(batch.records.map((r) => [r.seq, r.kind, r.record])).toEqual([[3, 'telemetry', telemetry(3).record], [4, 'energy', energy(4).record]]);
    expect([batch.fromSeq, batch.toSeq]).toEqual([3, 4]);
  });

  it('stores records with a full fsync, also after acknowledgements and drops ran with a lighter one', () => {
    const one = Buffer.byteLength(JSON.stringify(telemetry(100000).record));
    const o = outbox({ sinks: ['influx'], limits: { maxBytes: one * 3 } });
    const sync = () => (o as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true });
    expect(sync()).toBe(2); // FULL
    for (let i = 0; i < 10; i++) o.commit([telemetry(100000 + i)], {}, i); // drops run
    o.ack('influx', o.maxSeq());
    expect(o.stats().dropped.telemetry.size).toBeGreaterThan(0);
    expect(sync()).toBe(2);
  });

  it('opens an outbox written by version 0.1 (one cursor per sink)', () => {
    const file = join(dir, 'old.sqlite');
    const db = new Database(file);
    db.exec(`
      CREATE TABLE records (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, created_ms INTEGER NOT NULL, payload TEXT NOT NULL);
      CREATE TABLE cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL);
      CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    for (let i = 1; i <= 3; i++) db.prepare('INSERT INTO records (kind, created_ms, payload) VALUES (?, ?, ?)').run('telemetry', i, JSON.stringify(telemetry(i).record));
    db.prepare('INSERT INTO cursors VALUES (?, ?)').run('mqtt', 2);
    db.prepare('INSERT INTO cursors VALUES (?, ?)').run('influx', 0);
    db.close();
    const o = outbox(['mqtt', 'influx'], 'old.sqlite');
    const reread = new Database(file, { readonly: true });
    expect(reread.pragma('user_version', { simple: true })).toBe(OUTBOX_FORMAT);
    reread.close();
    expect(o.peek('mqtt', 10).map((r) => r.seq)).toEqual([3]);
    expect(o.peek('influx', 10).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(o.stats().bytes).toBeGreaterThan(0);
    o.commit([telemetry(4)], {}, 4);
    expect(o.maxSeq()).toBe(4);
  });

  it('refuses an outbox written in a newer format, and leaves it as it was', () => {
    const o = outbox(['mqtt'], 'newer.sqlite');
    o.commit([telemetry(1)], {}, 1);
    o.close();
    const file = join(dir, 'newer.sqlite');
    const db = new Database(file);
    db.pragma(`user_version = ${OUTBOX_FORMAT + 1}`);
    db.close();
    expect(() => outbox(['mqtt'], 'newer.sqlite')).toThrow(`written by a newer energy-gateway (outbox format ${OUTBOX_FORMAT + 1}; this version reads up to ${OUTBOX_FORMAT})`);
    const after = new Database(file, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(OUTBOX_FORMAT + 1);
    expect(after.prepare('SELECT COUNT(*) FROM records').pluck().get()).toBe(1);
    after.close();
  });
});

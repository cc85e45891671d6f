// The writer's HTTP behaviour against a small local HTTP server that answers the way
// InfluxDB does (status codes, Retry-After). What InfluxDB and VictoriaMetrics really
// accept is covered by test/system/delivery-influx-apis.test.ts.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { InfluxConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log/logger.js';
import type { QueuedRecord } from '../../src/outbox/outbox.js';
import { SinkError } from '../../src/sinks/errors.js';
import { InfluxWriter, retryAfterMs } from '../../src/sinks/influx/writer.js';

interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  lines: string[];
}

let server: Server | null = null;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
});

/** Answers each request with `answer(lines)`; records what arrived. */
async function fakeInflux(answer: (lines: string[]) => { status: number; body?: string; headers?: Record<string, string> }) {
  const seen: Seen[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      const lines = body.toString('utf8').split('\n').filter(Boolean);
      seen.push({ url: req.url ?? '', headers: req.headers, lines });
      const a = answer(lines);
      res.writeHead(a.status, a.headers ?? {}).end(a.body ?? '');
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, seen };
}

function records(n: number): QueuedRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    seq: i + 1, kind: 'telemetry', createdMs: 0,
    record: { kind: 'telemetry', device: i === 5 ? 'BAD' : `m${i}`, model: null, ts_ms: 1000 + i, values: { p: { value: i, unit: 'W', quality: 'good' } } },
  }));
}

const ctx = { replayed: false };

describe('influx writer', () => {
  it('v1: database, retention policy and basic auth in the request; gzip body', async () => {
    const f = await fakeInflux(() => ({ status: 204 }));
    const w = new InfluxWriter(InfluxConfig.parse({ url: f.url, api: 'v1', database: 'energy', retention_policy: 'autogen', username: 'gw', password: 's3cret' }), { site: 's', gateway: 'g' }, silentLogger());
    await w.deliver(records(3), ctx);
    const req = f.seen[0]!;
    expect(req.url).toMatch(/^\/write\?/);
    expect(new URLSearchParams(req.url.split('?')[1]).get('db')).toBe('energy');
    expect(new URLSearchParams(req.url.split('?')[1]).get('rp')).toBe('autogen');
    expect(new URLSearchParams(req.url.split('?')[1]).get('precision')).toBe('ms');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('gw:s3cret').toString('base64')}`);
    expect(req.headers['content-encoding']).toBe('gzip');
    expect(req.lines).toHaveLength(3);
    expect(w.stats.linesWritten).toBe(3);
  });

  it('v2: org, bucket and token; gzip can be turned off', async () => {
    const f = await fakeInflux(() => ({ status: 204 }));
    const w = new InfluxWriter(InfluxConfig.parse({ url: `${f.url}/`, api: 'v2', org: 'plant', bucket: 'energy', token: 'tok', gzip: false }), { site: 's', gateway: 'g' }, silentLogger());
    await w.deliver(records(1), ctx);
    const req = f.seen[0]!;
    expect(req.url).toMatch(/^\/api\/v2\/write\?/);
    const q = new URLSearchParams(req.url.split('?')[1]);
    expect([q.get('org'), q.get('bucket')]).toEqual(['plant', 'energy']);
    expect(req.headers.authorization).toBe('Token tok');
    expect(req.headers['content-encoding']).toBeUndefined();
  });

  it.each([
    [500, 'internal error'],
    [503, 'unavailable'],
    [429, 'too many requests'],
    [401, 'bad token'],
    [403, 'forbidden'],
    [404, 'database not found'],
  ])('HTTP %i keeps the batch queued (retryable)', async (status, body) => {
    const f = await fakeInflux(() => ({ status, body }));
    const w = new InfluxWriter(InfluxConfig.parse({ url: f.url, api: 'v1', database: 'd' }), { site: 's', gateway: 'g' }, silentLogger());
    const err = await w.deliver(records(4), ctx).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect((err as SinkError).retryable).toBe(true);
    expect(w.stats.linesRejected).toBe(0);
  });

  it('an unreachable server keeps the batch queued', async () => {
    const f = await fakeInflux(() => ({ status: 204 }));
    await new Promise<void>((r) => server!.close(() => r()));
    server = null;
    const w = new InfluxWriter(InfluxConfig.parse({ url: f.url, api: 'v1', database: 'd', timeout: '2s' }), { site: 's', gateway: 'g' }, silentLogger());
    await expect(w.deliver(records(1), ctx)).rejects.toMatchObject({ retryable: true });
  });

  it('honours Retry-After on 429', async () => {
    const f = await fakeInflux(() => ({ status: 429, headers: { 'retry-after': '7' } }));
    const w = new InfluxWriter(InfluxConfig.parse({ url: f.url, api: 'v1', database: 'd' }), { site: 's', gateway: 'g' }, silentLogger());
    await expect(w.deliver(records(1), ctx)).rejects.toMatchObject({ retryable: true, retryAfterMs: 7000 });
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('bogus')).toBeUndefined();
    expect(retryAfterMs(new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThan(50_000);
  });

  it('a 400 for one line rejects only that line: the batch is split until it is found', async () => {
    const f = await fakeInflux((lines) => (lines.some((l) => l.includes('device=BAD')) ? { status: 400, body: '{"error":"unable to parse"}' } : { status: 204 }));
    const w = new InfluxWriter(InfluxConfig.parse({ url: f.url, api: 'v1', database: 'd' }), { site: 's', gateway: 'g' }, silentLogger());
    await w.deliver(records(20), ctx);
    expect(w.stats.linesRejected).toBe(1);
    expect(w.stats.linesWritten).toBe(19);
    const written = f.seen.filter((s) => !s.lines.some((l) => l.includes('device=BAD'))).flatMap((s) => s.lines);
    expect(new Set(written).size).toBe(19);
  });

  it('a 413 (body too large) splits the batch instead of dropping it', async () => {
    const f = await fakeInflux((lines) => (lines.length > 4 ? { status: 413, body: 'too large' } : { status: 204 }));
    const w = new InfluxWriter(InfluxConfig.parse({ url: f.url, api: 'v1', database: 'd' }), { site: 's', gateway: 'g' }, silentLogger());
    await w.deliver(records(16), ctx);
    expect(w.stats).toMatchObject({ linesWritten: 16, linesRejected: 0 });
  });
});

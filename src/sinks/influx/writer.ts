import { promisify } from 'node:util';
import { constants, gzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { InfluxConfig } from '../../config/schema.js';
import type { QueuedRecord } from '../../outbox/outbox.js';
import { SinkError } from '../errors.js';
import type { DeliveryContext, Sink } from '../runner.js';
import { recordLines, storedRecordLines, type SeriesIdentity } from './points.js';

const gzipAsync = promisify(gzip);

export interface InfluxWriterStats {
  linesWritten: number;
  linesRejected: number;
  requests: number;
  /** Last HTTP status other than 2xx, for the operator. */
  lastStatus: number | null;
}

type WriteResult = { ok: true } | { ok: false; code: number; body: string };

/**
 * Writes outbox records to InfluxDB over HTTP: API v1 (`/write`) or v2
 * (`/api/v2/write`, which InfluxDB 2/3 and VictoriaMetrics accept).
 *
 * - 5xx, 429 and network errors: retryable, the batch stays queued (Retry-After honoured).
 * - 401, 403, 404 (bad credentials, unknown database or bucket): a configuration fault
 *   the operator can fix, so also retryable: the data waits rather than being thrown away.
 * - any other 4xx (400 bad line, 413 too large, 422 outside retention): only the
 *   offending lines are refused — found by splitting the batch — logged and counted;
 *   the rest is written and the queue moves on. Re-sending lines that InfluxDB already
 *   took is harmless: the same series and timestamp overwrite.
 */
export class InfluxWriter implements Sink {
  readonly name = 'influx';
  readonly stats: InfluxWriterStats = { linesWritten: 0, linesRejected: 0, requests: 0, lastStatus: null };
  private readonly writeUrl: string;
  private readonly headers: Record<string, string>;
  private readonly gzip: boolean;
  private authFault = false;

  constructor(private readonly config: InfluxConfig, private readonly id: SeriesIdentity, private readonly log: Logger) {
    const base = config.url.replace(/\/+$/, '');
    const q = new URLSearchParams({ precision: 'ms' });
    this.gzip = config.gzip;
    this.headers = { 'content-type': 'text/plain; charset=utf-8' };
    if (this.gzip) this.headers['content-encoding'] = 'gzip';
    if (config.api === 'v1') {
      q.set('db', config.database ?? '');
      if (config.retention_policy) q.set('rp', config.retention_policy);
      if (config.username !== undefined) {
        this.headers.authorization = `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`;
      }
      this.writeUrl = `${base}/write?${q.toString()}`;
    } else {
      q.set('bucket', config.bucket ?? '');
      if (config.org) q.set('org', config.org);
      if (config.token) this.headers.authorization = `Token ${config.token}`;
      this.writeUrl = `${base}/api/v2/write?${q.toString()}`;
    }
  }

  ready(): boolean {
    return true;
  }

  /**
   * A stored record's lines, joined by newlines ('' when it has none). The outbox stores
   * this with each record (Delivery sets it as the outbox's store encoder) and hands it
   * back as `encoded`; records stored without it are encoded as they are read.
   */
  readonly encode = (payload: string): string => storedRecordLines(payload, this.id).join('\n');

  /**
   * API v1 only: creates the database if it is missing (CREATE DATABASE is idempotent).
   * Best effort — without the right, the writes report the problem themselves.
   */
  async ensureDatabase(): Promise<void> {
    if (this.config.api !== 'v1' || !this.config.database) return;
    const base = this.config.url.replace(/\/+$/, '');
    const q = new URLSearchParams({ q: `CREATE DATABASE "${this.config.database.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` });
    const headers: Record<string, string> = {};
    if (this.headers.authorization) headers.authorization = this.headers.authorization;
    try {
      const res = await fetch(`${base}/query?${q.toString()}`, { method: 'POST', headers, signal: AbortSignal.timeout(this.config.timeout) });
      if (!res.ok) this.log.warn({ status: res.status, database: this.config.database }, 'influx database not created');
    } catch (err) {
      this.log.debug({ err }, 'influx not reachable yet; database creation retried on next start');
    }
  }

  async deliver(batch: Array<QueuedRecord>, _ctx?: DeliveryContext): Promise<void> {
    let lines: string[] | null = [];
    let count = 0;
    for (const item of batch) {
      const text = item.encoded !== undefined ? (item.encoded as string)
        : item.payload !== undefined ? this.encode(item.payload) : recordLines(item.record, this.id).join('\n');
      if (text === '') continue;
      lines.push(text);
      count += lineCount(text);
    }
    if (count === 0) return;
    // One flat string is what waits for gzip and the response, not thousands of small
    // ones: a batch that survives young-generation collections is copied by each of
    // them, which cost more than formatting it (large strings are never copied).
    const body = lines.join('\n');
    lines = null;
    const rejected: Array<{ line: string; code: number; body: string }> = [];
    await this.writeLines(body, count, rejected);
    if (rejected.length > 0) {
      this.stats.linesRejected += rejected.length;
      const first = rejected[0]!;
      this.log.error(
        { status: first.code, reason: first.body.slice(0, 300), rejected: rejected.length, lines: count, first_line: first.line.slice(0, 300) },
        'influx rejected lines',
      );
    }
  }

  /** Writes `count` lines joined by newlines (a line never contains one: it is escaped). */
  private async writeLines(body: string, count: number, rejected: Array<{ line: string; code: number; body: string }>): Promise<void> {
    const result = await this.post(body);
    if (result.ok) {
      this.stats.linesWritten += count;
      return;
    }
    if (count === 1) {
      rejected.push({ line: body, code: result.code, body: result.body });
      return;
    }
    // Refused: split to isolate the bad lines; write the rest.
    const lines = body.split('\n');
    const mid = Math.ceil(lines.length / 2);
    await this.writeLines(lines.slice(0, mid).join('\n'), mid, rejected);
    await this.writeLines(lines.slice(mid).join('\n'), lines.length - mid, rejected);
  }

  /** ok, or a refusal of the data itself; everything retryable throws. */
  private async post(body: string): Promise<WriteResult> {
    let res: Response;
    this.stats.requests += 1;
    try {
      const raw = Buffer.from(body, 'utf8');
      res = await fetch(this.writeUrl, {
        method: 'POST',
        headers: this.headers,
        // Level 1: most of the size gain for a fraction of the CPU an edge box has.
        body: this.gzip ? await gzipAsync(raw, { level: constants.Z_BEST_SPEED }) : raw,
        signal: AbortSignal.timeout(this.config.timeout),
      });
    } catch (err) {
      throw new SinkError('influx unreachable', true, { cause: err });
    }
    const text = res.status === 204 ? '' : await res.text().catch(() => '');
    if (res.ok) {
      if (this.authFault) this.log.info({ status: res.status }, 'influx accepts writes again');
      this.authFault = false;
      return { ok: true };
    }
    this.stats.lastStatus = res.status;
    if (res.status === 429 || res.status >= 500) {
      throw new SinkError(`influx write failed: HTTP ${res.status} ${text.slice(0, 200)}`, true, { retryAfterMs: retryAfterMs(res.headers.get('retry-after')) });
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      if (!this.authFault) this.log.error({ status: res.status, reason: text.slice(0, 300) }, 'influx refuses writes: check credentials, database or bucket; data stays queued');
      this.authFault = true;
      throw new SinkError(`influx write failed: HTTP ${res.status} ${text.slice(0, 200)}`, true);
    }
    return { ok: false, code: res.status, body: text };
  }
}

/** Lines in a non-empty block of lines joined by newlines. */
function lineCount(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n += 1;
  return n;
}

/** Retry-After in seconds or as an HTTP date; capped, since a long wait is better spent in backoff. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  const ms = Number.isFinite(s) ? s * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 300_000) : undefined;
}

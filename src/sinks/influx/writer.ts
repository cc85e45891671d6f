import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { InfluxConfig } from '../../config/schema.js';
import type { QueuedRecord } from '../../outbox/outbox.js';
import { SinkError } from '../errors.js';
import type { Sink } from '../runner.js';
import { toLine } from './line-protocol.js';
import { recordToPoints, type SeriesIdentity } from './points.js';

const gzipAsync = promisify(gzip);

export interface InfluxWriterStats {
  linesWritten: number;
  linesRejected: number;
}

/**
 * Writes outbox records to InfluxDB over HTTP: API v1 (`/write`) or v2
 * (`/api/v2/write`, which InfluxDB 2/3 and VictoriaMetrics accept). A 4xx refuses
 * only the offending lines — found by splitting the batch — and never blocks the queue.
 */
export class InfluxWriter implements Sink {
  readonly name = 'influx';
  readonly stats: InfluxWriterStats = { linesWritten: 0, linesRejected: 0 };
  private readonly writeUrl: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly config: InfluxConfig, private readonly id: SeriesIdentity, private readonly log: Logger) {
    const base = config.url.replace(/\/+$/, '');
    const q = new URLSearchParams({ precision: 'ms' });
    this.headers = { 'content-type': 'text/plain; charset=utf-8', 'content-encoding': 'gzip' };
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
   * API v1 only: creates the database if it is missing (CREATE DATABASE is idempotent).
   * Best effort — without the right, the writes report the problem themselves.
   */
  async ensureDatabase(): Promise<void> {
    if (this.config.api !== 'v1' || !this.config.database) return;
    const base = this.config.url.replace(/\/+$/, '');
    const q = new URLSearchParams({ q: `CREATE DATABASE "${this.config.database.replace(/"/g, '\\"')}"` });
    const headers: Record<string, string> = {};
    if (this.headers.authorization) headers.authorization = this.headers.authorization;
    try {
      const res = await fetch(`${base}/query?${q.toString()}`, { method: 'POST', headers, signal: AbortSignal.timeout(this.config.timeout) });
      if (!res.ok) this.log.warn({ status: res.status, database: this.config.database }, 'influx database not created');
    } catch (err) {
      this.log.debug({ err }, 'influx not reachable yet; database creation retried on next start');
    }
  }

  async deliver(batch: Array<QueuedRecord>): Promise<void> {
    const lines: string[] = [];
    for (const item of batch) {
      for (const p of recordToPoints(item.record, this.id)) {
        const line = toLine(p);
        if (line) lines.push(line);
      }
    }
    if (lines.length > 0) await this.writeLines(lines);
  }

  private async writeLines(lines: string[]): Promise<void> {
    const status = await this.post(lines.join('\n'));
    if (status.ok) {
      this.stats.linesWritten += lines.length;
      return;
    }
    // 4xx: the data is refused. Split to isolate the bad lines; write the rest.
    if (lines.length === 1) {
      this.stats.linesRejected += 1;
      this.log.error({ status: status.code, reason: status.body.slice(0, 300), line: lines[0]!.slice(0, 300) }, 'influx rejected line');
      return;
    }
    const mid = Math.ceil(lines.length / 2);
    await this.writeLines(lines.slice(0, mid));
    await this.writeLines(lines.slice(mid));
  }

  /** ok, or a permanent refusal; retryable failures throw. */
  private async post(body: string): Promise<{ ok: boolean; code: number; body: string }> {
    let res: Response;
    try {
      res = await fetch(this.writeUrl, {
        method: 'POST',
        headers: this.headers,
        body: await gzipAsync(Buffer.from(body, 'utf8')),
        signal: AbortSignal.timeout(this.config.timeout),
      });
    } catch (err) {
      throw new SinkError('influx unreachable', true, { cause: err });
    }
    const text = res.status === 204 ? '' : await res.text().catch(() => '');
    if (res.ok) return { ok: true, code: res.status, body: text };
    if (res.status === 429 || res.status >= 500 || res.status === 401 || res.status === 403 || res.status === 404) {
      // Auth and missing-database errors are configuration faults the operator can fix:
      // keep the data until they do, rather than discarding it.
      throw new SinkError(`influx write failed: HTTP ${res.status} ${text.slice(0, 200)}`, true);
    }
    return { ok: false, code: res.status, body: text };
  }
}

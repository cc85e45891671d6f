import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';

export interface Readiness {
  ready: boolean;
  reason?: string;
  /** Details shown to the operator (snake_case JSON). */
  [detail: string]: unknown;
}

export interface HealthSource {
  /** Config loaded and records flowing (or safely queued). */
  ready(): Readiness;
  /** Prometheus text exposition of the gateway's metrics. */
  metrics(): string;
}

/** /healthz (process alive), /readyz (data flowing), /metrics (Prometheus). */
export async function startHttp(listen: string, source: HealthSource, log: Logger): Promise<{ port: number; close(): Promise<void> }> {
  const idx = listen.lastIndexOf(':');
  const host = idx > 0 ? listen.slice(0, idx).replace(/^\[|\]$/g, '') : '0.0.0.0';
  const port = Number(idx >= 0 ? listen.slice(idx + 1) : listen);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const r = source.ready();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r) + '\n');
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(source.metrics());
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  log.info({ host, port: actual }, 'http listening');
  return {
    port: actual,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** What a histogram exposes: cumulative counts per upper bound, plus sum and count. */
export interface HistogramData {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

function formatLabels(labels: Record<string, string> | undefined): string {
  if (!labels || Object.keys(labels).length === 0) return '';
  return `{${Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

/** Builds Prometheus text: one HELP/TYPE header per metric, then its samples. */
export class MetricsText {
  private readonly lines: string[] = [];

  add(name: string, type: 'counter' | 'gauge', help: string, samples: Array<{ labels?: Record<string, string>; value: number }>): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const s of samples) {
      this.lines.push(`${name}${formatLabels(s.labels)} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
    return this;
  }

  histogram(name: string, help: string, series: Array<{ labels?: Record<string, string>; histogram: HistogramData }>): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    for (const { labels, histogram: h } of series) {
      h.bounds.forEach((le, i) => this.lines.push(`${name}_bucket${formatLabels({ ...labels, le: String(le) })} ${h.counts[i]}`));
      this.lines.push(`${name}_bucket${formatLabels({ ...labels, le: '+Inf' })} ${h.count}`);
      this.lines.push(`${name}_sum${formatLabels(labels)} ${h.sum}`);
      this.lines.push(`${name}_count${formatLabels(labels)} ${h.count}`);
    }
    return this;
  }

  toString(): string {
    return this.lines.join('\n') + '\n';
  }
}

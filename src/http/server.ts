import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';

export interface HealthSource {
  /** Config loaded and records flowing (or safely queued). */
  ready(): { ready: boolean; reason?: string };
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

/** Builds Prometheus text: one HELP/TYPE header per metric, then its samples. */
export class MetricsText {
  private readonly lines: string[] = [];

  add(name: string, type: 'counter' | 'gauge', help: string, samples: Array<{ labels?: Record<string, string>; value: number }>): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const s of samples) {
      const labels = s.labels && Object.keys(s.labels).length > 0
        ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`
        : '';
      this.lines.push(`${name}${labels} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
    return this;
  }

  toString(): string {
    return this.lines.join('\n') + '\n';
  }
}

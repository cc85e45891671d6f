// InfluxDB 1.x and Mosquitto for the delivery benchmark: started on free ports with
// their own temp dirs, stopped by PID. (test/support/servers.ts does the same for the
// tests; the benchmark is built without the test tree.)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchServer {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

function binary(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name} || ls /usr/sbin/${name} /usr/bin/${name} 2>/dev/null | head -1`], { encoding: 'utf8' });
  const path = r.stdout.trim().split('\n')[0];
  if (!path) throw new Error(`${name} is not installed (the delivery benchmark needs it)`);
  return path;
}

async function untilListening(port: number, child: ChildProcess, out: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited: ${out().slice(-1000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not listen on ${port}: ${out().slice(-1000)}`);
}

function run(bin: string, args: string[], port: number, dir: string, scheme: string): Promise<BenchServer> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20_000); });
  child.stderr?.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20_000); });
  return untilListening(port, child, () => out).then(() => ({
    url: `${scheme}://127.0.0.1:${port}`, port, pid: child.pid ?? -1,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  }));
}

export async function startInfluxd(): Promise<BenchServer> {
  const port = await freePort();
  const bindPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-influxd-'));
  const conf = join(dir, 'influxdb.conf');
  writeFileSync(conf, `
reporting-disabled = true
bind-address = "127.0.0.1:${bindPort}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
`);
  const s = await run(binary('influxd'), ['-config', conf], port, dir, 'http');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (await fetch(`${s.url}/ping`).then((r) => r.status === 204).catch(() => false)) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('influxd did not answer /ping');
}

/**
 * `noDelay`: mosquitto's set_tcp_nodelay, off by default. With it off, Nagle's algorithm
 * on the broker's socket to the subscriber holds small messages back until the
 * subscriber acknowledges earlier ones (delayed up to 40 ms on Linux).
 */
export async function startMosquitto(options: { noDelay?: boolean } = {}): Promise<BenchServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'max_queued_messages 0', 'max_inflight_messages 0'];
  if (options.noDelay) lines.push('set_tcp_nodelay true');
  writeFileSync(conf, [...lines, ''].join('\n'));
  return run(binary('mosquitto'), ['-c', conf], port, dir, 'mqtt');
}

export async function influxQuery(url: string, db: string, q: string): Promise<unknown[][]> {
  const res = await fetch(`${url}/query?${new URLSearchParams({ db, q }).toString()}`, { method: 'POST' });
  const body = await res.json() as { results: Array<{ series?: Array<{ values: unknown[][] }>; error?: string }> };
  if (body.results[0]?.error) throw new Error(body.results[0].error);
  return body.results[0]?.series?.[0]?.values ?? [];
}

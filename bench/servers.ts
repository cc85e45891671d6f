// Real servers for the system tests and the benchmarks: each started on a free port with
// its own temp dir, stopped by PID. Never touches a server its caller did not start.
// (Here rather than under test/ because the benchmarks are built without the test tree.)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const SBIN_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin'];

/** Absolute path of a server binary, or null. */
export function findBinary(name: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${name} || for d in ${SBIN_DIRS.join(' ')}; do [ -x "$d/${name}" ] && echo "$d/${name}" && break; done`], { encoding: 'utf8' });
  const path = r.stdout.trim().split('\n')[0];
  return path ? path : null;
}

/**
 * Whether a system test can run. In CI a missing binary is a failure (the test runs
 * and throws); elsewhere the test is skipped with a message saying what to install.
 */
export interface ServerHandle {
  port: number;
  dir: string;
  pid: number;
  /** Stops the process by PID (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
  /** Starts it again on the same port and dir (restart tests). */
  restart(): Promise<void>;
  /** Stops the process by PID and keeps its port and dir, for start() later (outage tests). */
  halt(): Promise<void>;
  /** Starts it again after halt(), on the same port and dir. */
  start(): Promise<void>;
  output(): string;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number, out: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${out().slice(-2000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not listen on ${port} within ${timeoutMs} ms: ${out().slice(-2000)}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const t = setTimeout(() => { if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL'); }, 5000);
  await exited;
  clearTimeout(t);
}

function managed(start: () => ChildProcess, port: number, dir: string, ready: (c: ChildProcess, out: () => string) => Promise<void>, cleanup: boolean): Promise<ServerHandle> {
  let child: ChildProcess;
  let log = '';
  const launch = async () => {
    child = start();
    child.stdout?.on('data', (d: Buffer) => { log += d.toString(); if (log.length > 200_000) log = log.slice(-100_000); });
    child.stderr?.on('data', (d: Buffer) => { log += d.toString(); if (log.length > 200_000) log = log.slice(-100_000); });
    await ready(child, () => log);
  };
  return launch().then(() => ({
    port, dir,
    get pid() { return child.pid ?? -1; },
    stop: async () => {
      await stopChild(child);
      if (cleanup) rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await stopChild(child);
      await launch();
    },
    halt: async () => {
      await stopChild(child);
    },
    start: async () => {
      await launch();
    },
    output: () => log,
  }));
}

/**
 * persistence: false gives a broker that forgets every session when it restarts.
 * noDelay: mosquitto's set_tcp_nodelay (off by default); with it off, Nagle's algorithm on
 * the broker's socket holds small messages back until earlier ones are acknowledged.
 */
export async function startMosquitto(opts: { persistence?: boolean; noDelay?: boolean } = {}): Promise<ServerHandle & { url: string }> {
  const bin = findBinary('mosquitto');
  if (!bin) throw new Error('mosquitto not installed (apt-get install mosquitto)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'eg-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  // max_queued_messages 0 = unlimited: the default (1000) silently drops QoS 1 messages
  // to a slow subscriber, which would look like data loss in our tests.
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`, 'allow_anonymous true', `persistence ${opts.persistence === false ? 'false' : 'true'}`, `persistence_location ${dir}/`,
    'max_queued_messages 0', 'max_inflight_messages 0', 'log_dest stdout',
    // Started as root, mosquitto switches to the user "mosquitto", which cannot write
    // into our private temp dir: persistence would fail and every session be lost on
    // a restart. Stay the user who started it.
    `user ${userInfo().username}`, ...(opts.noDelay ? ['set_tcp_nodelay true'] : []), '',
  ].join('\n'));
  const h = await managed(() => spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }), port, dir,
    (c, out) => waitForPort(port, c, 10_000, out), true);
  return Object.assign(h, { url: `mqtt://127.0.0.1:${port}` });
}

export async function startInfluxd(): Promise<ServerHandle & { url: string }> {
  const bin = findBinary('influxd');
  if (!bin) throw new Error('influxd not installed (apt-get install influxdb)');
  const port = await freePort();
  const bindPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'eg-influxd-'));
  const conf = join(dir, 'influxdb.conf');
  // influxd must always get -config: its defaults use system dirs and ports.
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
  const h = await managed(() => spawn(bin, ['-config', conf], { stdio: ['ignore', 'pipe', 'pipe'] }), port, dir,
    async (c, out) => {
      await waitForPort(port, c, 20_000, out);
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const ok = await fetch(`http://127.0.0.1:${port}/ping`).then((r) => r.status === 204).catch(() => false);
        if (ok) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('influxd did not answer /ping');
    }, true);
  return Object.assign(h, { url: `http://127.0.0.1:${port}` });
}

export async function startVictoriaMetrics(): Promise<ServerHandle & { url: string }> {
  const bin = findBinary('victoria-metrics');
  if (!bin) throw new Error('victoria-metrics not installed (apt-get install victoria-metrics)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'eg-vm-'));
  // -search.latencyOffset=1s: otherwise fresh samples stay invisible to queries for 30 s.
  const h = await managed(() => spawn(bin, [
    `-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${dir}`, '-search.latencyOffset=1s', '-loggerLevel=ERROR',
  ], { stdio: ['ignore', 'pipe', 'pipe'] }), port, dir, (c, out) => waitForPort(port, c, 20_000, out), true);
  return Object.assign(h, { url: `http://127.0.0.1:${port}` });
}

/** Runs an InfluxQL query against a 1.x server; returns the first series' rows as objects. */
export async function influxQuery(url: string, db: string, q: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${url}/query?${new URLSearchParams({ db, q, epoch: 'ms' }).toString()}`);
  const body = await res.json() as { results: Array<{ series?: Array<{ columns: string[]; values: unknown[][] }>; error?: string }> };
  const r = body.results[0];
  if (r?.error) throw new Error(r.error);
  const rows: Array<Record<string, unknown>> = [];
  for (const s of r?.series ?? []) {
    for (const v of s.values) rows.push(Object.fromEntries(s.columns.map((c, i) => [c, v[i]])));
  }
  return rows;
}

export interface PtyPair {
  /** Two linked pseudo-terminals: bytes written to one are read from the other, like two ends of an RS-485 line. */
  a: string;
  b: string;
  pid: number;
  stop(): Promise<void>;
}

async function waitForPaths(paths: string[], child: ChildProcess, timeoutMs: number, out: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`socat exited with ${child.exitCode}: ${out().slice(-2000)}`);
    if (paths.every((p) => existsSync(p))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`socat did not create ${paths.join(', ')} within ${timeoutMs} ms: ${out().slice(-2000)}`);
}

/**
 * socat with the given addresses, in its own temp dir, once the files at `paths` (pty
 * links it makes) exist. Stopped by PID; the dir goes with it.
 */
async function startSocat(dir: string, addresses: string[], paths: string[]): Promise<{ pid: number; stop(): Promise<void> }> {
  const bin = findBinary('socat');
  if (!bin) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error('socat not installed (apt-get install socat)');
  }
  let log = '';
  const child = spawn(bin, ['-d', '-d', ...addresses], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  await waitForPaths(paths, child, 10_000, () => log).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { pid: child.pid ?? -1, stop };
}

/** A socat pty pair in its own temp dir (links `a` and `b`), stopped by PID. */
export async function startPtyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'eg-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const socat = await startSocat(dir, [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], [a, b]);
  return { a, b, ...socat };
}

/**
 * A serial device server made of socat: TCP on `port` bridged to a pty at `path`, where a
 * simulated RTU line listens. Stopped by PID.
 */
export async function startSerialDeviceServer(): Promise<{ port: number; path: string; pid: number; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'eg-dtu-'));
  const path = join(dir, 'line');
  const port = await freePort();
  // The pty first: socat opens its addresses in order, and the line must exist before a client connects.
  const socat = await startSocat(dir, [`pty,raw,echo=0,link=${path}`, `tcp-listen:${port},bind=127.0.0.1,reuseaddr`], [path]);
  return { port, path, ...socat };
}

// OPC UA acquisition benchmark: 10,000 monitored items at 1 s against the line
// simulator running in a child process, so CPU and RSS below are the gateway's alone.
//
//   OPCUA_BENCH_TAGS     monitored items (default 10000)
//   OPCUA_BENCH_SECONDS  measured window after warm-up (default 30)
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { OpcuaBusConfig } from '../src/config/opcua.js';
import { createOpcuaSource, type OpcuaDeviceSpec } from '../src/protocols/opcua/source.js';
import { benchNodeId } from '../src/sim/opcua/line.js';
import { formatTable, type BenchRow } from './table.js';

export type Row = BenchRow;

function startServer(tags: number): Promise<{ child: ChildProcess; endpoint: string }> {
  const js = fileURLToPath(new URL('../src/sim/opcua/bench-server.js', import.meta.url));
  const ts = fileURLToPath(new URL('../src/sim/opcua/bench-server.ts', import.meta.url));
  // Built: run the compiled entry. From source (vitest, tsx): let tsx load the .ts.
  const child = existsSync(js)
    ? fork(js, [], { env: { ...process.env, OPCUA_BENCH_TAGS: String(tags) }, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] })
    : fork(ts, [], { env: { ...process.env, OPCUA_BENCH_TAGS: String(tags) }, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bench server did not start within 120 s')), 120_000);
    child.once('message', (m: { endpoint?: string }) => {
      clearTimeout(timer);
      if (m.endpoint) resolve({ child, endpoint: m.endpoint });
      else reject(new Error('bench server sent no endpoint'));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bench server exited (${code})`));
    });
  });
}

/** CPU time of another process (Linux /proc, 100 Hz ticks); undefined elsewhere. */
function procCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN : NaN;
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

export async function benchOpcua(options: { tags?: number; seconds?: number } = {}): Promise<Row[]> {
  const tags = options.tags ?? Number(process.env.OPCUA_BENCH_TAGS ?? 10_000);
  const seconds = options.seconds ?? Number(process.env.OPCUA_BENCH_SECONDS ?? 30);
  const dataDir = mkdtempSync(join(tmpdir(), 'opcua-bench-'));
  const { child, endpoint } = await startServer(tags);

  const device: OpcuaDeviceSpec = {
    id: 'bench',
    poll_interval_ms: 1000,
    points: Array.from({ length: tags }, (_, i) => ({ id: `t${i}`, node_id: benchNodeId(i), unit: '' })),
  };
  let values = 0;
  let measuring = false;
  const sourceLagMs: number[] = [];
  const source = createOpcuaSource(
    OpcuaBusConfig.parse({ id: 'bench', type: 'opcua', endpoint, subscription: { sampling_interval: process.env.OPCUA_BENCH_SAMPLING ?? '1s', max_items_per_subscription: Number(process.env.OPCUA_BENCH_ITEMS_PER_SUBSCRIPTION ?? 1000) } }),
    [device],
    {
      dataDir,
      log: pino({ level: 'warn' }),
      events: {
        onPoll(poll) {
          const n = Object.keys(poll.values).length;
          values += n;
          if (!measuring) return;
          // Change at the server → record here; includes sampling and publishing delay.
          const v = poll.values.t0;
          if (v?.sourceTsMs) sourceLagMs.push(poll.tsMs - v.sourceTsMs);
        },
        onAvailability() { /* not measured */ },
      },
    },
  );
  const rows: Row[] = [];
  try {
    const setupStart = Date.now();
    await source.start();
    // Ready: every item created and a full round of values seen.
    const deadline = Date.now() + 180_000;
    while (source.stats().monitored_items < tags || values < tags) {
      if (Date.now() > deadline) throw new Error(`only ${source.stats().monitored_items} of ${tags} items after 180 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const setupMs = Date.now() - setupStart;
    await new Promise((r) => setTimeout(r, 5000)); // warm-up: JIT, first GC cycles

    measuring = true;
    const valuesAtStart = values;
    const notificationsAtStart = source.stats().notifications;
    const cpuStart = process.cpuUsage();
    const serverCpuStart = procCpuMs(child.pid);
    const wallStart = performance.now();
    let rssMax = 0;
    const rssTimer = setInterval(() => { rssMax = Math.max(rssMax, process.memoryUsage().rss); }, 500);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    clearInterval(rssTimer);
    const cpu = process.cpuUsage(cpuStart);
    const wallMs = performance.now() - wallStart;
    const rssEnd = process.memoryUsage().rss;
    const serverCpuEnd = procCpuMs(child.pid);
    rssMax = Math.max(rssMax, rssEnd);
    const stats = source.stats();
    const lag = [...sourceLagMs].sort((a, b) => a - b);

    const suite = 'opcua';
    const cpuPct = round(((cpu.user + cpu.system) / 1000 / wallMs) * 100);
    const rssMiB = round(rssMax / 1024 / 1024);
    rows.push(
      { suite, metric: `monitored items (1 s sampling and publishing, ${seconds} s window)`, value: tags, unit: 'items' },
      { suite, metric: 'setup: connect + create items + first values', value: round(setupMs / 1000, 2), unit: 's' },
      { suite, metric: 'data changes received', value: Math.round(((stats.notifications - notificationsAtStart) * 1000) / wallMs), unit: '1/s' },
      { suite, metric: 'point values emitted', value: Math.round(((values - valuesAtStart) * 1000) / wallMs), unit: '1/s' },
      // Reference, not a pass mark: EMQX Neuron 3.2.1 reports OPC UA 10 k tags/s at 7 % CPU
      // (4-core Xeon, whole machine) and 172 MB (anchors.md).
      { suite, metric: 'gateway CPU', value: cpuPct, unit: '% of one core', target: 'Neuron: 7 % at 10 k tags/s' },
      { suite, metric: 'gateway RSS (max)', value: rssMiB, unit: 'MiB', target: 'Neuron: 172 MB' },
      ...(serverCpuStart !== undefined && serverCpuEnd !== undefined
        ? [{ suite, metric: 'simulator CPU (child process, context only)', value: round(((serverCpuEnd - serverCpuStart) / wallMs) * 100), unit: '% of one core' }]
        : []),
      { suite, metric: 'notification → record p50', value: round(stats.notify_to_record_p50_ms ?? NaN, 2), unit: 'ms' },
      { suite, metric: 'notification → record p99', value: round(stats.notify_to_record_p99_ms ?? NaN, 2), unit: 'ms' },
      { suite, metric: 'server source timestamp → record p50', value: round(quantile(lag, 0.5)), unit: 'ms' },
      { suite, metric: 'server source timestamp → record p99', value: round(quantile(lag, 0.99)), unit: 'ms' },
    );
  } finally {
    await source.stop();
    child.disconnect();
    await new Promise((r) => { if (child.exitCode !== null) r(undefined); else child.once('exit', r); setTimeout(() => { child.kill('SIGKILL'); r(undefined); }, 10_000).unref(); });
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}

/** The suite entry `npm run bench -- opcua` calls. */
export function run(_args: string[] = []): Promise<BenchRow[]> {
  return benchOpcua();
}

// `node dist/bench/opcua.js` or `node --import tsx bench/opcua.ts` runs it alone.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchOpcua().then((rows) => { process.stdout.write(`${formatTable(rows)}\n`); }, (err: unknown) => { console.error(err); process.exitCode = 1; });
}

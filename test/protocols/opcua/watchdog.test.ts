// Half-open connection: the server process is frozen (SIGSTOP), so the socket stays
// open but no data flows. The watchdog must notice and rebuild the session, and data
// must resume once the server runs again.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { OpcuaBusConfig } from '../../../src/config/opcua.js';
import { createOpcuaSource } from '../../../src/protocols/opcua/source.js';
import { lineNodeId } from '../../../src/sim/opcua/line.js';
import { captureLogger, recorder, tempDir, waitFor } from './helpers.js';

const serverEntry = fileURLToPath(new URL('../../../src/sim/opcua/bench-server.ts', import.meta.url));

function startChildServer(): Promise<{ child: ChildProcess; endpoint: string }> {
  const child = fork(serverEntry, [], {
    env: { ...process.env, OPCUA_BENCH_TAGS: '0' }, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { endpoint: string }) => resolve({ child, endpoint: m.endpoint }));
    child.once('exit', (code) => reject(new Error(`simulator child exited (${code})`)));
  });
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('opcua watchdog', { timeout: 60_000 }, () => {
  it('a frozen server (socket open, no data) trips the watchdog; the session is rebuilt and values resume', async () => {
    const tmp = tempDir('opcua-watchdog');
    const { child, endpoint } = await startChildServer();
    cleanups.push(tmp.remove, () => new Promise<void>((resolve) => {
      child.kill('SIGCONT');
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }));
    const rec = recorder();
    const logs = captureLogger();
    const src = createOpcuaSource(
      OpcuaBusConfig.parse({ id: 'plc1', type: 'opcua', endpoint, watchdog_timeout: '3s', reconnect_max: '1s', timeout: '10s' }),
      [{ id: 'line', poll_interval_ms: 500, points: [{ id: 'production_count', node_id: lineNodeId('GoodParts'), unit: 'count', counter: {} }] }],
      { dataDir: join(tmp.dir, 'data'), log: logs.log, events: rec },
    );
    cleanups.push(() => src.stop());
    await src.start();
    await waitFor(() => rec.readings('production_count').length >= 2, 15_000, 'values');

    child.kill('SIGSTOP');
    const trip = await waitFor(() => logs.lines.find((l) => l.msg === 'opcua watchdog: no data, rebuilding session'), 15_000, 'watchdog trip');
    expect(trip.silence_ms as number).toBeGreaterThan(3000);
    expect(rec.lastAvailability()).toMatchObject({ state: 'offline' });
    expect(rec.lastAvailability()?.reason).toMatch(/^no data for \d+ s$/);
    expect(src.stats().watchdog_trips).toBeGreaterThanOrEqual(1);

    child.kill('SIGCONT');
    const resumedAt = Date.now();
    await waitFor(() => rec.readings('production_count').some((r) => r.receivedMs > resumedAt), 15_000, 'values after the server thawed');
    expect(rec.lastAvailability()).toMatchObject({ state: 'online' });
    expect(src.stats().sessions_created).toBeGreaterThanOrEqual(2);
  });
});

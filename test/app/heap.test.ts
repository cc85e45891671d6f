import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectGarbageOnce, GATEWAY_NODE_OPTIONS, tuneHeapForGateway } from '../../src/app/heap.js';
import { ROOT } from '../support/cli.js';

/**
 * Peak V8 heap (MiB) of a child that keeps a steady live set and promotes objects that die
 * soon after — a gateway's pattern — with or without the gateway's heap tuning.
 */
function peakHeapMiB(tuned: boolean): number {
  const code = `
    ${tuned ? "const { tuneHeapForGateway } = await import('./src/app/heap.ts'); tuneHeapForGateway([]);" : ''}
    const live = []; for (let i = 0; i < 200000; i++) live.push({ a: i, b: 'x' + i });
    const medium = []; let peak = 0; const t0 = Date.now();
    while (Date.now() - t0 < 2500) {
      for (let i = 0; i < 2000; i++) medium.push({ x: i, s: 'y'.repeat(50) + i });
      if (medium.length > 150000) medium.splice(0, 75000);
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    console.log(JSON.stringify({ peak: peak / 1048576, live: live.length }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { peak: number }).peak;
}

describe('tuneHeapForGateway', () => {
  it('leaves a growing factor the operator chose alone', () => {
    expect(tuneHeapForGateway(['--heap-growing-percent=50'])).toBe(false);
  });

  it('keeps medium-lived garbage from piling up in the old generation', () => {
    const plain = peakHeapMiB(false);
    const tuned = peakHeapMiB(true);
    expect(tuned).toBeLessThan(plain * 0.8);
  }, 30_000);
});

describe('GATEWAY_NODE_OPTIONS', () => {
  it('are the options the binary starts with (its shebang)', () => {
    const shebang = readFileSync(join(ROOT, 'src/main.ts'), 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${GATEWAY_NODE_OPTIONS.join(' ')}`);
  });

  it('are options this node accepts', () => {
    const r = spawnSync(process.execPath, [...GATEWAY_NODE_OPTIONS, '-e', 'process.exit(0)'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('collectGarbageOnce', () => {
  it('runs a full collection without node being started with --expose-gc, and leaves gc unexposed', async () => {
    const hadGc = typeof (globalThis as { gc?: unknown }).gc === 'function';
    let ref: WeakRef<object> | undefined;
    (() => { ref = new WeakRef({ garbage: new Array(10_000).fill('x') }); })();
    // A WeakRef's target lives at least until the job that made it is over.
    await new Promise((r) => setTimeout(r, 0));
    expect(collectGarbageOnce()).toBe(true);
    expect(ref!.deref()).toBeUndefined();
    expect(typeof (globalThis as { gc?: unknown }).gc === 'function').toBe(hadGc);
  });
});

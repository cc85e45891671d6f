import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { Outbox, type QueuedRecord } from '../../src/outbox/outbox.js';
import { SinkError } from '../../src/sinks/errors.js';
import { SinkRunner, type DeliveryContext, type Sink, type SinkRunnerOptions } from '../../src/sinks/runner.js';

/** A receiver we control: up or down, accepting or refusing, recording what arrived. */
class FakeSink implements Sink {
  readonly name = 'fake';
  up = true;
  refuse = false;
  hold: Promise<void> | null = null;
  readonly deliveries: Array<{ seqs: number[]; replayed: boolean }> = [];

  ready(): boolean {
    return true;
  }

  async deliver(batch: QueuedRecord[], ctx: DeliveryContext): Promise<void> {
    if (this.hold) await this.hold;
    if (!this.up) throw new SinkError('receiver away', true);
    if (this.refuse) throw new SinkError('receiver refuses this batch', false);
    this.deliveries.push({ seqs: batch.map((r) => r.seq), replayed: ctx.replayed });
  }

  seqs(replayed?: boolean): number[] {
    return this.deliveries.filter((d) => replayed === undefined || d.replayed === replayed).flatMap((d) => d.seqs);
  }
}

let dir: string;
let outbox: Outbox;
let runner: SinkRunner | null = null;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'eg-runner-'));
  outbox = new Outbox(join(dir, 'o.sqlite'), ['fake']);
});
afterEach(async () => {
  await runner?.stop();
  runner = null;
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(sink: FakeSink, options: SinkRunnerOptions = {}): SinkRunner {
  runner = new SinkRunner(outbox, sink, silentLogger(), { minBackoffMs: 20, maxBackoffMs: 50, ...options });
  runner.start();
  return runner;
}

function store(n: number, from = 0): void {
  outbox.commit(Array.from({ length: n }, (_, i) => ({ kind: 'telemetry', record: { kind: 'telemetry', n: from + i } })), {}, Date.now());
  runner?.notify();
}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('sink runner', () => {
  it('delivers live records in order and removes them only once the sink confirmed', async () => {
    const sink = new FakeSink();
    let release!: () => void;
    sink.hold = new Promise((r) => { release = r; });
    start(sink);
    store(3);
    await new Promise((r) => setTimeout(r, 100));
    expect(outbox.stats().depth).toBe(3); // in flight, not yet confirmed
    release();
    await until(() => outbox.stats().depth === 0);
    expect(sink.seqs()).toEqual([1, 2, 3]);
    expect(sink.deliveries.every((d) => !d.replayed)).toBe(true);
  });

  it('keeps records through an outage and replays them, marked, once the sink is back', async () => {
    const sink = new FakeSink();
    start(sink);
    store(2);
    await until(() => sink.seqs().length === 2);
    sink.up = false;
    store(5, 2);
    await until(() => runner!.stats.state === 'down');
    expect(outbox.stats().depth).toBe(5);
    sink.up = true;
    await until(() => outbox.stats().depth === 0);
    expect([...sink.seqs()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(sink.seqs(true)).toEqual([3, 4, 5, 6, 7]);
    expect(runner!.stats.replayed).toBe(5);
  });

  it('sends live records ahead of a backlog that is replayed at a limited rate', async () => {
    store(60); // queued before the sink runner started: the backlog
    const sink = new FakeSink();
    start(sink, { batchSize: 10, replayRatePerS: 40 });
    await until(() => sink.seqs(true).length >= 10);
    store(1, 1000); // live while the backlog is still being replayed
    const liveSeq = outbox.maxSeq();
    await until(() => sink.seqs(false).includes(liveSeq));
    expect(sink.seqs(true).length).toBeLessThan(60);
    await until(() => outbox.stats().depth === 0);
    // The backlog went out oldest first, none twice.
    expect(sink.seqs(true)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(sink.seqs(false)).toEqual([liveSeq]);
  });

  it('replays with two batches in flight: every record once, oldest first per batch', async () => {
    store(95);
    const sink = new FakeSink();
    start(sink, { batchSize: 10, replayConcurrency: 2 });
    await until(() => outbox.stats().depth === 0);
    expect([...sink.seqs(true)].sort((a, b) => a - b)).toEqual(Array.from({ length: 95 }, (_, i) => i + 1));
    expect(sink.deliveries.every((d) => d.seqs.every((seq, i) => i === 0 || seq === d.seqs[i - 1]! + 1))).toBe(true);
  });

  it('acknowledges a batch the receiver refuses as a whole and carries on', async () => {
    const sink = new FakeSink();
    sink.refuse = true;
    start(sink);
    store(3);
    await until(() => outbox.stats().depth === 0);
    expect(runner!.stats.refused).toBe(3);
    sink.refuse = false;
    store(1);
    await until(() => sink.seqs().length === 1);
    expect(sink.seqs()).toEqual([4]);
  });

  it('fills a live batch for up to its delay before sending', async () => {
    const sink = new FakeSink();
    start(sink, { maxBatchDelayMs: 1500, batchSize: 100 });
    for (let i = 0; i < 4; i++) {
      store(2, i * 2);
      await new Promise((r) => setTimeout(r, 30));
    }
    await until(() => outbox.stats().depth === 0);
    expect(sink.deliveries).toHaveLength(1);
    expect(sink.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('sends a full batch without waiting for the delay', async () => {
    const sink = new FakeSink();
    start(sink, { maxBatchDelayMs: 60_000, batchSize: 5 });
    store(12);
    await until(() => sink.seqs().length === 10);
    expect(sink.deliveries.map((d) => d.seqs.length)).toEqual([5, 5]);
    expect(await runner!.drain(Date.now() + 5000)).toBe(true);
    expect(sink.seqs()).toHaveLength(12);
  });
});

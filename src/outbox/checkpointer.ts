import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

export interface Checkpointer {
  stop(): void;
  stats(): CheckpointerStats;
}

export interface CheckpointerStats {
  /** Checkpoints run on the caller's thread (small ones). */
  inline: number;
  /** Checkpoints handed to the worker thread (large ones, and all while it runs). */
  delegated: number;
  /** Times the worker thread was started. */
  workerStarts: number;
  workerRunning: boolean;
}

export interface CheckpointerOptions {
  /** The outbox's own connection, for small checkpoints. */
  db: Database.Database;
  file: string;
  /** Bytes written to the database since the last call (an estimate of the WAL's growth). */
  takeWritten: () => number;
  everyMs?: number;
  /** A checkpoint with more than this written since the last one goes to the worker. */
  inlineMaxBytes?: number;
  /** The worker stops after this long without a large checkpoint. */
  workerIdleMs?: number;
  /** Less than this written waits for the next round, up to maxWaitMs. */
  minBytes?: number;
  maxWaitMs?: number;
}

const EVERY_MS = 250;
/**
 * About 4 ms of copying and an fsync here for 1 MB; a thousand meters polled every second
 * write about 0.9 MB in 250 ms (telemetry in, acknowledged rows out, the core's state).
 */
const INLINE_MAX_BYTES = 2 * 1024 * 1024;
const WORKER_IDLE_MS = 60_000;
/**
 * Each checkpoint costs two fsyncs, and the pages a commit touches (the table's last leaf,
 * the acknowledgement rows) are rewritten by every commit: one checkpoint a second copies
 * them once instead of four times. A light gateway (200 meters write about 50 kB in a
 * quarter second) checkpoints once a second; a busy one every round.
 */
const MIN_BYTES = 256 * 1024;
const MAX_WAIT_MS = 1000;
/** How long stop() waits for the worker to let go of the database. */
const STOP_WAIT_MS = 5000;

// Plain CommonJS so that it runs the same from src/ (tsx) and dist/.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
parentPort.on('message', (m) => {
  if (m === 'checkpoint') {
    try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or closing: next round */ }
    return;
  }
  try { db.close(); } catch { /* already gone */ }
  Atomics.store(workerData.closed, 0, 1);
  Atomics.notify(workerData.closed, 0);
  process.exit(0);
});
`;

interface RunningWorker {
  worker: Worker;
  closed: Int32Array;
  gone: boolean;
}

/**
 * Copies the outbox's WAL into the database file up to four times a second, once a second
 * when little was written (PASSIVE: never blocks the writer). Small checkpoints — steady
 * polling — run right here on the event loop: a few milliseconds, and no second thread,
 * which would cost about 16 MB of memory for a V8 isolate and its own SQLite connection. When much was written (a backlog
 * replayed and deleted, a burst of records after an outage) the copy and its fsync would
 * stall commits and deliveries for tens to hundreds of milliseconds, so checkpoints go to
 * a worker thread, started then and stopped once writes have been small for a while.
 */
export function startCheckpointer(opts: CheckpointerOptions): Checkpointer {
  const everyMs = opts.everyMs ?? EVERY_MS;
  const inlineMaxBytes = opts.inlineMaxBytes ?? INLINE_MAX_BYTES;
  const workerIdleMs = opts.workerIdleMs ?? WORKER_IDLE_MS;
  const minBytes = opts.minBytes ?? MIN_BYTES;
  const maxWaitMs = opts.maxWaitMs ?? MAX_WAIT_MS;
  const counts = { inline: 0, delegated: 0, workerStarts: 0 };
  let running: RunningWorker | null = null;
  let lastLargeMs = 0;
  let lastCheckpointMs = Date.now();
  let pending = 0;

  const startWorker = (): RunningWorker => {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    const closed = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(WORKER, { eval: true, workerData: { file: opts.file, module, closed } });
    const w: RunningWorker = { worker, closed, gone: false };
    worker.unref();
    worker.on('error', () => { w.gone = true; });
    worker.on('exit', () => { w.gone = true; });
    counts.workerStarts += 1;
    return w;
  };

  const stopWorker = (wait: boolean): void => {
    const w = running;
    running = null;
    if (!w || w.gone) return;
    w.worker.postMessage('stop');
    // At close, wait (briefly) until the worker has closed its connection: otherwise it
    // may still be opening or checkpointing the files while the owner closes, moves or
    // deletes them.
    if (wait) Atomics.wait(w.closed, 0, 0, STOP_WAIT_MS);
  };

  const round = (): void => {
    pending += opts.takeWritten();
    if (pending === 0) return;
    const now = Date.now();
    if (pending < minBytes && now - lastCheckpointMs < maxWaitMs) return;
    const large = pending > inlineMaxBytes;
    pending = 0;
    lastCheckpointMs = now;
    if (large) lastLargeMs = now;
    if (running?.gone) stopWorker(false);
    if (!running && large) running = startWorker();
    if (running) {
      running.worker.postMessage('checkpoint');
      counts.delegated += 1;
      if (!large && now - lastLargeMs > workerIdleMs) stopWorker(false);
      return;
    }
    try {
      opts.db.pragma('wal_checkpoint(PASSIVE)');
      counts.inline += 1;
    } catch { /* busy or closing: next round */ }
  };

  const timer = setInterval(round, everyMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      stopWorker(true);
    },
    stats: () => ({ ...counts, workerRunning: running !== null }),
  };
}

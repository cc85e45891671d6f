import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface Checkpointer {
  stop(): void;
}

const EVERY_MS = 250;
/** How long stop() waits for the worker to let go of the database. */
const STOP_WAIT_MS = 5000;

// Plain CommonJS so that it runs the same from src/ (tsx) and dist/.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
const checkpoint = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or closing: next round */ }
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  try { db.close(); } catch { /* already gone */ }
  Atomics.store(workerData.closed, 0, 1);
  Atomics.notify(workerData.closed, 0);
  process.exit(0);
});
`;

/**
 * Copies the outbox's WAL into the database file from a worker thread (its own SQLite
 * connection), several times a second. A PASSIVE checkpoint never blocks the writer;
 * done on the event loop it would stall commits and deliveries for the length of a
 * large copy and its fsync.
 */
export function startCheckpointer(file: string): Checkpointer {
  const module = createRequire(import.meta.url).resolve('better-sqlite3');
  const closed = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(WORKER, { eval: true, workerData: { file, module, everyMs: EVERY_MS, closed } });
  let gone = false;
  worker.unref();
  worker.on('error', () => { gone = true; });
  worker.on('exit', () => { gone = true; });
  return {
    stop: () => {
      if (gone) return;
      worker.postMessage('stop');
      // Wait (briefly) until the worker has closed its connection: otherwise it may
      // still be opening or checkpointing the files while the owner closes, moves or
      // deletes them.
      Atomics.wait(closed, 0, 0, STOP_WAIT_MS);
    },
  };
}

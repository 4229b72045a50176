import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The worker's code, as a string: a file next to this one would need a loader under tsx and vitest,
 * and it is short. It opens its own connection and runs a PASSIVE checkpoint (copy what the log
 * holds into the database file, then fsync it) every `intervalMs`, never waiting for the writer.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    const message = String((error && error.message) || error);
    if (!/busy|locked/i.test(message)) parentPort.postMessage(message);
  }
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/** A running checkpointer. */
export interface Checkpointer {
  stop(): void;
}

/**
 * Runs SQLite's checkpoints in a worker thread, so that copying the log into the database file
 * (and its fsyncs) never blocks the event loop that answers requests; done by the writer itself
 * (SQLite's default), it took about a fifth of a commit's time. `onFailure` is called if the
 * worker cannot run: the caller then lets the writer checkpoint again.
 */
export function startCheckpointer(path: string, intervalMs: number, onFailure: (error: Error) => void): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { driver, path, intervalMs } });
  worker.unref();
  let stopped = false;
  worker.on('message', (message: string) => onFailure(new Error(`checkpoint failed: ${message}`)));
  worker.on('error', (error) => {
    if (!stopped) onFailure(error);
  });
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      worker.postMessage('stop');
    },
  };
}

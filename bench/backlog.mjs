// Memory per waiting delivery, and GC time per request as the backlog grows.
//
//   node --expose-gc bench/backlog.mjs [--levels 10000,50000,100000] [--payload 2kb] [--no-dedupe] [--store memory|sqlite]
//
// A receiver (the bench's Firecrawl provider, `nodeHandler()` on loopback, concurrency 1) whose
// one handler blocks until the end: every delivery accepted after the first waits in the queue.
// A worker thread (its own heap, not counted) sends distinct signed bodies over 32 keep-alive
// connections until each backlog level is reached, then the script forces a full GC and reports:
//   - heap per waiting delivery: (heapUsed - heapUsed before the first request) / waiting, after a
//     full GC, so only what the receiver keeps for them (the delivery, its payload, its queue entry,
//     the memory store's record and dedupe id);
//   - GC time per request over the last 5000 requests before each level (PerformanceObserver 'gc'
//     entries, main thread): whether collecting gets dearer as the backlog grows.
// Needs the library built (npx tsc -p tsconfig.build.json, as the other bench scripts).

import http from 'node:http';
import { PerformanceObserver } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const levels = opt('--levels', '10000,50000,100000').split(',').map(Number);
const payload = opt('--payload', '2kb');
const dedupe = !args.includes('--no-dedupe');
const storeKind = opt('--store', 'memory');
const WINDOW = 5000;

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc bench/backlog.mjs');
  process.exit(2);
}

const { createBenchReceiver } = await import('./provider.mjs');
let dir;
let store;
if (storeKind === 'sqlite') {
  const { sqliteStore } = await import('../dist/index.js');
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-backlog-'));
  store = sqliteStore({ path: join(dir, 'hooks.db'), synchronous: 'normal' });
}
const max = Math.max(...levels);
const { hooks } = createBenchReceiver({
  concurrency: 1,
  maxQueued: max + 10,
  ...(dedupe ? {} : { dedupe: false }),
  ...(store && { store }),
});
// The bench receiver's handler counts; this one holds the only slot until released.
let release;
const gate = new Promise((resolve) => (release = resolve));
hooks.on('crawl.page', () => gate);

const server = http.createServer(hooks.nodeHandler());
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();

let gcMs = 0;
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
});
observer.observe({ entryTypes: ['gc'] });

const worker = new Worker(new URL('./backlog-client.mjs', import.meta.url), { workerData: { port, payload } });
let sent = 0;
/** Sends requests `sent` to `to - 1`; every answer must be 202. */
const sendUpTo = (to) =>
  new Promise((resolve, reject) => {
    worker.once('message', (msg) => (msg.error ? reject(new Error(msg.error)) : resolve(msg)));
    worker.postMessage({ from: sent, to });
    sent = to;
  });
const settle = () => new Promise((resolve) => setImmediate(resolve));

gc();
await settle();
gc();
const base = process.memoryUsage().heapUsed;
console.log(`${payload} bodies, store ${storeKind}, dedupe ${dedupe ? 'on' : 'off'}, node ${process.version}`);
console.log('waiting   heap/waiting   GC per request (last 5000 before the level)');
for (const level of levels) {
  // The first delivery runs (and blocks): `level + 1` accepted leaves `level` waiting.
  const target = level + 1;
  if (target - WINDOW > sent) await sendUpTo(target - WINDOW);
  await settle(); // deliver GC entries observed so far
  const gcBefore = gcMs;
  const from = sent;
  await sendUpTo(target);
  await settle();
  const perRequestUs = ((gcMs - gcBefore) * 1000) / (target - from);
  gc();
  await settle();
  gc();
  const { queued } = hooks.stats();
  const perWaiting = (process.memoryUsage().heapUsed - base) / queued;
  console.log(`${String(queued).padStart(7)}   ${(perWaiting / 1024).toFixed(2).padStart(9)} KB   ${perRequestUs.toFixed(1).padStart(8)} µs`);
}

await worker.terminate();
release();
server.close();
await hooks.close();
if (dir) rmSync(dir, { recursive: true, force: true });
observer.disconnect();

// One benchmark server process: `node bench/server.mjs <variant> <payload>`.
//
// Listens on 127.0.0.1, port 0, and talks to its parent over IPC:
//   -> {type:'ready', port, pid}
//   <- {type:'mark-start'}   -> {type:'marked'}
//   <- {type:'mark-stop'}    -> {type:'window', cpuUs, userUs, systemUs, requests, wallMs, gc, stats}
//      gc: the window's garbage collections, { major, minor, ms } (ms: their summed pause time);
//      at 256 KB a run with many mark-compacts reads slower for that reason alone, so it is shown
//   <- {type:'exit'}         -> {type:'final', maxRSSKb, requests, stats} then exits
// Exits at once if the parent goes away (IPC disconnect), and after a hard
// lifetime limit (BENCH_SERVER_MAX_SECONDS, default 900 s) whatever happens.
//
// Without IPC (run by hand) it prints the port and serves until Ctrl-C.

import http from 'node:http';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { variants } from './variants.mjs';

const [variantName, payloadName = ''] = process.argv.slice(2);
const factory = variants[variantName];
if (!factory) {
  console.error(`unknown variant "${variantName}"; known: ${Object.keys(variants).join(', ')}`);
  process.exit(2);
}

const maxSeconds = Number(process.env.BENCH_SERVER_MAX_SECONDS || 900);
setTimeout(() => {
  console.error(`server ${variantName}: lifetime limit of ${maxSeconds}s reached, exiting`);
  process.exit(3);
}, maxSeconds * 1000).unref();

const send = (msg) =>
  new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(msg, () => resolve());
  });

process.on('uncaughtException', async (err) => {
  console.error(`server ${variantName}: uncaught exception:`, err);
  await send({ type: 'error', message: String(err?.stack || err) });
  process.exit(1);
});
process.on('unhandledRejection', async (err) => {
  console.error(`server ${variantName}: unhandled rejection:`, err);
  await send({ type: 'error', message: String(err?.stack || err) });
  process.exit(1);
});

let built;
try {
  built = await factory({ payload: payloadName });
} catch (err) {
  console.error(`server ${variantName}: factory failed:`, err);
  await send({ type: 'error', message: `factory failed: ${err?.stack || err}` });
  process.exit(1);
}
const variant = typeof built === 'function' ? { listener: built } : built;
if (typeof variant?.listener !== 'function') {
  await send({ type: 'error', message: `variant ${variantName} returned no request listener` });
  process.exit(1);
}

// BENCH_HEAP_PROFILE=<file>: every allocation of the timed window, sampled every 512 bytes,
// including objects the GC has collected since (which --heap-prof leaves out): what churns.
// BENCH_HEAP_SURVIVORS=1: only what outlived a minor GC (copied by the scavenger, often promoted).
const heapFile = process.env.BENCH_HEAP_PROFILE;
const heapSampling = heapFile ? await heapSampler() : undefined;

async function heapSampler() {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  return {
    start: () =>
      session.post('HeapProfiler.startSampling', {
        samplingInterval: 512,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: !process.env.BENCH_HEAP_SURVIVORS,
      }),
    async stop(file) {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      writeFileSync(file, JSON.stringify(profile));
    },
  };
}

// Garbage collections, counted from process start; a window reports the difference.
const gc = { major: 0, minor: 0, ms: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gc.major++;
    else gc.minor++;
    gc.ms += entry.duration;
  }
}).observe({ entryTypes: ['gc'] });

let requests = 0;
const listener = variant.listener;
const server = http.createServer((req, res) => {
  requests++;
  listener(req, res);
});
const stats = () => (typeof variant.stats === 'function' ? variant.stats() : undefined);

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();

if (!process.send) {
  console.log(`${variantName} listening on http://127.0.0.1:${port}/hook`);
} else {
  let mark = null;
  process.on('disconnect', () => process.exit(1)); // parent died: never linger
  process.on('message', async (msg) => {
    switch (msg?.type) {
      case 'mark-start':
        if (heapFile) await heapSampling.start();
        mark = { cpu: process.cpuUsage(), requests, t: performance.now(), gc: { ...gc } };
        await send({ type: 'marked' });
        break;
      case 'mark-stop': {
        const cpu = process.cpuUsage(mark?.cpu);
        if (heapFile) await heapSampling.stop(heapFile);
        await send({
          type: 'window',
          userUs: cpu.user,
          systemUs: cpu.system,
          cpuUs: cpu.user + cpu.system,
          requests: requests - (mark?.requests ?? 0),
          wallMs: performance.now() - (mark?.t ?? 0),
          gc: { major: gc.major - (mark?.gc.major ?? 0), minor: gc.minor - (mark?.gc.minor ?? 0), ms: gc.ms - (mark?.gc.ms ?? 0) },
          stats: stats(),
        });
        break;
      }
      case 'exit': {
        server.closeAllConnections?.();
        server.close();
        let closeError;
        try {
          await variant.close?.();
        } catch (err) {
          closeError = String(err?.stack || err);
        }
        await send({
          type: 'final',
          maxRSSKb: process.resourceUsage().maxRSS,
          requests,
          stats: stats(),
          closeError,
        });
        process.exit(0);
      }
    }
  });
  await send({ type: 'ready', port, pid: process.pid });
}

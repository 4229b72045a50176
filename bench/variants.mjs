// Benchmark variants: name -> async factory.
//
// A factory returns either a request listener `(req, res) => void` (an Express
// app is one), or an object { listener, stats?, close?, dedupes? }:
//   listener  the request listener given to http.createServer
//   stats()   extra counters reported by the server at the end (e.g. events handled)
//   close()   async cleanup before the server process exits (stores, queues)
// Mark variants that deduplicate by webhookId with `dedupes: true` in `meta` so the
// harness can flag runs in which the load generator had to repeat bodies.
//
// Libraries are imported lazily inside the factories, so the orchestrator can list
// variants without loading Express or the built library.
//
// To add a variant: add an entry to `variants` (and, if it needs the built library,
// set `needsBuild: true` in `meta`).

export const variants = {
  'node-bare': async () => (req, res) => {
    // Read the body without keeping it.
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  },

  'express-drain': async () => {
    const { default: express } = await import('express');
    const app = express();
    app.post('/hook', (req, res) => {
      req.on('data', () => {});
      req.on('end', () => res.status(200).send('ok'));
    });
    return app;
  },

  'express-json': async () => {
    const { default: express } = await import('express');
    const app = express();
    app.post('/hook', express.json({ limit: '10mb' }), (req, res) => res.status(200).send('ok'));
    return app;
  },

  'scrapehook-node': async () => {
    const { createBenchReceiver } = await import('./provider.mjs');
    const { hooks, stats } = createBenchReceiver();
    return { listener: hooks.nodeHandler(), stats, close: () => closeReceiver(hooks) };
  },

  'scrapehook-express': async () => {
    const { default: express } = await import('express');
    const { createBenchReceiver } = await import('./provider.mjs');
    const { hooks, stats } = createBenchReceiver();
    const app = express();
    app.post('/hook', hooks.middleware());
    return { listener: app, stats, close: () => closeReceiver(hooks) };
  },

  // The durable embedded store: every 202 waits for a group commit (WAL, synchronous=full).
  'scrapehook-sqlite': async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { sqliteStore } = await import('../dist/index.js');
    const { createBenchReceiver } = await import('./provider.mjs');
    const dir = mkdtempSync(join(tmpdir(), 'scrapehook-bench-sqlite-'));
    // BENCH_SQLITE_SYNCHRONOUS=normal measures the commit without the fsync of the log.
    const store = sqliteStore({ path: join(dir, 'hooks.db'), synchronous: process.env.BENCH_SQLITE_SYNCHRONOUS || 'full' });
    const { hooks, stats } = createBenchReceiver({ store });
    return {
      listener: hooks.nodeHandler(),
      stats,
      close: async () => {
        await closeReceiver(hooks);
        store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },

  // BullMQ on a redis-server of its own (bench/redis.mjs: a free port, pinned to the load
  // generator's core by default, BENCH_REDIS_CORE): every 202 waits for the job to be in Redis;
  // the same process runs the workers, as a single instance would. BENCH_BULLMQ_CONCURRENCY
  // raises the workers' concurrency (4 like the other variants by default): a worker does one
  // Redis round trip per job, so at 4 it handles fewer events per second than it accepts.
  'scrapehook-bullmq': async () => {
    const { bullmqQueue } = await import('../dist/index.js');
    const { createBenchReceiver } = await import('./provider.mjs');
    const { startRedis } = await import('./redis.mjs');
    const redis = await startRedis();
    const concurrency = Number(process.env.BENCH_BULLMQ_CONCURRENCY) || undefined;
    // The workers (4 per process, one Redis round trip per job) fall behind the ack path here, and
    // at 2 KB the backlog would reach the default 100k bound within a run and answer 503s: this
    // measures the ack path, so the bound is out of the way; the table flags the backlog.
    const { hooks, stats } = createBenchReceiver({
      queue: bullmqQueue({ connection: redis.url }),
      maxQueued: 1_000_000,
      ...(concurrency && { concurrency }),
    });
    const cpuAtStart = redis.cpuMs();
    return {
      listener: hooks.nodeHandler(),
      stats: () => ({ ...stats(), redisCpuMs: redis.cpuMs() - cpuAtStart }),
      close: async () => {
        try {
          await closeReceiver(hooks);
        } finally {
          await redis.stop();
        }
      },
    };
  },
};

/** Per-variant facts for the orchestrator. */
export const meta = {
  'node-bare': { baseline: true },
  'express-drain': { baseline: true },
  'express-json': { baseline: true },
  'scrapehook-node': { needsBuild: true, dedupes: true },
  'scrapehook-express': { needsBuild: true, dedupes: true },
  'scrapehook-sqlite': { needsBuild: true, dedupes: true },
  'scrapehook-bullmq': { needsBuild: true, dedupes: true },
};

async function closeReceiver(hooks) {
  // The receiver API may offer close() (drain the queue); tolerate its absence.
  if (typeof hooks.close === 'function') await hooks.close();
}

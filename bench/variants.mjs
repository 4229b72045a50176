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

  // ---- The floors: the work any receiver of a signed 2 KB event must do, written by hand ----
  // FLOOR A: read the body, check its HMAC in constant time, decode it as UTF-8, JSON.parse, 202.
  'floor-a': async () => {
    const verify = await handVerifier();
    return (req, res) => readAll(req, (raw) => {
      const body = floorA(verify, raw, req, res);
      if (body === undefined) return;
      res.writeHead(202, JSON_HEADERS).end(`{"id":${JSON.stringify(body.webhookId)}}`);
    });
  },

  // FLOOR C: FLOOR A + the provider's zod schema + a bounded dedupe (a Map capped like the memory
  // store's) + a p-queue task calling one no-op handler after the answer, as the receiver does.
  'floor-c': async () => floorC(),

  // FLOOR C's listener mounted on an Express route, as scrapehook-express mounts the middleware:
  // what the same hand-written work costs under Express (compare with scrapehook-express).
  'express-floor-c': async () => {
    const { default: express } = await import('express');
    const { listener, stats } = await floorC();
    const app = express();
    app.post('/hook', listener);
    return { listener: app, stats };
  },

  'scrapehook-node': async () => {
    const { createBenchReceiver } = await import('./provider.mjs');
    const { hooks, stats } = createBenchReceiver();
    return { listener: hooks.nodeHandler(), stats, close: () => closeReceiver(hooks) };
  },

  // ---- Telemetry (issue 13): the same receiver as scrapehook-node, with metrics or tracing on ----
  // prometheusMetrics() on a registry of its own, scraped every second as a Prometheus would
  // (every 15 s, usually): the ack histogram is observed per request, counters read at the scrape.
  'scrapehook-node-metrics': async () => {
    const { Registry } = await import('prom-client');
    const { prometheusMetrics } = await import('../dist/telemetry/prometheus.js');
    const { createBenchReceiver } = await import('./provider.mjs');
    const { hooks, stats } = createBenchReceiver();
    const registry = prometheusMetrics(hooks, { registry: new Registry() });
    let scrapes = 0;
    const timer = setInterval(() => void registry.metrics().then(() => scrapes++), 1000).unref();
    return {
      listener: hooks.nodeHandler(),
      stats: () => ({ ...stats(), scrapes }),
      close: () => {
        clearInterval(timer);
        return closeReceiver(hooks);
      },
    };
  },

  // openTelemetryTracing() with no SDK installed: the API's no-op tracer (what a library user gets
  // until they start an SDK).
  'scrapehook-node-otel': async () => {
    const { openTelemetryTracing } = await import('../dist/telemetry/opentelemetry.js');
    const { createBenchReceiver } = await import('./provider.mjs');
    const { hooks, stats } = createBenchReceiver();
    openTelemetryTracing(hooks);
    return { listener: hooks.nodeHandler(), stats, close: () => closeReceiver(hooks) };
  },

  // openTelemetryTracing() with the SDK recording every span (AlwaysOn), AsyncLocalStorage context
  // as NodeSDK sets up, and a batch processor whose exporter only counts: the SDK's own cost
  // without a collector's network.
  'scrapehook-node-otel-sdk': async () => {
    const { context } = await import('@opentelemetry/api');
    const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
    const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
    const { openTelemetryTracing } = await import('../dist/telemetry/opentelemetry.js');
    const { createBenchReceiver } = await import('./provider.mjs');
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    let exported = 0;
    const exporter = {
      export(spans, done) {
        exported += spans.length;
        done({ code: 0 });
      },
      shutdown: async () => {},
    };
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
    const { hooks, stats } = createBenchReceiver();
    openTelemetryTracing(hooks, { tracerProvider });
    return {
      listener: hooks.nodeHandler(),
      stats: () => ({ ...stats(), spansExported: exported }),
      close: async () => {
        await closeReceiver(hooks);
        await tracerProvider.shutdown();
      },
    };
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
  'scrapehook-bullmq': () =>
    serverQueueVariant({
      server: async () => (await import('./redis.mjs')).startRedis(),
      queue: async (url) => (await import('../dist/index.js')).bullmqQueue({ connection: url }),
      concurrency: process.env.BENCH_BULLMQ_CONCURRENCY,
      cpuStat: 'redisCpuMs',
    }),

  // PostgreSQL (pg-boss) on a server of its own (bench/postgres.mjs, BENCH_PG_CORE): every 202
  // waits for the COMMIT of its batch (dedupe id, body, job). BENCH_POSTGRES_CONCURRENCY as above.
  'scrapehook-postgres': () =>
    serverQueueVariant({
      server: async () => (await import('./postgres.mjs')).startPostgres(),
      queue: async (url) => (await import('../dist/index.js')).postgresQueue({ connection: url }),
      concurrency: process.env.BENCH_POSTGRES_CONCURRENCY,
      cpuStat: 'postgresCpuMs',
    }),

  // ---- Hono on @hono/node-server: fetchHandler() against a route doing the same work by hand ----
  'hono-by-hand': () => honoByHand(false),

  // The same route plus what the receiver does after validating that the twin skips: FLOOR C's
  // bounded dedupe (a Map) and a p-queue task calling one no-op handler. Against it, what is left
  // of scrapehook-hono's extra cost is the adapter's and the receiver's own, not the feature's.
  'hono-by-hand-queue': () => honoByHand(true),

  'scrapehook-hono': async () => {
    const { Hono } = await import('hono');
    const { getRequestListener } = await import('@hono/node-server');
    const { createBenchReceiver } = await import('./provider.mjs');
    const { hooks, stats } = createBenchReceiver();
    const receive = hooks.fetchHandler();
    const app = new Hono();
    app.all('/hook', (c) => receive(c.req.raw));
    return { listener: getRequestListener(app.fetch), stats, close: () => closeReceiver(hooks) };
  },

  // ---- Fastify 5: the plugin against a route doing the same work by hand ----
  'fastify-by-hand': () => fastifyByHand(false),

  // As hono-by-hand-queue: the twin plus FLOOR C's dedupe and p-queue task.
  'fastify-by-hand-queue': () => fastifyByHand(true),

  'scrapehook-fastify': async () => {
    const { scrapehookFastify } = await import('../dist/fastify.js');
    const { createBenchReceiver } = await import('./provider.mjs');
    const { hooks, stats } = createBenchReceiver();
    const listener = await fastifyListener((app) => app.register(scrapehookFastify, { receiver: hooks, path: '/hook' }));
    return { listener, stats, close: () => closeReceiver(hooks) };
  },
};

// The hand-written twins do what the receiver does for a valid delivery: the size limit, HMAC
// over the raw bytes in constant time, JSON.parse and the same zod schema, then a 202 with the id
// and the handler after the answer (no queue, no dedupe: the receiver's extra work counts against it).
/**
 * A variant whose receiver queues in a server of its own, started for the run and stopped at its
 * close: `server()` resolves { url, cpuMs(), stop() }; the server's CPU time is reported as
 * `cpuStat`. The same process runs the workers, as a single instance would. The workers (one round
 * trip per job) may fall behind the ack path, and at 2 KB the backlog would reach the default 100k
 * bound within a run and answer 503s: this measures the ack path, so the bound is out of the way;
 * the table flags the backlog.
 */
async function serverQueueVariant({ server, queue, concurrency, cpuStat }) {
  const { createBenchReceiver } = await import('./provider.mjs');
  const running = await server();
  const workers = Number(concurrency) || undefined;
  const { hooks, stats } = createBenchReceiver({
    queue: await queue(running.url),
    maxQueued: 1_000_000,
    ...(workers && { concurrency: workers }),
  });
  const cpuAtStart = running.cpuMs();
  return {
    listener: hooks.nodeHandler(),
    // After close, the server's statements when it was asked for them (BENCH_PG_STATEMENTS).
    stats: () => ({ ...stats(), [cpuStat]: running.cpuMs() - cpuAtStart, ...(running.statements && { pgStatements: running.statements }) }),
    close: async () => {
      try {
        await closeReceiver(hooks);
      } finally {
        await running.stop();
      }
    },
  };
}

const LIMIT = 10 * 1024 * 1024;
const SIGNATURE_HEADER_NAME = 'x-firecrawl-signature';

async function handVerifier() {
  const { createHmac, timingSafeEqual } = await import('node:crypto');
  const { SECRET } = await import('./payloads.mjs');
  return (raw, header) => {
    if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
    const given = Buffer.from(header.slice(7), 'hex');
    const expected = createHmac('sha256', SECRET).update(raw).digest();
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}

/** FLOOR C's request listener and its counter (see the floor-c variant). */
async function floorC() {
  const verify = await handVerifier();
  const { crawlPageSchema } = await import('./provider.mjs');
  const { default: PQueue } = await import('p-queue');
  const queue = new PQueue({ concurrency: 4 });
  const seen = boundedIds();
  let events = 0;
  const handler = async () => {
    events++;
  };
  const listener = (req, res) => readAll(req, (raw) => {
    const body = floorA(verify, raw, req, res);
    if (body === undefined) return;
    const result = crawlPageSchema.safeParse(body);
    if (!result.success) return void res.writeHead(400, JSON_HEADERS).end('{"error":{"code":"payload.invalid"}}');
    const id = result.data.webhookId;
    if (!seen.claim(id)) return void res.writeHead(200, JSON_HEADERS).end(`{"id":${JSON.stringify(id)},"duplicate":true}`);
    void queue.add(() => handler(result.data));
    res.writeHead(202, JSON_HEADERS).end(`{"id":${JSON.stringify(id)}}`);
  });
  return { listener, stats: () => ({ events }) };
}

/**
 * The bounded dedupe a hand-written receiver would keep: the last `max` ids (as the memory store
 * caps them), each with its claim time, the oldest dropped first. Eviction reads a ring of ids,
 * not the Map's first key: a Map iterated from its start after many deletions from its front
 * skips every deleted slot until V8 rehashes it, which cost a twin 8 µs per request once full.
 */
function boundedIds(max = 100_000) {
  const claimed = new Map();
  const ring = new Array(max);
  let next = 0;
  return {
    claim(id) {
      if (claimed.has(id)) return false;
      const oldest = ring[next];
      if (oldest !== undefined) claimed.delete(oldest);
      ring[next] = id;
      next = (next + 1) % max;
      claimed.set(id, Date.now());
      return true;
    },
  };
}

let schema;
async function parseAndValidate(raw) {
  schema ??= (await import('./provider.mjs')).crawlPageSchema;
  let body;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return { success: false };
  }
  return schema.safeParse(body);
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

/**
 * FLOOR A's work on a body read whole: the HMAC in constant time, UTF-8 decoding and JSON.parse.
 * Answers the parsed body, or `undefined` once it has answered the refusal itself.
 */
function floorA(verify, raw, req, res) {
  if (!verify(raw, req.headers[SIGNATURE_HEADER_NAME])) return void res.writeHead(401, JSON_HEADERS).end('{"error":{"code":"unauthorized"}}');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return void res.writeHead(400, JSON_HEADERS).end('{"error":{"code":"entity.parse.failed"}}');
  }
}

/** Reads a request's body into one Buffer, then calls `done` with it. */
function readAll(req, done) {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    chunks.push(chunk);
    size += chunk.length;
  });
  req.on('end', () => done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
}

/**
 * The Hono twin: a route doing by hand what the receiver does for a valid delivery. With `queued`,
 * also FLOOR C's dedupe and p-queue task (see {@link afterValidation}).
 */
async function honoByHand(queued) {
  const { Hono } = await import('hono');
  const { getRequestListener } = await import('@hono/node-server');
  const verify = await handVerifier();
  const after = await afterValidation(queued);
  const app = new Hono();
  app.post('/hook', async (c) => {
    const raw = Buffer.from(await c.req.arrayBuffer());
    if (raw.length > LIMIT) return c.json({ error: { code: 'entity.too.large' } }, 413);
    if (!verify(raw, c.req.header(SIGNATURE_HEADER_NAME))) return c.json({ error: { code: 'unauthorized' } }, 401);
    const result = await parseAndValidate(raw);
    if (!result.success) return c.json({ error: { code: 'payload.invalid' } }, 400);
    const id = result.data.webhookId;
    if (!after.accept(result.data)) return c.json({ id, duplicate: true }, 200);
    return c.json({ id }, 202);
  });
  return { listener: getRequestListener(app.fetch), stats: after.stats };
}

/** The Fastify twin, as {@link honoByHand}. */
async function fastifyByHand(queued) {
  const verify = await handVerifier();
  const after = await afterValidation(queued);
  const listener = await fastifyListener(async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: LIMIT }, (_req, body, done) => done(null, body));
    app.post('/hook', async (request, reply) => {
      const raw = request.body;
      if (!verify(raw, request.headers[SIGNATURE_HEADER_NAME])) return reply.code(401).send({ error: { code: 'unauthorized' } });
      const result = await parseAndValidate(raw);
      if (!result.success) return reply.code(400).send({ error: { code: 'payload.invalid' } });
      const id = result.data.webhookId;
      if (!after.accept(result.data)) return reply.code(200).send({ id, duplicate: true });
      return reply.code(202).send({ id });
    });
  });
  return { listener, stats: after.stats };
}

/**
 * What a twin does with a valid payload. Without `queued`: the handler after the answer
 * (setImmediate), nothing else. With it: FLOOR C's bounded dedupe (a Map capped like the memory
 * store's) and a p-queue task (concurrency 4) calling one no-op handler. `accept(payload)` answers
 * false for a duplicate.
 */
async function afterValidation(queued) {
  let events = 0;
  const stats = () => ({ events });
  if (!queued) {
    return {
      accept: () => {
        setImmediate(() => events++);
        return true;
      },
      stats,
    };
  }
  const { default: PQueue } = await import('p-queue');
  const queue = new PQueue({ concurrency: 4 });
  const seen = boundedIds();
  const handler = async () => {
    events++;
  };
  return {
    accept: (payload) => {
      const id = payload.webhookId;
      if (!seen.claim(id)) return false;
      void queue.add(() => handler(payload));
      return true;
    },
    stats,
  };
}

/** A Fastify app's request listener (the harness makes its own server), after `setup`. */
async function fastifyListener(setup) {
  const { default: Fastify } = await import('fastify');
  const http = await import('node:http');
  let listener;
  const app = Fastify({
    serverFactory: (handler) => {
      listener = handler;
      return http.createServer(handler);
    },
  });
  await setup(app);
  await app.ready();
  return listener;
}

/** Per-variant facts for the orchestrator. */
export const meta = {
  'node-bare': { baseline: true },
  'floor-a': { baseline: true },
  'floor-c': { baseline: true, dedupes: true },
  'express-floor-c': { baseline: true, dedupes: true },
  'express-drain': { baseline: true },
  'express-json': { baseline: true },
  'scrapehook-node': { needsBuild: true, dedupes: true },
  'scrapehook-node-metrics': { needsBuild: true, dedupes: true },
  'scrapehook-node-otel': { needsBuild: true, dedupes: true },
  'scrapehook-node-otel-sdk': { needsBuild: true, dedupes: true },
  'scrapehook-express': { needsBuild: true, dedupes: true },
  'scrapehook-sqlite': { needsBuild: true, dedupes: true },
  'scrapehook-bullmq': { needsBuild: true, dedupes: true },
  'scrapehook-postgres': { needsBuild: true, dedupes: true },
  'hono-by-hand': { baseline: true },
  'hono-by-hand-queue': { baseline: true, dedupes: true },
  'scrapehook-hono': { needsBuild: true, dedupes: true },
  'fastify-by-hand': { baseline: true },
  'fastify-by-hand-queue': { baseline: true, dedupes: true },
  'scrapehook-fastify': { needsBuild: true, dedupes: true },
};

async function closeReceiver(hooks) {
  // The receiver API may offer close() (drain the queue); tolerate its absence.
  if (typeof hooks.close === 'function') await hooks.close();
}

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createReceiver, type Logger, type Receiver } from '../../src/index.ts';
import { postgresQueue, type PostgresQueueOptions } from '../../src/queue/postgres-queue.ts';
import { recordingLogger, rendered } from '../helpers/secrets.ts';
import { deferred, pageEvent, signed, testProvider } from '../helpers/test-provider.ts';
import { postgresTestsEnabled, startPostgres, type PostgresServer } from '../helpers/postgres.ts';

type Hooks = Receiver<ReturnType<typeof testProvider>>;

describe('postgresQueue() option enqueueTimeoutMs', () => {
  it('throws a TypeError when it is not a positive integer', () => {
    expect(() => postgresQueue({ connection: 'postgres://h', enqueueTimeoutMs: 0 })).toThrow(TypeError);
    expect(() => postgresQueue({ connection: 'postgres://h', enqueueTimeoutMs: 1.5 })).toThrow(/enqueueTimeoutMs/);
  });
});

describe.runIf(postgresTestsEnabled('postgres-faults'))('postgresQueue() when PostgreSQL does not answer', () => {
  let server: PostgresServer;
  let admin: pg.Client;
  let queueCount = 0;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    server = await startPostgres();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function connectAdmin(): Promise<pg.Client> {
    admin = new pg.Client(server.url);
    admin.on('error', () => {}); // dropped by halt(); a test opens another
    await admin.connect();
    return admin;
  }

  async function serve(queueOptions: Partial<PostgresQueueOptions> = {}, logger?: Logger) {
    const hooks: Hooks = createReceiver({
      provider: testProvider(),
      retryAfterSeconds: 7,
      retry: { attempts: 1 },
      ...(logger ? { logger } : {}),
      queue: postgresQueue({ connection: server.url, name: `faults-${++queueCount}`, countsIntervalMs: 50, pollIntervalMs: 50, ...queueOptions }),
    });
    const runs: string[] = [];
    hooks.on('crawl.page', (event) => void runs.push(event.id));
    const http1 = http.createServer(hooks.nodeHandler());
    await new Promise<void>((resolve) => http1.listen(0, '127.0.0.1', resolve));
    const { port } = http1.address() as AddressInfo;
    cleanups.push(async () => {
      http1.closeAllConnections();
      http1.close();
      await hooks.close({ timeoutMs: 5000 });
    });
    /** Posts as a sender would: it gives up after 10 s. */
    async function post(event: Record<string, unknown>) {
      const { body, headers } = signed(event);
      const res = await fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', body, headers, signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      return { status: res.status, retryAfter: res.headers.get('retry-after'), code: res.status === 503 ? (JSON.parse(text) as { error: { code: string } }).error.code : undefined, text };
    }
    return { hooks, runs, post };
  }

  it('answers 503 queue.unavailable with Retry-After while PostgreSQL is down, and takes deliveries again once it is back', async () => {
    const { hooks, runs, post } = await serve();
    expect((await post(pageEvent({ webhookId: 'before-outage' }))).status).toBe(202);
    await hooks.onIdle();

    await server.halt();
    const burst = Array.from({ length: 20 }, (_, i) => pageEvent({ webhookId: `burst-${i}` }));
    const answers = await Promise.all(burst.map((event) => post(event)));
    for (const answer of answers) expect(answer).toMatchObject({ status: 503, retryAfter: '7', code: 'queue.unavailable' });
    expect(hooks.stats().rejected['queue.unavailable']).toBe(20);

    // Back: the pool opens new connections by itself, and the senders' retries are accepted and handled.
    await server.restart();
    await vi.waitFor(async () => expect((await post(burst[0]!)).status).toBe(202), { timeout: 30_000, interval: 100 });
    for (const event of burst.slice(1)) expect((await post(event)).status).toBe(202);
    await hooks.onIdle();
    expect(runs.filter((id) => id.startsWith('burst-')).sort()).toEqual(burst.map((e) => e.webhookId).sort());
    expect(runs.filter((id) => id === 'before-outage')).toHaveLength(1);
  }, 60_000);

  it('answers 503 when PostgreSQL takes longer than enqueueTimeoutMs; the delivery still runs once, and the retry is a duplicate', async () => {
    const { hooks, runs, post } = await serve({ enqueueTimeoutMs: 300 });
    await hooks.onIdle(); // the schema exists
    const client = await connectAdmin();
    cleanups.push(() => client.end().catch(() => {}));
    // Another session holds the dedupe table: every accept waits (a stall, as a long migration would).
    await client.query('BEGIN');
    await client.query('LOCK TABLE scrapehook.scrapehook_dedupe IN ACCESS EXCLUSIVE MODE');

    const slow = pageEvent({ webhookId: 'slow' });
    expect(await post(slow)).toMatchObject({ status: 503, retryAfter: '7', code: 'queue.unavailable' });
    // Still waiting for PostgreSQL: the next requests are answered at once.
    for (const answer of await Promise.all([1, 2, 3].map((i) => post(pageEvent({ webhookId: `behind-${i}` }))))) {
      expect(answer).toMatchObject({ status: 503, code: 'queue.unavailable' });
    }

    await client.query('COMMIT');
    // The first transaction commits after all: its delivery runs, and the sender's retry is a duplicate.
    await vi.waitFor(async () => expect(JSON.parse((await post(slow)).text)).toEqual({ id: 'slow', duplicate: true }), { timeout: 10_000, interval: 50 });
    await hooks.onIdle();
    expect(runs.filter((id) => id === 'slow')).toEqual(['slow']);
  }, 30_000);

  it('never logs the password of its connection URL, through a wrong password and an outage', async () => {
    const password = `pg-pw-${process.pid}-x7Q`;
    const client = await connectAdmin();
    cleanups.push(() => client.end().catch(() => {}));
    await client.query('CREATE ROLE password_required NOLOGIN').catch(() => {});
    await client.query(`CREATE ROLE hooks_app LOGIN SUPERUSER IN ROLE password_required PASSWORD '${password}'`);
    const refused = deferred();
    const { logger, calls } = recordingLogger((call) => {
      if (/password authentication failed/.test(inspect(call))) refused.resolve();
    });
    const url = `postgres://hooks_app:${password}@127.0.0.1:${server.port}/postgres`;
    const { hooks, post } = await serve({ connection: url }, logger);
    expect((await post(pageEvent({ webhookId: 'first' }))).status).toBe(202);
    await hooks.onIdle();

    // The password changes under the running receiver, and its connections drop.
    await client.query(`ALTER ROLE hooks_app PASSWORD 'something-else'`);
    await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'hooks_app'`);
    const refusedAnswer = await post(pageEvent({ webhookId: 'refused' }));
    expect(refusedAnswer).toMatchObject({ status: 503, code: 'queue.unavailable' });
    expect(refusedAnswer.text).not.toContain(password);
    await refused.promise;
    await expect(hooks.deadLetters()).rejects.toSatisfy((error: unknown) => !rendered(error).includes(password));

    // Back to its password: it recovers by itself.
    await client.query(`ALTER ROLE hooks_app PASSWORD '${password}'`);
    await vi.waitFor(async () => expect((await post(pageEvent({ webhookId: 'after' }))).status).toBe(202), { timeout: 10_000, interval: 100 });
    await hooks.close({ timeoutMs: 5000 });

    const text = rendered(calls);
    expect(text).toMatch(/password authentication failed/);
    expect(text).toContain('postgres://hooks_app:***@127.0.0.1');
    expect(text).not.toContain(password);
  }, 30_000);
});

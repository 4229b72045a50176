// What only postgresQueue() does when PostgreSQL refuses it: its password never reaches a log or an
// error. Outages and stalls, shared with bullmqQueue(), are in distributed-faults.test.ts.
import { inspect } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createReceiver, type Logger, type Receiver } from '../../src/index.ts';
import { postgresQueue, type PostgresQueueOptions } from '../../src/queue/postgres-queue.ts';
import { recordingLogger, rendered } from '../helpers/secrets.ts';
import { serveSigned } from '../helpers/http.ts';
import { deferred, pageEvent, testProvider } from '../helpers/test-provider.ts';
import { postgresTestsEnabled, startPostgres, type PostgresServer } from '../helpers/postgres.ts';

type Hooks = Receiver<ReturnType<typeof testProvider>>;

describe.runIf(postgresTestsEnabled('postgres-faults'))('postgresQueue() when PostgreSQL refuses its password', () => {
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
    const served = await serveSigned(hooks.nodeHandler());
    cleanups.push(async () => {
      served.close();
      await hooks.close({ timeoutMs: 5000 });
    });
    return { hooks, runs, post: served.post };
  }

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

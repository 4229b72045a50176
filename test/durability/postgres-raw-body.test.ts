import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver, importRows, postgresQueue, type Batch } from '../../src/index.ts';
import { sendRaw } from '../helpers/http.ts';
import { postgresTestsEnabled, startPostgres, type PostgresServer } from '../helpers/postgres.ts';
import { deferred, signed, testProvider } from '../helpers/test-provider.ts';
import { numberedSource, type NumberedRow } from '../import/numbered-source.ts';

// On PostgreSQL, import checkpoints live in scrapehook_state, per job, and import sets per receiver
// queue. Bodies kept as received, alike on both distributed backends, are in
// distributed-raw-body.test.ts.

describe.runIf(postgresTestsEnabled('postgres-raw-body'))('postgresQueue() keeping import state', () => {
  let server: PostgresServer;
  let client: pg.Client;
  let queueCount = 0;
  let name: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    server = await startPostgres();
    client = new pg.Client(server.url);
    await client.connect();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await client?.end();
    await server?.stop();
  });

  it('keeps import checkpoints in PostgreSQL per job, resumes a retry from them, and keeps them an hour after success', async () => {
    name = `imp-${++queueCount}`;
    const hooks = createReceiver({
      provider: testProvider(),
      queue: postgresQueue({ connection: server.url, name, pollIntervalMs: 50 }),
      retry: { attempts: 3, minDelayMs: 1, maxDelayMs: 2 },
    });
    cleanups.push(() => hooks.close({ timeoutMs: 5000 }));
    const source = numberedSource({ rows: 50 });
    const calls: number[] = [];
    let failed = false;
    let seen: { value: string; ttlMs: number } | undefined;
    const state = async () =>
      (
        await client.query<{ value: string; ttl_ms: number }>(
          `SELECT value, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS ttl_ms FROM scrapehook.scrapehook_state WHERE queue = $1 AND key = 'import:numbers:job-a'`,
          [name],
        )
      ).rows[0];
    hooks.on(
      'crawl.completed',
      importRows(source, {
        batchSize: 10,
        async write(_rows: NumberedRow[], batch: Batch<NumberedRow>) {
          calls.push(batch.index);
          if (batch.index === 3 && !failed) {
            failed = true;
            const row = await state();
            seen = { value: row!.value, ttlMs: row!.ttl_ms };
            throw new Error('the database is down');
          }
        },
      }),
    );
    const { body, headers } = signed({ type: 'crawl.completed', id: 'job-a', webhookId: 'wh-a' });
    expect((await sendRaw(hooks.nodeHandler(), { headers, body })).status).toBe(202);
    await hooks.onIdle();
    expect(seen!.ttlMs).toBeGreaterThan(24 * 60 * 60 * 1000);
    expect(JSON.parse(seen!.value)).toMatchObject({ jobId: 'job-a', batches: 3, rows: 30 });
    expect(calls).toEqual([0, 1, 2, 3, 3, 4]);
    expect(source.calls.reads).toEqual([undefined, 3]);
    // Succeeded: kept an hour more for `scrapehook imports`, then gone.
    const after = await state();
    expect(after!.ttl_ms).toBeGreaterThan(0);
    expect(after!.ttl_ms).toBeLessThanOrEqual(60 * 60 * 1000);
  });

  it('keeps import sets shared by the instances of a receiver, with their TTL', async () => {
    name = `sets-${++queueCount}`;
    const queue = () => postgresQueue({ connection: server.url, name, pollIntervalMs: 50 });
    // Instances of one receiver share the work: each delivery is run by one instance at a time here
    // (the second starts once the first has closed), so the set must travel through PostgreSQL.
    const seen: Record<string, string[]> = {};
    const instance = (done: (members: string[]) => void) => {
      const hooks = createReceiver({ provider: testProvider(), queue: queue() });
      cleanups.push(() => hooks.close({ timeoutMs: 5000 }));
      hooks.onAny(async (event, ctx) => {
        await ctx.importState!.addToSet('ids', event.id === 'one' ? ['one', 'shared'] : [event.id], 60_000);
        done((seen[event.id] = (await ctx.importState!.members('ids')).sort()));
      });
      return hooks;
    };
    const first = deferred<string[]>();
    const a = instance(first.resolve);
    expect((await sendRaw(a.nodeHandler(), signed({ type: 'crawl.page', id: 'x', webhookId: 'one', data: [] }))).status).toBe(202);
    expect(await first.promise).toEqual(['one', 'shared']);
    await a.close({ timeoutMs: 5000 });
    const second = deferred<string[]>();
    const b = instance(second.resolve);
    expect((await sendRaw(b.nodeHandler(), signed({ type: 'crawl.page', id: 'x', webhookId: 'two', data: [] }))).status).toBe(202);
    expect(await second.promise).toEqual(['one', 'shared', 'two']);
    expect(Object.keys(seen).sort()).toEqual(['one', 'two']);
  });
});

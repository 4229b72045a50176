// What only the CLI's --postgres has: its usage rules, a database no receiver started on, and the
// imports kept per receiver queue. Dead letters, stats and replay on PostgreSQL, alike on Redis, are
// in distributed-cli.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver, importRows, postgresQueue } from '../../src/index.ts';
import { sendRaw } from '../helpers/http.ts';
import { postgresTestsEnabled, startPostgres, type PostgresServer } from '../helpers/postgres.ts';
import { signed, testProvider } from '../helpers/test-provider.ts';
import { numberedSource } from '../import/numbered-source.ts';
import { runCli as cli } from '../helpers/cli.ts';

describe('scrapehook (CLI) --postgres usage', () => {
  it.each([
    [['stats', '--postgres', 'http://h'], {}, /postgres:\/\//],
    [['stats', '--postgres', 'postgres://h', '--redis', 'redis://h'], {}, /not both/],
    [['stats', '--postgres', 'postgres://h', '--prefix', 'x'], {}, /--prefix goes with --redis/],
    [['stats', '--redis', 'redis://h', '--schema', 'x'], {}, /--schema goes with --postgres/],
    [['stats'], { SCRAPEHOOK_REDIS_URL: 'redis://h', SCRAPEHOOK_POSTGRES_URL: 'postgres://h' }, /say which/],
  ])('exits 2 on a usage error: %j', async (args, env, message) => {
    const { code, stderr } = await cli(args, env);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('names --postgres in its help', async () => {
    expect((await cli(['--help'])).stdout).toContain('--postgres <url>');
  });
});

describe.runIf(postgresTestsEnabled('postgres-cli'))('scrapehook (CLI) with --postgres', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('says there is nothing to see before any receiver started on the database, creating nothing', async () => {
    const result = await cli(['stats', '--postgres', server.url]);
    expect(result).toMatchObject({ code: 1, stderr: expect.stringContaining('no scrapehook queues in schema "scrapehook"') });
  });

  it('lists the imports kept for each receiver queue, done and failed', async () => {
    const hooks = createReceiver({ provider: testProvider(), name: 'wsc', retry: { attempts: 1 }, queue: postgresQueue({ connection: server.url, pollIntervalMs: 50 }) });
    hooks.on(
      'crawl.completed',
      importRows(numberedSource({ rows: 25 }), {
        batchSize: 10,
        write(_rows, batch) {
          if (batch.jobId === 'stuck' && batch.index === 2) throw new Error('the database is down');
        },
      }),
    );
    try {
      for (const id of ['ok', 'stuck']) expect((await sendRaw(hooks.nodeHandler(), signed({ type: 'crawl.completed', id, webhookId: `wsc-${id}` }))).status).toBe(202);
      await hooks.onIdle();
      const listed = await cli(['imports', '--postgres', server.url, '--receiver', 'wsc', '--json']);
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual([
        { receiver: 'wsc', delivery: 'wsc-ok', provider: 'numbers', jobId: 'ok', state: 'done', rows: 25, batches: 3, bytes: 250, updatedAt: expect.any(String) },
        { receiver: 'wsc', delivery: 'wsc-stuck', provider: 'numbers', jobId: 'stuck', state: 'failed', rows: 20, batches: 2, bytes: 200, updatedAt: expect.any(String) },
      ]);
      const table = await cli(['imports', '--postgres', server.url]);
      expect(table.stdout).toMatch(/^wsc +wsc-stuck +numbers +stuck +failed +20 +2 +200 /m);
    } finally {
      await hooks.close();
    }
  });
});

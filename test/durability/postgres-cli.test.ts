import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver, importRows, postgresQueue, type AnyProvider, type Receiver } from '../../src/index.ts';
import { sendRaw } from '../helpers/http.ts';
import { postgresTestsEnabled, startPostgres, type PostgresServer } from '../helpers/postgres.ts';
import { freePort } from '../helpers/redis.ts';
import { shoutingProvider } from '../helpers/shouting-provider.ts';
import { pageEvent, signed, testProvider } from '../helpers/test-provider.ts';
import { numberedSource } from '../import/numbered-source.ts';
import { send, waitFor } from './child.ts';
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

  it('lists dead letters, counts, and replays into the running receivers (URL from the environment)', async () => {
    const hooks = createReceiver({ provider: testProvider(), retry: { attempts: 1 }, queue: postgresQueue({ connection: server.url, name: 'cli', pollIntervalMs: 50 }) });
    let fixed = false;
    const done: string[] = [];
    hooks.onAny((event) => {
      if (!fixed) throw new Error('down');
      done.push(event.id);
    });
    try {
      const env = { SCRAPEHOOK_POSTGRES_URL: server.url };
      const web = http.createServer(hooks.nodeHandler());
      await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
      const { port } = web.address() as AddressInfo;
      for (const webhookId of ['r-1', 'r-2']) expect(await send(port, pageEvent({ webhookId }))).toBe(202);
      await hooks.onIdle();
      web.close();

      const listed = await cli(['dead-letters', '--queue', 'cli'], env);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/^test\s+r-1\s+crawl\.page\s+1\s+\S+Z\s+handler\.failed: A crawl\.page handler failed: down/m);
      expect(listed.stdout).toContain('2 dead letters.');
      const json = JSON.parse((await cli(['dead-letters', '--queue', 'cli', '--json'], env)).stdout) as { id: string; event: { payload: unknown } }[];
      expect(json.map((l) => l.id)).toEqual(['r-1', 'r-2']);
      expect(json[0]!.event.payload).toMatchObject({ webhookId: 'r-1', type: 'crawl.page' });
      expect(JSON.parse((await cli(['stats', '--queue', 'cli', '--json'], env)).stdout)).toEqual({ queued: 0, running: 0, dead: 2, dedupeIds: 2 });

      fixed = true;
      const one = await cli(['replay', 'r-2', 'nope', '--queue', 'cli'], env);
      expect(one).toMatchObject({ code: 1, stdout: expect.stringContaining('Re-queued 1 dead letter'), stderr: expect.stringContaining('no dead letter with id "nope"') });
      await waitFor(() => done.includes('r-2'), 'a worker ran r-2');
      expect(await cli(['replay', '--all', '--postgres', server.url, '--queue', 'cli', '--json'])).toMatchObject({ code: 0, stdout: '{"replayed":["r-1"],"missing":[]}\n' });
      await waitFor(() => done.includes('r-1'), 'a worker ran r-1');
      await hooks.onIdle();
      expect((await cli(['dead-letters', '--queue', 'cli'], env)).stdout).toBe('No dead letters.\n');
    } finally {
      await hooks.close();
    }
  });

  it('finds every receiver’s queue, shows the receiver of each dead letter, and filters by --receiver', async () => {
    const make = <P extends AnyProvider>(provider: P) =>
      createReceiver({ provider, retry: { attempts: 1 }, queue: postgresQueue({ connection: server.url, pollIntervalMs: 50 }) }) as unknown as Receiver<AnyProvider>;
    const receivers = [make(testProvider()), make(shoutingProvider())];
    for (const hooks of receivers) {
      hooks.onAny(() => {
        throw new Error('down');
      });
    }
    const [test, shout] = receivers as [Receiver<AnyProvider>, Receiver<AnyProvider>];
    try {
      for (const webhookId of ['same', 'only-test']) expect((await sendRaw(test.nodeHandler(), signed(pageEvent({ webhookId })))).status).toBe(202);
      expect((await sendRaw(shout.nodeHandler(), signed({ type: 'page.scraped', webhookId: 'same', markdown: 'x' }))).status).toBe(202);
      await Promise.all(receivers.map((hooks) => hooks.onIdle()));

      const env = { SCRAPEHOOK_POSTGRES_URL: server.url };
      const all = await cli(['dead-letters'], env);
      expect(all.code).toBe(0);
      expect(all.stdout).toMatch(/^test\s+same\s+crawl\.page\s/m);
      expect(all.stdout).toMatch(/^shout\s+same\s+page\.scraped\s/m);
      const shoutOnly = JSON.parse((await cli(['dead-letters', '--receiver', 'shout', '--json'], env)).stdout) as { receiver: string; id: string; event: { payload: unknown } }[];
      expect(shoutOnly.map((l) => [l.receiver, l.id])).toEqual([['shout', 'same']]);
      // Kept as received: shown decoded (the CLI has no provider to validate it with).
      expect(shoutOnly[0]!.event.payload).toEqual({ type: 'page.scraped', webhookId: 'same', markdown: 'x' });
      expect(JSON.parse((await cli(['stats', '--receiver', 'test', '--json'], env)).stdout)).toMatchObject({ dead: 2 });
      expect(await cli(['replay', 'only-test', '--receiver', 'shout'], env)).toMatchObject({ code: 1 });
      expect(JSON.parse((await cli(['stats', '--receiver', 'typo', '--json'], env)).stdout)).toEqual({ queued: 0, running: 0, dead: 0, dedupeIds: 0 });
    } finally {
      await Promise.all(receivers.map((hooks) => hooks.close()));
    }
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

  it('fails fast with exit 1 when PostgreSQL is unreachable, never printing the password', async () => {
    const port = await freePort();
    const result = await cli(['stats', '--postgres', `postgres://user:s3cret@127.0.0.1:${port}/app`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`postgres://user:***@127.0.0.1:${port}/app`);
    expect(result.stderr + result.stdout).not.toContain('s3cret');
  });
});

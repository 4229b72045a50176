import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver, importRows, sqliteStore, type ReceiverOptions } from '../../src/index.ts';
import { bullmqQueue } from '../../src/queue/bullmq-queue.ts';
import { sendRaw } from '../helpers/http.ts';
import { redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';
import { signed, testProvider } from '../helpers/test-provider.ts';
import { numberedSource } from '../import/numbered-source.ts';
import { runCli as cli } from '../helpers/cli.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-cli-imports-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A receiver named `name` that imports job `ok` (25 rows, 3 batches) and fails for good on job
 * `stuck` after 2 batches (its writer fails, one attempt): one import done, one failed.
 */
async function importsOf(name: string, backend: Pick<ReceiverOptions<ReturnType<typeof testProvider>>, 'store' | 'queue'>) {
  const hooks = createReceiver({ provider: testProvider(), name, retry: { attempts: 1 }, ...backend });
  hooks.on(
    'crawl.completed',
    importRows(numberedSource({ rows: 25 }), {
      batchSize: 10,
      write(_rows, batch) {
        if (batch.jobId === 'stuck' && batch.index === 2) throw new Error('the database is down');
      },
    }),
  );
  for (const id of ['ok', 'stuck']) {
    expect((await sendRaw(hooks.nodeHandler(), signed({ type: 'crawl.completed', id, webhookId: `${name}-${id}` }))).status).toBe(202);
  }
  await hooks.onIdle();
  return hooks;
}

describe('scrapehook imports', () => {
  it('lists the imports kept in a SQLite file, per receiver, with rows and batches', async () => {
    const path = join(dir, 'hooks.db');
    const store = sqliteStore({ path });
    const a = await importsOf('a', { store });
    const b = await importsOf('b', { store });
    // Closed: their last state changes are on disk (a running receiver writes them within 20 ms).
    await a.close();
    await b.close();

    const all = await cli(['imports', '--sqlite', path]);
    expect(all.code).toBe(0);
    expect(all.stdout.split('\n')[0]).toMatch(/^RECEIVER +DELIVERY +PROVIDER +JOB +STATE +ROWS +BATCHES +BYTES +UPDATED$/);
    expect(all.stdout).toMatch(/^a +a-ok +numbers +ok +done +25 +3 +250 /m);
    expect(all.stdout).toMatch(/^a +a-stuck +numbers +stuck +failed +20 +2 +200 /m);
    expect(all.stdout).toMatch(/^b +b-ok +numbers +ok +done +25 +3 /m);

    const json = await cli(['imports', '--sqlite', path, '--receiver', 'b', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      { receiver: 'b', delivery: 'b-ok', provider: 'numbers', jobId: 'ok', state: 'done', rows: 25, batches: 3, bytes: 250, updatedAt: expect.any(String) },
      { receiver: 'b', delivery: 'b-stuck', provider: 'numbers', jobId: 'stuck', state: 'failed', rows: 20, batches: 2, bytes: 200, updatedAt: expect.any(String) },
    ]);
    expect(await cli(['imports', '--sqlite', path, '--receiver', 'nobody'])).toMatchObject({ code: 0, stdout: 'No imports.\n' });
  });

  describe.runIf(redisTestsEnabled('cli-imports'))('on Redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(() => redis?.stop());

    it('lists the imports kept under each receiver queue', async () => {
      const hooks = await importsOf('wsc', { queue: bullmqQueue({ connection: redis.url }) });
      try {
        const listed = await cli(['imports', '--redis', redis.url, '--json']);
        expect(listed.code).toBe(0);
        expect(JSON.parse(listed.stdout)).toEqual([
          { receiver: 'wsc', delivery: 'wsc-ok', provider: 'numbers', jobId: 'ok', state: 'done', rows: 25, batches: 3, bytes: 250, updatedAt: expect.any(String) },
          { receiver: 'wsc', delivery: 'wsc-stuck', provider: 'numbers', jobId: 'stuck', state: 'failed', rows: 20, batches: 2, bytes: 200, updatedAt: expect.any(String) },
        ]);
        const table = await cli(['imports', '--redis', redis.url, '--receiver', 'wsc']);
        expect(table.stdout).toMatch(/^wsc +wsc-stuck +numbers +stuck +failed +20 +2 +200 /m);
      } finally {
        await hooks.close();
      }
    });
  });
});

import { createRequire } from 'node:module';
import type IORedis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver, importRows, type AnyProvider, type Batch, type Receiver } from '../../src/index.ts';
import { bullmqQueue } from '../../src/queue/bullmq-queue.ts';
import { sendRaw } from '../helpers/http.ts';
import { redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';
import { signed, testProvider } from '../helpers/test-provider.ts';
import { numberedSource, type NumberedRow } from './numbered-source.ts';

const { Redis } = createRequire(import.meta.url)('ioredis') as typeof IORedis;

describe.runIf(redisTestsEnabled('bullmq-import'))('importRows() on bullmqQueue()', () => {
  let redis: RedisServer;
  const open: Receiver<AnyProvider>[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const hooks of open.splice(0)) await hooks.close({ timeoutMs: 1000 });
  });
  afterAll(() => redis?.stop());

  function receiver(name: string, attempts = 3) {
    const hooks = createReceiver({
      provider: testProvider(),
      name,
      queue: bullmqQueue({ connection: redis.url }),
      retry: { attempts, minDelayMs: 1, maxDelayMs: 2 },
    });
    open.push(hooks as unknown as Receiver<AnyProvider>);
    return hooks;
  }
  const post = async (hooks: Receiver<AnyProvider> | ReturnType<typeof receiver>, body: unknown) => (await sendRaw(hooks.nodeHandler(), signed(body))).status;

  it('keeps checkpoints in Redis under the queue prefix with a TTL, and resumes a retry from them', async () => {
    const hooks = receiver('imp-a');
    const source = numberedSource({ rows: 50 });
    const calls: number[] = [];
    let failed = false;
    const client = new Redis(redis.url);
    let seen: { ttl: number; value: string | null } | undefined;
    hooks.on(
      'crawl.completed',
      importRows(source, {
        batchSize: 10,
        async write(_rows: NumberedRow[], batch: Batch<NumberedRow>) {
          calls.push(batch.index);
          if (batch.index === 3 && !failed) {
            failed = true;
            const key = 'bull:scrapehook-imp-a:state:wh-a';
            seen = { ttl: await client.pttl(key), value: await client.hget(key, 'import:numbers:job-a') };
            throw new Error('the database is down');
          }
        },
      }),
    );
    try {
      expect(await post(hooks, { type: 'crawl.completed', id: 'job-a', webhookId: 'wh-a' })).toBe(202);
      await hooks.onIdle();
      expect(seen!.ttl).toBeGreaterThan(24 * 60 * 60 * 1000);
      expect(JSON.parse(seen!.value!)).toMatchObject({ jobId: 'job-a', batches: 3, rows: 30 });
      expect(calls).toEqual([0, 1, 2, 3, 3, 4]);
      expect(source.calls.reads).toEqual([undefined, 3]);
      // Succeeded: kept an hour more for `scrapehook imports`, then gone.
      const ttl = await client.pttl('bull:scrapehook-imp-a:state:wh-a');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60 * 60 * 1000);
    } finally {
      client.disconnect();
    }
  });

  it('makes a dead letter at once of a non-retryable ImportError, and replay runs it again', async () => {
    const hooks = receiver('imp-b', 5);
    const source = numberedSource({ rows: 20 });
    let gone = true;
    const read = source.read.bind(source);
    source.read = (ref, options) => read(gone ? ref : { jobId: 'back' }, options);
    const calls: number[] = [];
    hooks.on('crawl.completed', importRows(source, { batchSize: 10, write: (_rows, batch) => void calls.push(batch.index) }));
    expect(await post(hooks, { type: 'crawl.completed', id: 'gone-b', webhookId: 'wh-b' })).toBe(202);
    await hooks.onIdle();
    const [letter] = await hooks.deadLetters();
    expect(letter).toMatchObject({ id: 'wh-b', attempts: 1, error: { message: expect.stringContaining('numbers: job gone-b is gone (404)') } });
    expect(source.calls.reads).toEqual([undefined]);

    gone = false;
    await hooks.replay('wh-b');
    expect(calls).toEqual([0, 1]);
    expect(await hooks.deadLetters()).toEqual([]);
  });
});

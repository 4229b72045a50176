import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as BullMQ from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pageEvent } from '../helpers/test-provider.ts';
import { redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';
import { killChildren, readLog, send, startReceiver, waitFor } from './child.ts';

const { Queue } = createRequire(import.meta.url)('bullmq') as typeof BullMQ;

describe.runIf(redisTestsEnabled('bullmq-crash'))('bullmqQueue() with two processes and a crash', () => {
  let redis: RedisServer;
  let dir: string;

  beforeAll(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'scrapehook-bullmq-crash-'));
  });
  afterEach(() => killChildren());
  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shares the work and the dedupe ids, and loses nothing when one process is killed', async () => {
    const log = join(dir, 'handled.log');
    const env = {
      BACKEND: 'bullmq',
      REDIS_URL: redis.url,
      QUEUE_NAME: 'crash',
      LOG_PATH: log,
      DELAY_MS: '100',
      CONCURRENCY: '2',
      // Short locks so that the killed process's deliveries are recovered within a couple of seconds.
      LOCK_MS: '1000',
      STALLED_MS: '500',
    };
    const N = 40;
    const events = Array.from({ length: N }, (_, i) => pageEvent({ webhookId: `job-${i}` }));
    const ids = events.map((e) => e.webhookId as string);
    const [a, b] = await Promise.all([startReceiver(env), startReceiver(env)]);

    // Each delivery reaches both instances (a sender retrying through the load balancer): one 202 in all.
    const statuses = await Promise.all(events.flatMap((e) => [send(a.port, e), send(b.port, e)]));
    expect(statuses.filter((s) => s === 202)).toHaveLength(N);
    expect(statuses.filter((s) => s === 200)).toHaveLength(N);

    await waitFor(() => {
      const { workers, done } = readLog(log);
      return workers.has(a.pid) && workers.has(b.pid) && done.size >= 6;
    }, 'both processes handled deliveries');
    await a.kill();
    const before = readLog(log);
    expect(before.done.size).toBeLessThan(N);

    // The sender's retries after the crash are duplicates for the survivor.
    const retries = await Promise.all(events.map((e) => send(b.port, e)));
    expect(retries).toEqual(Array(N).fill(200));
    // The survivor runs the rest, including what the killed process held (stalled-job recovery).
    await waitFor(() => ids.every((id) => readLog(log).done.has(id)), 'every delivery was handled', 20_000);
    expect(await b.close()).toBe(0);

    const after = readLog(log);
    expect(after.workers).toEqual(new Set([a.pid, b.pid]));
    for (const id of ids) {
      const runs = after.done.get(id) ?? 0;
      expect(runs, id).toBeGreaterThanOrEqual(1);
      expect(runs, id).toBeLessThanOrEqual(before.started.has(id) ? 2 : 1);
    }
    const queue = new Queue('crash', { connection: { url: redis.url } });
    try {
      expect(await queue.getJobCounts('wait', 'delayed', 'active', 'failed')).toEqual({ wait: 0, delayed: 0, active: 0, failed: 0 });
    } finally {
      await queue.close();
    }
  });
});

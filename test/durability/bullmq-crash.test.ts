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

  it('makes a dead letter of a delivery that kills every process running it, after maxStalledCount', async () => {
    const log = join(dir, 'poison.log');
    const env = {
      BACKEND: 'bullmq',
      REDIS_URL: redis.url,
      QUEUE_NAME: 'poison',
      LOG_PATH: log,
      LOCK_MS: '500',
      STALLED_MS: '250',
      MAX_STALLED: '1',
    };
    const first = await startReceiver(env);
    expect(await send(first.port, pageEvent({ webhookId: 'poison-1' }))).toBe(202);
    expect(await first.exited).toBe('SIGKILL');

    // Recovered once (stalled 1 time, allowed): the next process runs it, and dies too.
    const second = await startReceiver(env);
    expect(await second.exited).toBe('SIGKILL');
    expect(readLog(log).started.get('poison-1')).toBe(2);

    // Stalled twice: BullMQ fails it instead of running it a third time, and onError hears of it.
    const third = await startReceiver(env);
    await waitFor(() => readLog(log).dead.has('poison-1'), 'poison-1 became a dead letter', 20_000);
    expect(readLog(log).started.get('poison-1')).toBe(2);
    const queue = new Queue('poison', { connection: { url: redis.url } });
    try {
      const [job] = await queue.getFailed();
      expect(job?.data).toMatchObject({ id: 'poison-1', error: { type: 'handler.failed', message: expect.stringMatching(/stalled/) } });
    } finally {
      await queue.close();
    }
    // The survivor works on.
    expect(await send(third.port, pageEvent({ webhookId: 'after' }))).toBe(202);
    await waitFor(() => readLog(log).done.has('after'), 'the next delivery was handled');
    expect(await third.close()).toBe(0);
  });
});

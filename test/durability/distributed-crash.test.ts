// bullmqQueue() and postgresQueue() with receivers in child processes (fixtures/receiver.ts) that
// are killed (SIGKILL): two instances sharing the work, one of them killed; the only instance killed
// and restarted; a delivery that kills every process running it. What differs between the backends
// is how a dead process's delivery is taken back (BullMQ's stalled-job check, pg-boss' lease
// expiry), which CRASH below sets short, and how the rows look into the server.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as BullMQ from 'bullmq';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { pageEvent } from '../helpers/test-provider.ts';
import { killChildren, readLog, send, startReceiver, waitFor } from './child.ts';
import { forEachDistributed, type Distributed } from './distributed.ts';

const { Queue } = createRequire(import.meta.url)('bullmq') as typeof BullMQ;

interface CrashBackend {
  /** The fixture's environment for this backend's queue `queue` on the server at `url`. */
  env(url: string, queue: string): Record<string, string>;
  /** Settings that take a killed process's deliveries back within a few seconds. */
  readonly quickRecovery: Record<string, string>;
  /** Settings under which a delivery that killed its process twice becomes a dead letter. */
  readonly poison: Record<string, string>;
  /** How many jobs of `queue` wait, run or died, by state; only states with jobs. */
  unfinished(url: string, queue: string): Promise<Record<string, number>>;
  /** Whether the server keeps `id` as a dead letter of `queue` (asserting what it keeps of it). */
  deadInServer(url: string, queue: string, id: string): Promise<boolean>;
}

/** The states of a queue's jobs in pg-boss' table, counted (succeeded jobs are deleted). */
async function pgBossStates(url: string, queue: string): Promise<Record<string, number>> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const { rows } = await client.query<{ state: string; n: string }>('SELECT state::text, count(*) AS n FROM scrapehook.job WHERE name = $1 GROUP BY state', [queue]);
    return Object.fromEntries(rows.map((row) => [row.state, Number(row.n)]));
  } finally {
    await client.end();
  }
}

async function withBullQueue<T>(url: string, name: string, use: (queue: BullMQ.Queue) => Promise<T>): Promise<T> {
  const queue = new Queue(name, { connection: { url } });
  try {
    return await use(queue);
  } finally {
    await queue.close();
  }
}

const CRASH: Record<Distributed['name'], CrashBackend> = {
  bullmq: {
    env: (url, queue) => ({ BACKEND: 'bullmq', REDIS_URL: url, QUEUE_NAME: queue }),
    // A killed process's job is taken back once its lock expired, at the next stalled-job check.
    quickRecovery: { LOCK_MS: '1000', STALLED_MS: '500' },
    // Stalled once is allowed (taken back); stalled twice, BullMQ fails the job.
    poison: { LOCK_MS: '500', STALLED_MS: '250', MAX_STALLED: '1' },
    unfinished: (url, queue) =>
      withBullQueue(url, queue, async (q) => {
        const counts = await q.getJobCounts('wait', 'delayed', 'active', 'failed');
        return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
      }),
    deadInServer: (url, queue, id) =>
      withBullQueue(url, queue, async (q) => {
        const [job] = await q.getFailed();
        // BullMQ fails the job first; the survivor writes its error into the job's data after.
        if (!job || job.data.error === undefined) return false;
        expect(job.data).toMatchObject({ id, error: { type: 'handler.failed', message: expect.stringMatching(/stalled/) } });
        return true;
      }),
  },
  postgres: {
    env: (url, queue) => ({ BACKEND: 'postgres', POSTGRES_URL: url, QUEUE_NAME: queue }),
    // A killed process's job is taken back once its lease expired, at the next maintenance.
    quickRecovery: { LOCK_MS: '1000', MAINTENANCE_MS: '1000' },
    // Each expired lease spends an attempt: after the second, pg-boss fails the job.
    poison: { ATTEMPTS: '2', LOCK_MS: '1000', MAINTENANCE_MS: '1000' },
    unfinished: pgBossStates,
    deadInServer: async (url, queue) => (await pgBossStates(url, queue)).failed === 1,
  },
};

forEachDistributed('distributed-crash', 'with receivers in processes that are killed', (backend, h) => {
  const crash = CRASH[backend.name];
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `scrapehook-${backend.name}-crash-`));
  });
  afterEach(() => killChildren());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shares the work and the dedupe ids, and loses nothing when one process is killed', async () => {
    const log = join(dir, 'handled.log');
    const env = { ...crash.env(h.server().url, 'crash'), ...crash.quickRecovery, LOG_PATH: log, DELAY_MS: '100', CONCURRENCY: '2' };
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
    // The survivor runs the rest, including what the killed process held.
    await waitFor(() => ids.every((id) => readLog(log).done.has(id)), 'every delivery was handled', 20_000);
    // The killed process may have finished a handler yet not marked its job done: the job stays
    // active until its lock or lease expires, then the survivor runs it again (at most twice in
    // all, checked below). Wait for that rather than close the survivor first.
    await waitFor(async () => Object.keys(await crash.unfinished(h.server().url, 'crash')).length === 0, 'no job of the killed process is left', 20_000);
    expect(await b.close()).toBe(0);

    const after = readLog(log);
    expect(after.workers).toEqual(new Set([a.pid, b.pid]));
    for (const id of ids) {
      const runs = after.done.get(id) ?? 0;
      expect(runs, id).toBeGreaterThanOrEqual(1);
      expect(runs, id).toBeLessThanOrEqual(before.started.has(id) ? 2 : 1);
    }
    // Nothing waits, runs or died.
    expect(await crash.unfinished(h.server().url, 'crash')).toEqual({});
  });

  it('runs a delivery acknowledged before the only process was killed once it restarts, and still knows its dedupe id', async () => {
    const log = join(dir, 'restart.log');
    const env = { ...crash.env(h.server().url, 'restart'), ...crash.quickRecovery, LOG_PATH: log, DELAY_MS: '60000' };
    const first = await startReceiver(env);
    const event = pageEvent({ webhookId: 'slow-1' });
    expect(await send(first.port, event)).toBe(202);
    await waitFor(() => readLog(log).started.has('slow-1'), 'the handler started');
    await first.kill();
    expect(readLog(log).done.has('slow-1')).toBe(false);

    const second = await startReceiver({ ...env, DELAY_MS: '0' });
    // The sender's retry is a duplicate across the restart; the delivery itself runs again.
    expect(await send(second.port, event)).toBe(200);
    await waitFor(() => readLog(log).done.has('slow-1'), 'the delivery ran after the restart', 20_000);
    expect(readLog(log).started.get('slow-1')).toBe(2);
    expect(await second.close()).toBe(0);
    expect(await crash.unfinished(h.server().url, 'restart')).toEqual({});
  });

  it('makes a dead letter of a delivery that kills every process running it, once it has been taken back as often as allowed', async () => {
    const log = join(dir, 'poison.log');
    const env = { ...crash.env(h.server().url, 'poison'), ...crash.poison, LOG_PATH: log };
    const first = await startReceiver(env);
    expect(await send(first.port, pageEvent({ webhookId: 'poison-1' }))).toBe(202);
    expect(await first.exited).toBe('SIGKILL');

    // Taken back once (allowed): the next process runs it, and dies too.
    const second = await startReceiver(env);
    expect(await second.exited).toBe('SIGKILL');
    expect(readLog(log).started.get('poison-1')).toBe(2);

    // Taken back as often as allowed: the queue fails it instead of running it a third time.
    const third = await startReceiver(env);
    await waitFor(() => crash.deadInServer(h.server().url, 'poison', 'poison-1'), 'poison-1 became a dead letter', 20_000);
    expect(readLog(log).started.get('poison-1')).toBe(2);
    // The survivor reports it to onError, as if it had run it.
    await waitFor(() => readLog(log).dead.has('poison-1'), 'onError heard of poison-1');
    // The survivor works on.
    expect(await send(third.port, pageEvent({ webhookId: 'after' }))).toBe(202);
    await waitFor(() => readLog(log).done.has('after'), 'the next delivery was handled');
    expect(await third.close()).toBe(0);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pageEvent } from '../helpers/test-provider.ts';
import { postgresTestsEnabled, startPostgres, type PostgresServer } from '../helpers/postgres.ts';
import { killChildren, readLog, send, startReceiver, waitFor } from './child.ts';

describe.runIf(postgresTestsEnabled('postgres-crash'))('postgresQueue() with two processes and a crash', () => {
  let server: PostgresServer;
  let dir: string;

  beforeAll(async () => {
    server = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), 'scrapehook-postgres-crash-'));
  });
  afterEach(() => killChildren());
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The states of a queue's jobs in pg-boss' table, counted. */
  async function jobStates(queue: string): Promise<Record<string, number>> {
    const client = new pg.Client(server.url);
    await client.connect();
    try {
      const { rows } = await client.query<{ state: string; n: string }>('SELECT state::text, count(*) AS n FROM scrapehook.job WHERE name = $1 GROUP BY state', [queue]);
      return Object.fromEntries(rows.map((row) => [row.state, Number(row.n)]));
    } finally {
      await client.end();
    }
  }

  it('shares the work and the dedupe ids, and loses nothing when one process is killed', async () => {
    const log = join(dir, 'handled.log');
    const env = {
      BACKEND: 'postgres',
      POSTGRES_URL: server.url,
      QUEUE_NAME: 'crash',
      LOG_PATH: log,
      DELAY_MS: '100',
      CONCURRENCY: '2',
      // Short leases so that the killed process's deliveries are recovered within a few seconds.
      LOCK_MS: '1000',
      MAINTENANCE_MS: '1000',
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
    // The survivor runs the rest, including what the killed process held (its leases expire).
    await waitFor(() => ids.every((id) => readLog(log).done.has(id)), 'every delivery was handled', 20_000);
    expect(await b.close()).toBe(0);

    const after = readLog(log);
    expect(after.workers).toEqual(new Set([a.pid, b.pid]));
    for (const id of ids) {
      const runs = after.done.get(id) ?? 0;
      expect(runs, id).toBeGreaterThanOrEqual(1);
      expect(runs, id).toBeLessThanOrEqual(before.started.has(id) ? 2 : 1);
    }
    // Succeeded jobs are deleted; nothing waits, runs or died.
    expect(await jobStates('crash')).toEqual({});
  });

  it('runs a delivery acknowledged before the only process was killed once it restarts, and still knows its dedupe id', async () => {
    const log = join(dir, 'restart.log');
    const env = { BACKEND: 'postgres', POSTGRES_URL: server.url, QUEUE_NAME: 'restart', LOG_PATH: log, DELAY_MS: '60000', LOCK_MS: '1000', MAINTENANCE_MS: '1000' };
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
    expect(await jobStates('restart')).toEqual({});
  });

  it('makes a dead letter of a delivery that kills every process running it, once its attempts are spent', async () => {
    const log = join(dir, 'poison.log');
    const env = { BACKEND: 'postgres', POSTGRES_URL: server.url, QUEUE_NAME: 'poison', LOG_PATH: log, ATTEMPTS: '2', LOCK_MS: '1000', MAINTENANCE_MS: '1000' };
    const first = await startReceiver(env);
    expect(await send(first.port, pageEvent({ webhookId: 'poison-1' }))).toBe(202);
    expect(await first.exited).toBe('SIGKILL');

    // Its lease expired: the next process runs it (attempt 2 of 2), and dies too.
    const second = await startReceiver(env);
    expect(await second.exited).toBe('SIGKILL');
    expect(readLog(log).started.get('poison-1')).toBe(2);

    // Its last lease expired: pg-boss fails it instead of running it a third time.
    const third = await startReceiver(env);
    await waitFor(async () => (await jobStates('poison')).failed === 1, 'poison-1 became a dead letter', 20_000);
    expect(readLog(log).started.get('poison-1')).toBe(2);
    // The survivor's housekeeping reports it to onError, as if it had run it.
    await waitFor(() => readLog(log).dead.has('poison-1'), 'onError heard of poison-1');
    // The survivor works on.
    expect(await send(third.port, pageEvent({ webhookId: 'after' }))).toBe(202);
    await waitFor(() => readLog(log).done.has('after'), 'the next delivery was handled');
    expect(await third.close()).toBe(0);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countStates, openDatabase } from '../../src/store/sqlite/database.ts';
import { pageEvent } from '../helpers/test-provider.ts';
import { killChildren, readLog, send, startReceiver, waitFor } from './child.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-crash-'));
});
afterEach(() => killChildren());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sqliteStore() crash recovery', () => {
  it('runs every acknowledged delivery after a SIGKILL, and the sender’s retries only once', async () => {
    const db = join(dir, 'crash.db');
    const log = join(dir, 'crash.log');
    const N = 40;
    const events = Array.from({ length: N }, (_, i) => pageEvent({ webhookId: `crash-${i}` }));
    const ids = events.map((e) => e.webhookId as string);

    // First life: slow handlers (2 at a time, 150 ms each), so most deliveries are still queued when it dies.
    const first = await startReceiver({ DB_PATH: db, LOG_PATH: log, DELAY_MS: '150', CONCURRENCY: '2' });
    // Each delivery twice at once, as a sender that retried too early would: one 202, one 200 duplicate.
    const statuses = await Promise.all(events.flatMap((e) => [send(first.port, e), send(first.port, e)]));
    expect(statuses.filter((s) => s === 202)).toHaveLength(N);
    expect(statuses.filter((s) => s === 200)).toHaveLength(N);

    await waitFor(() => readLog(log).done.size >= 3, 'a few deliveries were handled');
    await first.kill();
    const before = readLog(log);
    expect(before.done.size).toBeLessThan(N); // the crash really interrupted work

    // Second life: it re-queues what was accepted and not finished; the sender's retries are duplicates.
    const second = await startReceiver({ DB_PATH: db, LOG_PATH: log });
    const retries = await Promise.all(events.map((e) => send(second.port, e)));
    expect(retries).toEqual(Array(N).fill(200));
    await waitFor(() => ids.every((id) => readLog(log).done.has(id)), 'every delivery was handled');
    expect(await second.close()).toBe(0);

    const after = readLog(log);
    for (const id of ids) {
      const runs = after.done.get(id) ?? 0;
      expect(runs, id).toBeGreaterThanOrEqual(1);
      // At least once: only a delivery that had started before the kill may run twice.
      expect(runs, id).toBeLessThanOrEqual(before.started.has(id) ? 2 : 1);
    }
    // The graceful exit (close() then process.exit()) left nothing unfinished on disk.
    const reader = openDatabase(db, { mustExist: true, busyTimeoutMs: 1000, synchronous: 'full' });
    expect(countStates(reader)).toMatchObject({ queued: 0, running: 0, succeeded: N, dead: 0 });
    reader.close();
  });
});

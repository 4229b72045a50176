import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';
import { killChildren, send, startReceiver } from './child.ts';

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const IMPORTER = fileURLToPath(new URL('./fixtures/importer.ts', import.meta.url));

const ROWS = 20_000;
const BATCH = 100;
const BATCHES = ROWS / BATCH;
/** Where the first process is killed: right after writing this batch, before its checkpoint. */
const HOLD_AT = 120;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-import-crash-'));
});
afterEach(() => killChildren());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Kills an importing process in the middle of a large import, starts another, and checks that
 * every batch was written exactly once across both (the writer upserts by batch index), that the
 * second started from the checkpoint (at most one batch written twice: the one written and not yet
 * checkpointed when the first died), and that complete() ran once.
 */
async function crashAndResume(env: Record<string, string>, name: string): Promise<void> {
  const out = join(dir, `${name}-out.db`);
  const common = { ...env, OUT_PATH: out, ROWS: String(ROWS), BATCH: String(BATCH) };
  const first = await startReceiver({ ...common, HOLD_AT: String(HOLD_AT) }, 20_000, IMPORTER);
  expect(await send(first.port, { type: 'crawl.completed', id: 'big-job', webhookId: `wh-${name}` })).toBe(202);
  await first.line(/^holding \d+$/);
  await first.kill();

  const second = await startReceiver(common, 20_000, IMPORTER);
  await second.line(/^imported big-job$/, 30_000);
  expect(await second.close()).toBe(0);

  const db = new Sqlite(out, { readonly: true });
  try {
    const batches = db.prepare('SELECT idx, first_row, rows FROM batches ORDER BY idx').all() as { idx: number; first_row: number; rows: number }[];
    expect(batches).toHaveLength(BATCHES);
    expect(batches.every((b, i) => b.idx === i && b.first_row === i * BATCH && b.rows === BATCH)).toBe(true);
    const calls = db.prepare('SELECT idx, pid FROM calls ORDER BY n').all() as { idx: number; pid: number }[];
    const byFirst = calls.filter((c) => c.pid === first.pid).map((c) => c.idx);
    const bySecond = calls.filter((c) => c.pid === second.pid).map((c) => c.idx);
    expect(byFirst).toEqual(Array.from({ length: HOLD_AT + 1 }, (_, i) => i));
    // The second process began at the batch whose checkpoint the first never wrote, not at 0.
    expect(bySecond[0]).toBe(HOLD_AT);
    expect(bySecond).toEqual(Array.from({ length: BATCHES - HOLD_AT }, (_, i) => HOLD_AT + i));
    expect(calls.length).toBeLessThanOrEqual(BATCHES + 1);
    expect(db.prepare('SELECT job, pid FROM completes').all()).toEqual([{ job: 'big-job', pid: second.pid }]);
  } finally {
    db.close();
  }
}

describe('importRows() crash recovery', () => {
  it('with sqliteStore: after a SIGKILL mid-import, the restarted receiver resumes from the checkpoint, every batch written once', async () => {
    await crashAndResume({ DB_PATH: join(dir, 'hooks.db') }, 'sqlite');
  });

  describe.runIf(redisTestsEnabled('import-crash'))('with bullmqQueue', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(() => redis?.stop());

    it('after a SIGKILL mid-import, another process resumes the stalled delivery from the checkpoint in Redis', async () => {
      await crashAndResume({ BACKEND: 'bullmq', REDIS_URL: redis.url, QUEUE_NAME: 'imports' }, 'bullmq');
    });
  });
});

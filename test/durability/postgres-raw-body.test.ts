import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createReceiver, importRows, postgresQueue, type Batch, type Logger } from '../../src/index.ts';
import { sendRaw } from '../helpers/http.ts';
import { postgresTestsEnabled, startPostgres, type PostgresServer } from '../helpers/postgres.ts';
import { BODY, SHOUTED, shoutingProvider } from '../helpers/shouting-provider.ts';
import { SIGNATURE_HEADER, sign, signed, testProvider } from '../helpers/test-provider.ts';
import { numberedSource, type NumberedRow } from '../import/numbered-source.ts';

// On PostgreSQL, a delivery whose provider lets its body be kept is a job without a payload plus
// the body as received in scrapehook_body; a worker in another process validates it again. Import
// checkpoints live in scrapehook_state, per job.

describe.runIf(postgresTestsEnabled('postgres-raw-body'))('postgresQueue() keeping bodies as received, and import state', () => {
  let server: PostgresServer;
  let client: pg.Client;
  let queueCount = 0;
  let name: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    server = await startPostgres();
    client = new pg.Client(server.url);
    await client.connect();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await client?.end();
    await server?.stop();
  });

  interface OpenOptions {
    provider?: ReturnType<typeof shoutingProvider>;
    workers?: boolean;
    logger?: Logger;
    attempts?: number;
  }

  function receiver(options: OpenOptions = {}) {
    name = `raw-${++queueCount}`;
    return open(options);
  }

  function open({ provider = shoutingProvider(), workers = true, logger, attempts = 1 }: OpenOptions = {}) {
    const hooks = createReceiver({
      provider,
      retry: { attempts, minDelayMs: 3_600_000, maxDelayMs: 3_600_000 },
      ...(logger && { logger }),
      queue: postgresQueue({ connection: server.url, name, workers, countsIntervalMs: 50, pollIntervalMs: 50 }),
    });
    cleanups.push(() => hooks.close({ timeoutMs: 5000 }));
    return hooks;
  }

  async function post(hooks: ReturnType<typeof open>, body = BODY) {
    return sendRaw(hooks.nodeHandler(), { headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(body) }, body });
  }

  async function job(): Promise<{ id: string; data: Record<string, unknown> } | undefined> {
    const { rows } = await client.query<{ id: string; data: Record<string, unknown> }>('SELECT id, data FROM scrapehook.job WHERE name = $1', [name]);
    return rows[0];
  }
  async function bodies(): Promise<Buffer[]> {
    const { rows } = await client.query<{ bytes: Buffer }>('SELECT b.bytes FROM scrapehook.scrapehook_body b');
    return rows.map((row) => row.bytes);
  }

  it('commits the exact request bytes beside a job without payload (web tier), and deletes both once a worker elsewhere succeeded', async () => {
    await client.query('DELETE FROM scrapehook.scrapehook_body').catch(() => {});
    const web = receiver({ workers: false });
    expect((await post(web)).status).toBe(202);
    const kept = await job();
    expect(kept?.data).toMatchObject({ id: 'wh-raw-1', body: 'json', receiver: 'shout' });
    expect(kept?.data).not.toHaveProperty('payload');
    expect((await bodies()).map((b) => b.equals(Buffer.from(BODY)))).toEqual([true]);
    // Nothing runs in a web tier.
    expect(web.stats()).toMatchObject({ accepted: 1, succeeded: 0 });

    const worker = open();
    const payloads: unknown[] = [];
    worker.on('page.scraped', (event) => void payloads.push(event.payload));
    await worker.onIdle();
    expect(payloads).toEqual([SHOUTED]);
    expect(await job()).toBeUndefined();
    expect(await bodies()).toEqual([]);
    // A duplicate after that keeps nothing.
    expect((await post(web)).status).toBe(200);
    expect(await bodies()).toEqual([]);
  });

  it('keeps the body of a dead letter, shows it validated, and deletes it once a replay succeeded', async () => {
    const hooks = receiver();
    let fail = true;
    const payloads: unknown[] = [];
    hooks.on('page.scraped', (event) => {
      if (fail) throw new Error('not yet');
      payloads.push(event.payload);
    });
    expect((await post(hooks)).status).toBe(202);
    await hooks.onIdle();
    const [letter] = await hooks.deadLetters();
    expect(letter).toMatchObject({ id: 'wh-raw-1', attempts: 1, error: { type: 'handler.failed' }, event: { payload: SHOUTED } });
    expect(hooks.stats().dead).toBe(1);
    fail = false;
    await hooks.replay('wh-raw-1');
    expect(payloads).toEqual([SHOUTED]);
    expect(await hooks.deadLetters()).toEqual([]);
    await hooks.onIdle();
    expect(hooks.stats().dead).toBe(0);
    expect(await bodies()).toEqual([]);
  });

  it('makes a body that no longer passes its schema a dead letter with the validation error, shown decoded', async () => {
    const web = receiver({ workers: false });
    expect((await post(web)).status).toBe(202);
    const worker = open({ provider: shoutingProvider(z.string().max(5)) });
    let ran = false;
    worker.on('page.scraped', () => void (ran = true));
    await worker.onIdle();
    expect(ran).toBe(false);
    const [letter] = await worker.deadLetters();
    expect(letter).toMatchObject({ id: 'wh-raw-1', error: { type: 'payload.invalid' }, attempts: 1 });
    expect(letter!.event.payload).toEqual(JSON.parse(BODY));
    await expect(worker.replay('wh-raw-1')).rejects.toMatchObject({ type: 'payload.invalid' });
    expect(await worker.deadLetters()).toHaveLength(1);
  });

  it('keeps import checkpoints in PostgreSQL per job, resumes a retry from them, and keeps them an hour after success', async () => {
    name = `imp-${++queueCount}`;
    const hooks = createReceiver({
      provider: testProvider(),
      queue: postgresQueue({ connection: server.url, name, pollIntervalMs: 50 }),
      retry: { attempts: 3, minDelayMs: 1, maxDelayMs: 2 },
    });
    cleanups.push(() => hooks.close({ timeoutMs: 5000 }));
    const source = numberedSource({ rows: 50 });
    const calls: number[] = [];
    let failed = false;
    let seen: { value: string; ttlMs: number } | undefined;
    const state = async () =>
      (
        await client.query<{ value: string; ttl_ms: number }>(
          `SELECT value, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS ttl_ms FROM scrapehook.scrapehook_state WHERE queue = $1 AND key = 'import:numbers:job-a'`,
          [name],
        )
      ).rows[0];
    hooks.on(
      'crawl.completed',
      importRows(source, {
        batchSize: 10,
        async write(_rows: NumberedRow[], batch: Batch<NumberedRow>) {
          calls.push(batch.index);
          if (batch.index === 3 && !failed) {
            failed = true;
            const row = await state();
            seen = { value: row!.value, ttlMs: row!.ttl_ms };
            throw new Error('the database is down');
          }
        },
      }),
    );
    const { body, headers } = signed({ type: 'crawl.completed', id: 'job-a', webhookId: 'wh-a' });
    expect((await sendRaw(hooks.nodeHandler(), { headers, body })).status).toBe(202);
    await hooks.onIdle();
    expect(seen!.ttlMs).toBeGreaterThan(24 * 60 * 60 * 1000);
    expect(JSON.parse(seen!.value)).toMatchObject({ jobId: 'job-a', batches: 3, rows: 30 });
    expect(calls).toEqual([0, 1, 2, 3, 3, 4]);
    expect(source.calls.reads).toEqual([undefined, 3]);
    // Succeeded: kept an hour more for `scrapehook imports`, then gone.
    const after = await state();
    expect(after!.ttl_ms).toBeGreaterThan(0);
    expect(after!.ttl_ms).toBeLessThanOrEqual(60 * 60 * 1000);
  });

  it('keeps import sets shared by the instances of a receiver, with their TTL', async () => {
    name = `sets-${++queueCount}`;
    const queue = () => postgresQueue({ connection: server.url, name, pollIntervalMs: 50 });
    const seen: Record<string, string[]> = {};
    const [a, b] = [createReceiver({ provider: testProvider(), queue: queue() }), createReceiver({ provider: testProvider(), queue: queue() })];
    for (const hooks of [a, b]) cleanups.push(() => hooks.close({ timeoutMs: 5000 }));
    a.onAny(async (event, ctx) => {
      await ctx.importState!.addToSet('ids', [event.id, 'shared'], 60_000);
      seen[event.id] = (await ctx.importState!.members('ids')).sort();
    });
    b.onAny(async (event, ctx) => {
      await ctx.importState!.addToSet('ids', [event.id], 60_000);
      seen[event.id] = (await ctx.importState!.members('ids')).sort();
    });
    expect((await sendRaw(a.nodeHandler(), signed({ type: 'crawl.page', id: 'x', webhookId: 'one', data: [] }))).status).toBe(202);
    await a.onIdle();
    expect((await sendRaw(b.nodeHandler(), signed({ type: 'crawl.page', id: 'x', webhookId: 'two', data: [] }))).status).toBe(202);
    await b.onIdle();
    const all = [...Object.values(seen)].at(-1);
    expect(all).toEqual(['one', 'shared', 'two']);
  });
});

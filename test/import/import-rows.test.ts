import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver, importRows, memoryStore, sqliteStore, type AnyProvider, type Batch, type Logger, type Receiver, type Store } from '../../src/index.ts';
import { sendRaw } from '../helpers/http.ts';
import { signed, testProvider } from '../helpers/test-provider.ts';
import { numberedSource, type NumberedRow } from './numbered-source.ts';

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-import-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open: Receiver<AnyProvider>[] = [];
afterEach(async () => {
  for (const hooks of open.splice(0)) await hooks.close({ timeoutMs: 0 });
});

type Line = { level: string; obj: Record<string, unknown>; msg: string | undefined };

function captureLogger(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void =>
      void lines.push(typeof obj === 'string' ? { level, obj: {}, msg: obj } : { level, obj: obj as Record<string, unknown>, msg });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

function receiver(options: { store?: Store; logger?: Logger; attempts?: number; name?: string } = {}) {
  const hooks = createReceiver({
    provider: testProvider(),
    ...(options.name ? { name: options.name } : {}),
    store: options.store ?? memoryStore(),
    retry: { attempts: options.attempts ?? 3, minDelayMs: 1, maxDelayMs: 2 },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  open.push(hooks as unknown as Receiver<AnyProvider>);
  return hooks;
}

const completed = (id: string, webhookId = `wh-${id}`) => ({ type: 'crawl.completed', id, webhookId });

async function post<P extends AnyProvider>(hooks: Receiver<P>, body: unknown): Promise<number> {
  return (await sendRaw(hooks.nodeHandler(), signed(body))).status;
}

/** A writer that upserts by batch index, and counts its calls. */
function upserts(options: { failAt?: number } = {}) {
  const written = new Map<number, NumberedRow[]>();
  const calls: number[] = [];
  let failed = false;
  return {
    written,
    calls,
    async write(rows: NumberedRow[], batch: Batch<NumberedRow>) {
      calls.push(batch.index);
      if (batch.index === options.failAt && !failed) {
        failed = true;
        throw new Error('the database is down');
      }
      written.set(batch.index, rows);
    },
  };
}

describe('importRows()', () => {
  it('imports every batch of the job an event points at, after the 202, with progress in stats() and the logger', async () => {
    const { logger, lines } = captureLogger();
    const hooks = receiver({ logger });
    const source = numberedSource({ rows: 2500 });
    const writer = upserts();
    const seen: unknown[] = [];
    hooks.on(
      'crawl.completed',
      importRows(source, {
        batchSize: 1000,
        async write(rows, batch, ctx) {
          seen.push({ type: ctx.event.type, signal: ctx.signal instanceof AbortSignal });
          await writer.write(rows, batch);
        },
      }),
    );
    expect(await post(hooks, completed('job-1'))).toBe(202);
    await hooks.onIdle();

    expect([...writer.written.keys()]).toEqual([0, 1, 2]);
    expect(writer.written.get(2)).toHaveLength(500);
    expect(writer.written.get(1)![0]).toEqual({ n: 1000, job: 'job-1' });
    expect(seen[0]).toEqual({ type: 'crawl.completed', signal: true });
    expect(source.calls.completed).toEqual(['job-1']);
    expect(hooks.stats().imports).toEqual([
      expect.objectContaining({ provider: 'numbers', jobId: 'job-1', deliveryId: 'wh-job-1', state: 'done', rows: 2500, bytes: 25_000, batches: 3 }),
    ]);
    expect(lines.filter((l) => l.level === 'debug' && l.msg === 'scrapehook: imported a batch')).toHaveLength(3);
    const job = lines.filter((l) => l.level === 'info' && l.msg === 'scrapehook: imported a job');
    expect(job).toEqual([{ level: 'info', obj: expect.objectContaining({ jobId: 'job-1', rows: 2500, bytes: 25_000, batches: 3, ms: expect.any(Number) }), msg: expect.any(String) }]);
  });

  it('does nothing for an event that points at nothing to import (logged at debug)', async () => {
    const { logger, lines } = captureLogger();
    const hooks = receiver({ logger });
    const writer = upserts();
    hooks.on('crawl.started', importRows(numberedSource({ rows: 10 }), { write: writer.write }));
    expect(await post(hooks, { type: 'crawl.started', id: 'job-2', webhookId: 'wh-started' })).toBe(202);
    await hooks.onIdle();
    expect(writer.calls).toEqual([]);
    expect(hooks.stats()).toMatchObject({ succeeded: 1, imports: [] });
    expect(lines.some((l) => l.level === 'debug' && l.msg === 'scrapehook: nothing to import for this event')).toBe(true);
  });

  it('resumes a retry after the last batch written, not from the start', async () => {
    const hooks = receiver();
    const source = numberedSource({ rows: 50 });
    const writer = upserts({ failAt: 3 });
    hooks.on('crawl.completed', importRows(source, { batchSize: 10, write: writer.write }));
    expect(await post(hooks, completed('job-3'))).toBe(202);
    await hooks.onIdle();

    expect(hooks.stats()).toMatchObject({ retried: 1, succeeded: 1 });
    // Batches 0-2 once, 3 failed then written, 4 once: the retry read from the checkpoint.
    expect(writer.calls).toEqual([0, 1, 2, 3, 3, 4]);
    expect(source.calls.reads).toEqual([undefined, 3]);
    expect(source.calls.completed).toEqual(['job-3']);
    expect(hooks.stats().imports[0]).toMatchObject({ state: 'done', rows: 50, batches: 5 });
  });

  it('retries a retryable ImportError from the checkpoint with the receiver backoff', async () => {
    const hooks = receiver();
    const source = numberedSource({ rows: 40 });
    const writer = upserts();
    hooks.on('crawl.completed', importRows(source, { batchSize: 10, write: writer.write }));
    expect(await post(hooks, completed('flaky-1'))).toBe(202);
    await hooks.onIdle();
    expect(hooks.stats()).toMatchObject({ retried: 1, succeeded: 1, dead: 0 });
    expect(writer.calls).toEqual([0, 1, 2, 3]);
    expect(source.calls.reads).toEqual([undefined, 2]);
  });

  it('makes a dead letter at once of a non-retryable ImportError, with its message, and replay runs it again', async () => {
    const hooks = receiver({ attempts: 5 });
    let gone = true;
    const source = numberedSource({ rows: 20 });
    const read = source.read.bind(source);
    // The job comes back (say the token was fixed): the replay imports it.
    source.read = (ref, options) => read(gone ? ref : { jobId: 'back' }, options);
    const writer = upserts();
    hooks.on('crawl.completed', importRows(source, { batchSize: 10, write: writer.write }));
    expect(await post(hooks, completed('gone-7'))).toBe(202);
    await hooks.onIdle();

    expect(hooks.stats()).toMatchObject({ retried: 0, dead: 1 });
    const [letter] = await hooks.deadLetters();
    expect(letter).toMatchObject({ id: 'wh-gone-7', attempts: 1, error: { type: 'handler.failed', message: expect.stringContaining('numbers: job gone-7 is gone (404)') } });
    expect(hooks.stats().imports[0]).toMatchObject({ jobId: 'gone-7', state: 'failed', rows: 0 });

    gone = false;
    await hooks.replay('wh-gone-7');
    expect(await hooks.deadLetters()).toEqual([]);
    expect(writer.calls).toEqual([0, 1]);
    expect(source.calls.completed).toEqual(['gone-7']);
  });

  it('does not import again, nor complete again, when the delivery runs again after the import was done', async () => {
    const hooks = receiver({ attempts: 1 });
    const source = numberedSource({ rows: 30 });
    const writer = upserts();
    hooks.on('crawl.completed', importRows(source, { batchSize: 10, write: writer.write }));
    // Another handler of the same event fails: the delivery is a dead letter, the import is done.
    let failing = true;
    hooks.on('crawl.completed', () => {
      if (failing) throw new Error('the notifier is down');
    });
    expect(await post(hooks, completed('job-4'))).toBe(202);
    await hooks.onIdle();
    expect(hooks.stats().dead).toBe(1);
    expect(writer.calls).toEqual([0, 1, 2]);

    failing = false;
    await hooks.replay('wh-job-4');
    expect(writer.calls).toEqual([0, 1, 2]);
    expect(source.calls.completed).toEqual(['job-4']);
    expect(source.calls.reads).toEqual([undefined]);
  });

  it('checks its options', () => {
    const source = numberedSource({ rows: 1 });
    expect(() => importRows(source, { batchSize: 0, write() {} })).toThrow(new TypeError('Expected `batchSize` to be a positive integer, got 0'));
    expect(() => importRows(source, {} as never)).toThrow(TypeError);
    expect(() => importRows({} as never, { write() {} })).toThrow(/Expected `source` to be an import source/);
  });
});

describe('import state in memoryStore()', () => {
  it('keeps receivers apart, shares sets across deliveries, and drops a delivery’s values when it succeeds', async () => {
    const store = memoryStore();
    const a = store.forReceiver!('a');
    const b = store.forReceiver!('b');
    const delivery = { id: 'same', type: 'crawl.completed', provider: 'test', payload: {}, receivedAt: new Date() };
    a.accept(delivery, 60_000);
    b.accept(delivery, 60_000);
    await a.importState!('same').set('k', 'of a', 60_000);
    await b.importState!('same').set('k', 'of b', 60_000);
    await a.importState!('same').addToSet('pages', ['1'], 60_000);
    await a.importState!('next').addToSet('pages', ['2'], 60_000);
    expect(await a.importState!('same').get('k')).toBe('of a');
    expect(await a.importState!('other').get('k')).toBeUndefined();
    expect((await a.importState!('other').members('pages')).sort()).toEqual(['1', '2']);
    expect(await b.importState!('same').members('pages')).toEqual([]);
    a.update('same', { state: 'succeeded', attempts: 1 });
    expect(await a.importState!('same').get('k')).toBeUndefined();
    expect(await b.importState!('same').get('k')).toBe('of b');
  });
});

describe('import state in sqliteStore()', () => {
  it('keeps the checkpoint in the file: a receiver opened on it later resumes a replayed dead letter after its last batch', async () => {
    const path = join(dir, 'resume.db');
    const source = numberedSource({ rows: 60 });
    const writer = upserts({ failAt: 3 });
    const first = receiver({ store: sqliteStore({ path }), attempts: 1 });
    first.on('crawl.completed', importRows(source, { batchSize: 10, write: writer.write }));
    expect(await post(first, completed('job-5'))).toBe(202);
    await first.onIdle();
    expect(first.stats().dead).toBe(1);
    await first.close();
    const peek = new Sqlite(path, { readonly: true });
    expect(JSON.parse(peek.prepare("SELECT value FROM import_values WHERE key = 'import:numbers:job-5'").pluck().get() as string)).toMatchObject({
      provider: 'numbers',
      jobId: 'job-5',
      batches: 3,
      rows: 30,
      done: false,
    });
    peek.close();

    const second = receiver({ store: sqliteStore({ path }) });
    second.on('crawl.completed', importRows(source, { batchSize: 10, write: writer.write }));
    await second.replay('wh-job-5');
    expect(writer.calls).toEqual([0, 1, 2, 3, 3, 4, 5]);
    expect(source.calls.reads).toEqual([undefined, 3]);
    expect([...writer.written.keys()]).toEqual([0, 1, 2, 3, 4, 5]);
    expect(second.stats().imports[0]).toMatchObject({ state: 'done', rows: 60, batches: 6 });
  });

  it('deletes checkpoints with their delivery, and keeps the state of receivers sharing the file apart', async () => {
    const path = join(dir, 'shared.db');
    const store = sqliteStore({ path, retentionMs: 0 });
    const a = store.forReceiver('a');
    const b = store.forReceiver('b');
    const delivery = { id: 'same', type: 'crawl.completed', provider: 'test', payload: {}, receivedAt: new Date() };
    expect(await a.accept(delivery, 60_000)).toBe(true);
    expect(await b.accept(delivery, 60_000)).toBe(true);
    await a.importState!('same').set('k', 'of a', 60_000);
    await b.importState!('same').set('k', 'of b', 60_000);
    await a.importState!('same').addToSet('pages', ['1', '2'], 60_000);
    await b.importState!('same').addToSet('pages', ['3'], 60_000);
    expect(await a.importState!('same').get('k')).toBe('of a');
    expect(await b.importState!('same').get('k')).toBe('of b');
    expect((await a.importState!('same').members('pages')).sort()).toEqual(['1', '2']);
    expect(await b.importState!('other').members('pages')).toEqual(['3']);
    await a.importState!('same').set('gone soon', 'x', 1);
    await new Promise((resolve) => setImmediate(resolve));

    // a's delivery succeeds (retention 0: its row is deleted at once), and its values with it.
    a.update('same', { state: 'succeeded', attempts: 1 });
    b.update('same', { state: 'running', attempts: 1 });
    b.unfinished(); // flushes
    const peek = new Sqlite(path, { readonly: true });
    expect(peek.prepare('SELECT value FROM import_values ORDER BY value').pluck().all()).toEqual(['of b']);
    peek.close();
    expect(await b.importState!('same').get('k')).toBe('of b');
    a.close();
    b.close();
  });

  it('migrates a schema 4 file: its deliveries keep running and get import state', async () => {
    const path = join(dir, 'v4.db');
    // A schema 4 file as the previous release wrote it, with a delivery left unfinished.
    const old = new Sqlite(path);
    old.exec(`
      CREATE TABLE deliveries (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL, provider TEXT NOT NULL, received_at INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'dead')), attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
        updated_at INTEGER NOT NULL, receiver TEXT NOT NULL DEFAULT '');
      CREATE TABLE contents (seq INTEGER PRIMARY KEY, payload TEXT, body BLOB, body_type TEXT);
      CREATE TRIGGER deliveries_contents AFTER DELETE ON deliveries BEGIN DELETE FROM contents WHERE seq = OLD.seq; END;
      CREATE INDEX deliveries_dead ON deliveries (id) WHERE state = 'dead';
      CREATE INDEX deliveries_succeeded ON deliveries (updated_at) WHERE state = 'succeeded';
      CREATE TABLE dedupe (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, expires_at INTEGER NOT NULL, receiver TEXT);
      CREATE TABLE requeued (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL);
      INSERT INTO deliveries VALUES (1, 'wh-old', 'crawl.completed', 'test', 0, 'running', 1, NULL, 0, 'test');
      INSERT INTO contents VALUES (1, '{"type":"crawl.completed","id":"job-old","webhookId":"wh-old"}', NULL, NULL);
    `);
    old.pragma('user_version = 4');
    old.close();

    const hooks = receiver({ store: sqliteStore({ path, retentionMs: 0 }) });
    const writer = upserts();
    hooks.on('crawl.completed', importRows(numberedSource({ rows: 25 }), { batchSize: 10, write: writer.write }));
    await hooks.onIdle();
    expect(writer.calls).toEqual([0, 1, 2]);
    await hooks.close();
    const reopened = new Sqlite(path, { readonly: true });
    expect(reopened.pragma('user_version', { simple: true })).toBe(6);
    // Succeeded with retention 0: the delivery and its checkpoint are gone.
    expect(reopened.prepare('SELECT COUNT(*) FROM import_values').pluck().get()).toBe(0);
    reopened.close();
  });
});

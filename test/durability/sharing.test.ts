import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createReceiver, memoryStore, sqliteStore, type AnyProvider, type Receiver } from '../../src/index.ts';
import { bullmqQueue } from '../../src/queue/bullmq-queue.ts';
import { sendRaw } from '../helpers/http.ts';
import { redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';
import { SHOUTED, shoutingProvider } from '../helpers/shouting-provider.ts';
import { deferred, pageEvent, signed, testProvider } from '../helpers/test-provider.ts';
import { runCli as cli } from '../helpers/cli.ts';

// An app receiving from several providers passes one store (or one Redis) to several receivers.
// Each receiver must recover, list, replay, dedupe and count only its own deliveries.

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

/** The same dedupe id from both senders: ids of two providers may collide. */
const SAME_ID = 'wh-same';

const shoutBody = (webhookId = SAME_ID) => ({ type: 'page.scraped', webhookId, markdown: 'shout' });

const open: Receiver<AnyProvider>[] = [];

function track<P extends AnyProvider>(hooks: Receiver<P>): Receiver<P> {
  open.push(hooks as unknown as Receiver<AnyProvider>);
  return hooks;
}

afterEach(async () => {
  for (const hooks of open.splice(0)) await hooks.close({ timeoutMs: 0 });
});

async function post<P extends AnyProvider>(hooks: Receiver<P>, body: unknown): Promise<number> {
  return (await sendRaw(hooks.nodeHandler(), signed(body))).status;
}

/** Handlers that hang until the receiver closes: what they run stays unfinished in the backend. */
function hang<P extends AnyProvider>(hooks: Receiver<P>): Promise<void> {
  const started = deferred();
  hooks.onAny((_event, ctx) => {
    started.resolve();
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  });
  return started.promise;
}

/** Records the ids (and payloads) each receiver ran. */
function record<P extends AnyProvider>(hooks: Receiver<P>): unknown[] {
  const ran: unknown[] = [];
  hooks.onAny((event) => void ran.push(event.payload));
  return ran;
}

describe('receiver names', () => {
  it('default to the provider name and must be unique on one store', async () => {
    const store = memoryStore();
    const a = track(createReceiver({ provider: testProvider(), store }));
    expect(a.name).toBe('test');
    expect(() => createReceiver({ provider: testProvider(), store })).toThrow(TypeError);
    expect(() => createReceiver({ provider: testProvider(), store })).toThrow(/second receiver named "test".*`name`/);
    const b = track(createReceiver({ provider: testProvider(), store, name: 'test-team-b' }));
    expect(b.name).toBe('test-team-b');
    expect(() => createReceiver({ provider: testProvider(), name: 'a:b' })).toThrow(TypeError);
    expect(() => createReceiver({ provider: testProvider(), name: '' })).toThrow(/`name`/);
  });

  it('a store without forReceiver() serves one receiver: a second is a TypeError', () => {
    const { forReceiver: _scoped, ...plain } = { ...memoryStore() };
    track(createReceiver({ provider: testProvider(), store: plain }));
    expect(() => createReceiver({ provider: shoutingProvider(), store: plain })).toThrow(/store of its own for receiver "shout"/);
  });
});

describe('one SQLite file for several receivers', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'scrapehook-sharing-'));
    path = join(dir, 'hooks.db');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the same dedupe id from two providers, once each', async () => {
    const store = sqliteStore({ path });
    const a = track(createReceiver({ provider: testProvider(), store }));
    const b = track(createReceiver({ provider: shoutingProvider(), store }));
    expect(await post(a, pageEvent({ webhookId: SAME_ID }))).toBe(202);
    expect(await post(b, shoutBody())).toBe(202);
    expect(await post(a, pageEvent({ webhookId: SAME_ID }))).toBe(200);
    expect(await post(b, shoutBody())).toBe(200);
  });

  it('after a crash, each receiver recovers only its own deliveries (none is checked against another’s schema)', async () => {
    const store = sqliteStore({ path });
    const a = track(createReceiver({ provider: testProvider(), store, dedupe: false }));
    const b = track(createReceiver({ provider: shoutingProvider(), store, dedupe: false }));
    const started = [hang(a), hang(b)];
    expect(await post(a, pageEvent({ webhookId: SAME_ID }))).toBe(202);
    expect(await post(b, shoutBody())).toBe(202);
    await Promise.all(started);
    await a.close({ timeoutMs: 0 });
    await b.close({ timeoutMs: 0 });

    const restarted = sqliteStore({ path });
    const a2 = track(createReceiver({ provider: testProvider(), store: restarted }));
    const b2 = track(createReceiver({ provider: shoutingProvider(), store: restarted }));
    const ranA = record(a2);
    const ranB = record(b2);
    await Promise.all([a2.onIdle(), b2.onIdle()]);
    expect(ranA).toEqual([expect.objectContaining({ type: 'crawl.page', webhookId: SAME_ID })]);
    expect(ranB).toEqual([{ type: 'page.scraped', webhookId: SAME_ID, markdown: 'SHOUT' }]);
    expect(await a2.deadLetters()).toEqual([]);
    expect(await b2.deadLetters()).toEqual([]);
  });

  it('stats().dead counts the dead letters kept in the file, after a restart too', async () => {
    const hooks = track(createReceiver({ provider: testProvider(), store: sqliteStore({ path }), retry: { attempts: 1 } }));
    hooks.onAny(() => {
      throw new Error('down');
    });
    for (const webhookId of ['d-1', 'd-2']) expect(await post(hooks, pageEvent({ webhookId }))).toBe(202);
    await hooks.onIdle();
    expect(hooks.stats().dead).toBe(2);
    await hooks.close();
    const restarted = track(createReceiver({ provider: testProvider(), store: sqliteStore({ path }) }));
    await restarted.onIdle();
    expect(restarted.stats().dead).toBe(2);
    expect(JSON.parse((await cli(['stats', '--sqlite', path, '--json'])).stdout)).toMatchObject({ dead: 2 });
  });

  it('each receiver lists, replays and counts only its own dead letters, also with a store each; stats().dead survives a restart', async () => {
    const store = sqliteStore({ path });
    const a = track(createReceiver({ provider: testProvider(), store, retry: { attempts: 1 } }));
    const b = track(createReceiver({ provider: shoutingProvider(), store, retry: { attempts: 1 } }));
    for (const hooks of [a, b]) {
      hooks.onAny(() => {
        throw new Error('down');
      });
    }
    for (const webhookId of ['a-1', 'a-2']) expect(await post(a, pageEvent({ webhookId }))).toBe(202);
    expect(await post(b, shoutBody('b-1'))).toBe(202);
    await Promise.all([a.onIdle(), b.onIdle()]);
    expect((await a.deadLetters()).map((l) => l.id)).toEqual(['a-1', 'a-2']);
    expect((await b.deadLetters()).map((l) => l.id)).toEqual(['b-1']);
    expect([a.stats().dead, b.stats().dead]).toEqual([2, 1]);
    await a.close();
    await b.close();

    // Restarted with a store object each on the same file.
    const a2 = track(createReceiver({ provider: testProvider(), store: sqliteStore({ path }) }));
    const b2 = track(createReceiver({ provider: shoutingProvider(), store: sqliteStore({ path, pollIntervalMs: 20 }) }));
    await Promise.all([a2.onIdle(), b2.onIdle()]);
    expect([a2.stats().dead, b2.stats().dead]).toEqual([2, 1]);
    expect((await b2.deadLetters()).map((l) => l.id)).toEqual(['b-1']);
    await expect(a2.replay('b-1')).rejects.toThrow(RangeError);

    const ranA = record(a2);
    await a2.replay('a-1');
    expect(ranA).toEqual([expect.objectContaining({ webhookId: 'a-1' })]);
    expect(a2.stats().dead).toBe(1);

    // A replay from outside (the CLI) for one receiver only: the other's dead letters stay.
    const ranB = deferred<unknown>();
    b2.onAny((event) => ranB.resolve(event.payload));
    expect(await cli(['replay', '--all', '--sqlite', path, '--receiver', 'shout', '--json'])).toMatchObject({ code: 0, stdout: '{"replayed":["b-1"],"missing":[]}\n' });
    expect(await ranB.promise).toEqual({ ...SHOUTED, webhookId: 'b-1', markdown: 'SHOUT' });
    await b2.onIdle();
    expect(b2.stats().dead).toBe(0);
    expect(a2.stats().dead).toBe(1);
    expect((await a2.deadLetters()).map((l) => l.id)).toEqual(['a-2']);
  });

  it('refuses a second receiver with the same name on the same file in this process', () => {
    track(createReceiver({ provider: testProvider(), store: sqliteStore({ path }) }));
    const other = sqliteStore({ path });
    expect(() => createReceiver({ provider: testProvider(), store: other })).toThrow(/second receiver named "test"/);
    other.close();
  });

  it('migrates a schema 3 file: its deliveries belong to the receiver named after their provider, its dedupe ids hold for all', async () => {
    const db = new Sqlite(path);
    db.pragma('journal_mode = WAL');
    db.exec(`
      CREATE TABLE deliveries (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL, provider TEXT NOT NULL,
        received_at INTEGER NOT NULL, state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0, error TEXT, updated_at INTEGER NOT NULL);
      CREATE TABLE contents (seq INTEGER PRIMARY KEY, payload TEXT, body BLOB, body_type TEXT);
      CREATE TRIGGER deliveries_contents AFTER DELETE ON deliveries BEGIN DELETE FROM contents WHERE seq = OLD.seq; END;
      CREATE INDEX deliveries_dead ON deliveries (id) WHERE state = 'dead';
      CREATE INDEX deliveries_succeeded ON deliveries (updated_at) WHERE state = 'succeeded';
      CREATE TABLE dedupe (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE TABLE requeued (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL);
    `);
    db.prepare("INSERT INTO deliveries (seq, id, type, provider, received_at, state, attempts, updated_at) VALUES (1, 'old-shout', 'page.scraped', 'shout', 1, 'running', 1, 1)").run();
    db.prepare("INSERT INTO contents (seq, body, body_type) VALUES (1, ?, 'json')").run(Buffer.from(JSON.stringify(shoutBody('old-shout'))));
    const dead = pageEvent({ webhookId: 'old-dead' });
    db.prepare(
      `INSERT INTO deliveries (seq, id, type, provider, received_at, state, attempts, error, updated_at)
       VALUES (2, 'old-dead', 'crawl.page', 'test', 2, 'dead', 5, '{"type":"handler.failed","message":"down"}', 2)`,
    ).run();
    db.prepare('INSERT INTO contents (seq, payload) VALUES (2, ?)').run(JSON.stringify(dead));
    db.prepare("INSERT INTO dedupe (id, expires_at) VALUES ('old-id', ?)").run(Date.now() + 3_600_000);
    db.pragma('user_version = 3');
    db.close();

    const store = sqliteStore({ path });
    const a = track(createReceiver({ provider: testProvider(), store }));
    const b = track(createReceiver({ provider: shoutingProvider(), store }));
    const ranA = record(a);
    const ranB = record(b);
    await Promise.all([a.onIdle(), b.onIdle()]);
    expect(ranB).toEqual([{ type: 'page.scraped', webhookId: 'old-shout', markdown: 'SHOUT' }]);
    expect(ranA).toEqual([]);
    expect((await a.deadLetters()).map((l) => l.id)).toEqual(['old-dead']);
    expect(await b.deadLetters()).toEqual([]);
    expect([a.stats().dead, b.stats().dead]).toEqual([1, 0]);
    // An id claimed before the migration, by whichever receiver, stays a duplicate for all.
    expect(await post(a, pageEvent({ webhookId: 'old-id' }))).toBe(200);
    expect(await post(b, shoutBody('old-id'))).toBe(200);
    await a.close();
    await b.close();
    const reopened = new Sqlite(path, { readonly: true });
    expect(reopened.pragma('user_version', { simple: true })).toBe(6);
    reopened.close();
  });
});

describe.runIf(redisTestsEnabled('sharing'))('one Redis for several receivers', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('gives each receiver a queue of its own by default: no receiver runs another’s jobs', async () => {
    const a = track(createReceiver({ provider: testProvider(), queue: bullmqQueue({ connection: redis.url }) }));
    // b only accepts: if the two shared a queue, a's worker would run b's delivery.
    const b = track(createReceiver({ provider: shoutingProvider(), queue: bullmqQueue({ connection: redis.url, workers: false }) }));
    const ranA = record(a);
    expect(await post(a, pageEvent({ webhookId: SAME_ID }))).toBe(202);
    expect(await post(b, shoutBody())).toBe(202);
    await a.onIdle();
    expect(ranA).toEqual([expect.objectContaining({ type: 'crawl.page', webhookId: SAME_ID })]);
    expect(await a.deadLetters()).toEqual([]);
    await b.close();

    // b's delivery waited in its own queue for a receiver of b that runs handlers.
    const b2 = track(createReceiver({ provider: shoutingProvider(), queue: bullmqQueue({ connection: redis.url }) }));
    const ranB = record(b2);
    await b2.onIdle();
    expect(ranB).toEqual([{ type: 'page.scraped', webhookId: SAME_ID, markdown: 'SHOUT' }]);
  });

  it('stats().dead counts the dead letters kept in Redis, after a restart too', async () => {
    const queue = () => bullmqQueue({ connection: redis.url, name: 'dead-count' });
    const hooks = track(createReceiver({ provider: testProvider(), retry: { attempts: 1 }, queue: queue() }));
    hooks.onAny(() => {
      throw new Error('down');
    });
    for (const webhookId of ['d-1', 'd-2']) expect(await post(hooks, pageEvent({ webhookId }))).toBe(202);
    await hooks.onIdle();
    expect(hooks.stats().dead).toBe(2);
    await hooks.close();
    const restarted = track(createReceiver({ provider: testProvider(), queue: queue() }));
    await restarted.onIdle();
    expect(restarted.stats().dead).toBe(2);
  });

  it('counts and lists each receiver’s own dead letters; stats().dead survives a restart', async () => {
    const failing = <P extends AnyProvider>(hooks: Receiver<P>) =>
      hooks.onAny(() => {
        throw new Error('down');
      });
    const a = track(createReceiver({ provider: testProvider(), name: 'dead-a', retry: { attempts: 1 }, queue: bullmqQueue({ connection: redis.url }) }));
    const b = track(createReceiver({ provider: shoutingProvider(), name: 'dead-b', retry: { attempts: 1 }, queue: bullmqQueue({ connection: redis.url }) }));
    failing(a);
    failing(b);
    for (const webhookId of ['a-1', 'a-2']) expect(await post(a, pageEvent({ webhookId }))).toBe(202);
    expect(await post(b, shoutBody('b-1'))).toBe(202);
    await Promise.all([a.onIdle(), b.onIdle()]);
    expect((await a.deadLetters()).map((l) => l.id).sort()).toEqual(['a-1', 'a-2']);
    expect((await b.deadLetters()).map((l) => l.id)).toEqual(['b-1']);
    expect([a.stats().dead, b.stats().dead]).toEqual([2, 1]);
    await a.close();
    await b.close();

    const a2 = track(createReceiver({ provider: testProvider(), name: 'dead-a', queue: bullmqQueue({ connection: redis.url }) }));
    await a2.onIdle();
    expect(a2.stats().dead).toBe(2);
    await expect(a2.replay('b-1')).rejects.toThrow(RangeError);
  });

  it('refuses one bullmqQueue for two receivers, and two receivers on one queue name in a process', () => {
    const queue = bullmqQueue({ connection: redis.url, workers: false });
    track(createReceiver({ provider: testProvider(), queue }));
    expect(() => createReceiver({ provider: shoutingProvider(), queue })).toThrow(TypeError);
    expect(() => createReceiver({ provider: shoutingProvider(), queue })).toThrow(/bullmqQueue\(\) of its own for receiver "shout"/);
    track(createReceiver({ provider: testProvider(), name: 'one', queue: bullmqQueue({ connection: redis.url, name: 'shared', workers: false }) }));
    expect(() => createReceiver({ provider: testProvider(), name: 'two', queue: bullmqQueue({ connection: redis.url, name: 'shared', workers: false }) })).toThrow(
      /queue shared serves receiver "one"/,
    );
  });
});

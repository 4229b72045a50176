import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sqliteStore, type SqliteStore, type SqliteStoreOptions } from '../../../src/store/sqlite-store.ts';
import { countStates, openDatabase, requeueDeadLetters } from '../../../src/store/sqlite/database.ts';
import type { StoredDelivery } from '../../../src/store/types.ts';
import type { Delivery } from '../../../src/types.ts';

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const TTL = 60_000;

let dir: string;
let path: string;
const open: SqliteStore[] = [];

function store(options: Partial<SqliteStoreOptions> = {}): SqliteStore {
  const s = sqliteStore({ path, ...options });
  open.push(s);
  return s;
}

let n = 0;
function delivery(overrides: Partial<Delivery> = {}): Delivery {
  n++;
  return {
    id: `wh-${n}`,
    type: 'crawl.page',
    provider: 'test',
    payload: { type: 'crawl.page', webhookId: `wh-${n}`, data: [{ markdown: '“scraped” — café 中文', n: 1.5, ok: true, none: null }] },
    receivedAt: new Date(1_700_000_000_123 + n),
    ...overrides,
  };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-sqlite-'));
  path = join(dir, 'hooks.db');
});

afterEach(() => {
  vi.useRealTimers();
  for (const s of open.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sqliteStore()', () => {
  it('throws a TypeError for a missing path or an out-of-range option', () => {
    expect(() => sqliteStore({ path: '' })).toThrow(TypeError);
    expect(() => sqliteStore({ path: ':memory:' })).toThrow(/memoryStore/);
    expect(() => sqliteStore({} as SqliteStoreOptions)).toThrow(TypeError);
    expect(() => sqliteStore({ path, retentionMs: -1 })).toThrow(/retentionMs/);
    expect(() => sqliteStore({ path, pollIntervalMs: 0 })).toThrow(/pollIntervalMs/);
    expect(() => sqliteStore({ path, synchronous: 'off' as 'full' })).toThrow(/synchronous/);
  });

  it('says which file it could not open', () => {
    const missing = join(dir, 'no-such-dir', 'hooks.db');
    expect(() => sqliteStore({ path: missing })).toThrow(missing);
  });

  it('creates the file in WAL mode', () => {
    store();
    const db = new Sqlite(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('refuses a database written by a newer version', () => {
    const db = new Sqlite(path);
    db.pragma('user_version = 99');
    db.close();
    expect(() => sqliteStore({ path })).toThrow(/newer scrapehook/);
  });
});

describe('.accept()', () => {
  it('resolves true once the delivery is committed: another connection sees it queued', async () => {
    const s = store();
    const d = delivery();
    await expect(s.accept(d, TTL)).resolves.toBe(true);
    const reader = new Sqlite(path, { readonly: true });
    expect(reader.prepare('SELECT id, state, attempts FROM deliveries').all()).toEqual([{ id: d.id, state: 'queued', attempts: 0 }]);
    reader.close();
  });

  it('round-trips the payload and receivedAt (a Date)', async () => {
    const s = store();
    const d = delivery();
    await s.accept(d, TTL);
    const [stored] = s.unfinished() as StoredDelivery[];
    expect(stored).toEqual({ ...d, state: 'queued', attempts: 0 });
    expect(stored!.receivedAt).toBeInstanceOf(Date);
    expect(stored!.receivedAt.getTime()).toBe(d.receivedAt.getTime());
  });

  it('resolves false for a dedupe id claimed within the TTL, also within one batch', async () => {
    const s = store();
    const d = delivery();
    const [first, second] = await Promise.all([s.accept(d, TTL), s.accept({ ...d, payload: { other: true } }, TTL)]);
    expect([first, second]).toEqual([true, false]);
    await expect(s.accept(d, TTL)).resolves.toBe(false);
    expect(s.unfinished()).toHaveLength(1);
  });

  it('claims an id again once its TTL has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const s = store();
    const d = delivery();
    await s.accept(d, 1000);
    vi.setSystemTime(Date.now() + 999);
    await expect(s.accept(d, 1000)).resolves.toBe(false);
    vi.setSystemTime(Date.now() + 1);
    await expect(s.accept(d, 1000)).resolves.toBe(true);
  });

  it('with dedupe off (TTL 0) accepts the same id every time, as a delivery of its own', async () => {
    const s = store();
    const d = delivery();
    await s.accept(d, 0);
    s.update(d.id, { state: 'dead', attempts: 3, error: { type: 'handler.failed', message: 'x' } });
    await expect(s.accept(d, 0)).resolves.toBe(true);
    expect(s.deadLetters()).toMatchObject([{ id: d.id, attempts: 3 }]);
    expect(s.unfinished()).toMatchObject([{ id: d.id, state: 'queued', attempts: 0 }]);
    s.update(d.id, { state: 'succeeded', attempts: 1 }); // the new one, not the dead letter
    expect(s.deadLetters()).toMatchObject([{ id: d.id, attempts: 3 }]);
    expect(s.unfinished()).toEqual([]);
  });

  it('commits many concurrent accepts in few transactions (group commit)', async () => {
    const s = store();
    const ds = Array.from({ length: 200 }, () => delivery());
    const results = await Promise.all(ds.map((d) => s.accept(d, TTL)));
    expect(results.every(Boolean)).toBe(true);
    expect(s.unfinished().map((u) => u.id)).toEqual(ds.map((d) => d.id));
  });

  it('rejects when the commit fails (the lock is held elsewhere), and works again after', async () => {
    const s = store({ busyTimeoutMs: 0 });
    const blocker = new Sqlite(path);
    blocker.prepare('BEGIN IMMEDIATE').run();
    await expect(s.accept(delivery(), TTL)).rejects.toThrow(/locked|busy/i);
    blocker.prepare('ROLLBACK').run();
    blocker.close();
    await expect(s.accept(delivery(), TTL)).resolves.toBe(true);
  });

  it('remembers at most maxIds dedupe ids, the newest, also across a restart', async () => {
    const first = sqliteStore({ path, maxIds: 2 });
    const [a, b, c] = [delivery(), delivery(), delivery()];
    for (const d of [a, b, c]) await first.accept(d, TTL);
    first.close();
    const second = store({ maxIds: 2 });
    await expect(second.accept(c, TTL)).resolves.toBe(false);
    await expect(second.accept(b, TTL)).resolves.toBe(false);
    await expect(second.accept(a, TTL)).resolves.toBe(true); // forgotten: the oldest of three
  });

  it('rejects a payload that cannot be stored, alone, and claims nothing for it', async () => {
    const s = store();
    const bad = delivery({ payload: { n: 1n } });
    const good = delivery();
    const [badResult, goodResult] = await Promise.allSettled([s.accept(bad, TTL), s.accept(good, TTL)]);
    expect(badResult.status).toBe('rejected');
    expect(goodResult).toEqual({ status: 'fulfilled', value: true });
    await expect(s.accept({ ...bad, payload: { n: 1 } }, TTL)).resolves.toBe(true);
  });

  it('rejects after close()', async () => {
    const s = sqliteStore({ path });
    s.close();
    await expect(s.accept(delivery(), TTL)).rejects.toThrow(/closed/);
    expect(() => s.update('x', { state: 'running', attempts: 1 })).not.toThrow();
  });
});

describe('.update() / .unfinished() / .deadLetters()', () => {
  it('keeps running and retrying deliveries unfinished, oldest first', async () => {
    const s = store();
    const [a, b, c] = [delivery(), delivery(), delivery()];
    for (const d of [a, b, c]) await s.accept(d, TTL);
    s.update(a.id, { state: 'running', attempts: 1 });
    s.update(b.id, { state: 'queued', attempts: 2, error: { type: 'handler.failed', message: 'boom' } });
    s.update(c.id, { state: 'succeeded', attempts: 1 });
    expect(s.unfinished()).toEqual([
      { ...a, state: 'running', attempts: 1 },
      { ...b, state: 'queued', attempts: 2, error: { type: 'handler.failed', message: 'boom' } },
    ]);
  });

  it('lists dead letters with their last error and attempts', async () => {
    const s = store();
    const d = delivery();
    await s.accept(d, TTL);
    const error = { type: 'handler.timeout', message: 'too slow', stack: 'Error: too slow\n    at x' };
    s.update(d.id, { state: 'dead', attempts: 5, error });
    expect(s.deadLetters()).toEqual([{ id: d.id, event: { ...d, attempt: 5 }, error, attempts: 5 }]);
    expect(s.unfinished()).toEqual([]);
    // A replay that succeeds takes it out of the dead letters.
    s.update(d.id, { state: 'succeeded', attempts: 6 });
    expect(s.deadLetters()).toEqual([]);
  });

  it('keeps unfinished deliveries, dead letters and dedupe ids across a restart', async () => {
    const first = sqliteStore({ path });
    const [queued, running, dead] = [delivery(), delivery(), delivery()];
    for (const d of [queued, running, dead]) await first.accept(d, TTL);
    first.update(running.id, { state: 'running', attempts: 1 });
    first.update(dead.id, { state: 'dead', attempts: 3, error: { type: 'handler.failed', message: 'no' } });
    first.close();

    const second = store();
    expect(second.unfinished().map((d) => [d.id, d.state, d.attempts])).toEqual([
      [queued.id, 'queued', 0],
      [running.id, 'running', 1],
    ]);
    expect(second.deadLetters().map((l) => l.id)).toEqual([dead.id]);
    await expect(second.accept(queued, TTL)).resolves.toBe(false);
  });
});

describe('pruning', () => {
  it('deletes succeeded deliveries after retentionMs and expired dedupe ids, never dead letters', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const first = sqliteStore({ path, retentionMs: 10_000 });
    const [done, dead] = [delivery(), delivery()];
    await first.accept(done, 5000);
    await first.accept(dead, 5000);
    first.update(done.id, { state: 'succeeded', attempts: 1 });
    first.update(dead.id, { state: 'dead', attempts: 1 });
    first.close();

    vi.setSystemTime(Date.now() + 10_000);
    const second = store({ retentionMs: 10_000 }); // prunes when it opens
    const db = openDatabase(path, { busyTimeoutMs: 1000, synchronous: 'normal' });
    expect(countStates(db)).toMatchObject({ succeeded: 0, dead: 1, dedupeIds: 0 });
    expect(db.prepare('SELECT COUNT(*) FROM dedupe').pluck().get()).toBe(0);
    // The pruned delivery's payload went with it; the dead letter's stays.
    expect(db.prepare('SELECT COUNT(*) FROM contents').pluck().get()).toBe(1);
    db.close();
    expect(second.deadLetters().map((l) => l.id)).toEqual([dead.id]);
  });

  it('with retentionMs 0 deletes a delivery as soon as it succeeds', async () => {
    const s = store({ retentionMs: 0 });
    const d = delivery();
    await s.accept(d, TTL);
    s.update(d.id, { state: 'succeeded', attempts: 1 });
    s.unfinished(); // flushes
    const reader = new Sqlite(path, { readonly: true });
    expect(reader.prepare('SELECT COUNT(*) FROM deliveries').pluck().get()).toBe(0);
    expect(reader.prepare('SELECT COUNT(*) FROM contents').pluck().get()).toBe(0);
    expect(reader.pragma('page_size', { simple: true })).toBe(16384); // a new file: large bodies take fewer pages
    expect(reader.prepare('SELECT COUNT(*) FROM dedupe').pluck().get()).toBe(1);
    reader.close();
  });
});

describe('.watch()', () => {
  it('hands over dead letters re-queued by another connection (scrapehook replay)', async () => {
    const s = store({ pollIntervalMs: 10 });
    const d = delivery();
    await s.accept(d, TTL);
    s.update(d.id, { state: 'dead', attempts: 2, error: { type: 'handler.failed', message: 'x' } });
    s.deadLetters(); // flushes

    const picked = new Promise<StoredDelivery>((resolve) => s.watch(resolve));
    const cli = openDatabase(path, { mustExist: true, busyTimeoutMs: 1000, synchronous: 'full' });
    expect(requeueDeadLetters(cli, [d.id, 'unknown'])).toEqual([d.id]);
    cli.close();

    await expect(picked).resolves.toEqual({ ...d, state: 'queued', attempts: 2, error: { type: 'handler.failed', message: 'x' } });
    expect(s.deadLetters()).toEqual([]);
  });

  it('does not hand over again what unfinished() re-queued at start', async () => {
    const first = sqliteStore({ path });
    const d = delivery();
    await first.accept(d, TTL);
    first.update(d.id, { state: 'dead', attempts: 1 });
    first.close();
    const cli = openDatabase(path, { mustExist: true, busyTimeoutMs: 1000, synchronous: 'full' });
    expect(requeueDeadLetters(cli, undefined)).toEqual([d.id]);
    expect(countStates(cli).requeued).toBe(1);
    cli.close();

    const second = store({ pollIntervalMs: 10 });
    expect(second.unfinished().map((u) => u.id)).toEqual([d.id]);
    const reader = new Sqlite(path, { readonly: true });
    expect(reader.prepare('SELECT COUNT(*) FROM requeued').pluck().get()).toBe(0);
    reader.close();
  });
});

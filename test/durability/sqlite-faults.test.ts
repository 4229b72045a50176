import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createReceiver } from '../../src/index.ts';
import { sqliteStore, type SqliteStore } from '../../src/store/sqlite-store.ts';
import type { Delivery } from '../../src/types.ts';
import { pageEvent, signed, testProvider } from '../helpers/test-provider.ts';

/**
 * The store fsyncs its write-ahead log with `fs.fdatasync`: the seam where a disk reports an I/O
 * error. Everything else (the file, SQLite, the commit) is real.
 */
const disk = vi.hoisted(() => ({ failingSyncs: 0, syncs: 0, hold: false, release: undefined as (() => void) | undefined, onHold: undefined as (() => void) | undefined }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const fdatasync = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void): void => {
    disk.syncs++;
    if (disk.failingSyncs > 0) {
      disk.failingSyncs--;
      const error = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5, syscall: 'fdatasync' });
      if (disk.hold) {
        disk.release = () => callback(error);
        disk.onHold?.();
      }
      else process.nextTick(callback, error);
      return;
    }
    fs.fdatasync(fd, callback);
  };
  return { ...fs, default: { ...fs, fdatasync }, fdatasync };
});

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const TTL = 60_000;

let dir: string;
let path: string;
const cleanups: (() => unknown)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-sqlite-faults-'));
  path = join(dir, 'hooks.db');
  disk.failingSyncs = 0;
  disk.hold = false;
  disk.release = undefined;
  disk.onHold = undefined;
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function store(): SqliteStore {
  const s = sqliteStore({ path });
  cleanups.push(() => s.close());
  return s;
}

let n = 0;
function delivery(): Delivery {
  n++;
  return { id: `fault-${n}`, type: 'crawl.page', provider: 'test', payload: { n }, receivedAt: new Date() };
}

/** Fails the next write of a delivery row, from another connection, as a full or failing disk would. */
function failNextInsert(): () => void {
  const db = new Sqlite(path);
  db.exec(`CREATE TRIGGER fail_insert BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END;`);
  return () => {
    db.exec('DROP TRIGGER fail_insert');
    db.close();
  };
}

describe('sqliteStore() when the disk fails', () => {
  it('forgets every delivery of a batch whose fsync failed: each retry is accepted, and stored once', async () => {
    const s = store();
    const batch = [delivery(), delivery(), delivery()];
    disk.failingSyncs = 1;
    // Accepted in the same turn of the event loop: one transaction, one fsync.
    const results = await Promise.allSettled(batch.map((d) => s.accept(d, TTL)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(disk.failingSyncs).toBe(0);

    // The senders retry: not duplicates of deliveries that were never durably stored.
    await expect(Promise.all(batch.map((d) => s.accept(d, TTL)))).resolves.toEqual([true, true, true]);
    await expect(s.accept(batch[0]!, TTL)).resolves.toBe(false); // now they are seen
    // One row each (the failed ones were deleted), so a restart does not run them twice either.
    expect(s.unfinished().map((u) => u.id)).toEqual(batch.map((d) => d.id));
    s.close();
    const reopened = store();
    expect(reopened.unfinished().map((u) => u.id)).toEqual(batch.map((d) => d.id));
    await expect(reopened.accept(batch[1]!, TTL)).resolves.toBe(false);
  });

  it('does not answer "duplicate" for a copy that arrived while the original was failing to fsync', async () => {
    const s = store();
    const d = delivery();
    disk.failingSyncs = 1;
    disk.hold = true;
    const held = new Promise<void>((resolve) => (disk.onHold = resolve));
    const original = s.accept(d, TTL);
    original.catch(() => {});
    await held;
    // Committed while the original's fsync runs: a duplicate, waiting for the next fsync.
    const copy = s.accept(d, TTL);
    copy.catch(() => {});
    // The store commits an accept on the next turn of the event loop (setImmediate): let it.
    await new Promise((resolve) => setImmediate(resolve));
    disk.release!();
    await expect(original).rejects.toThrow(/EIO/);
    await expect(copy).rejects.toThrow(/EIO/);
    await expect(s.accept(d, TTL)).resolves.toBe(true);
    expect(s.unfinished().map((u) => u.id)).toEqual([d.id]);
  });

  it('forgets every delivery of a batch whose commit failed', async () => {
    const s = store();
    const batch = [delivery(), delivery(), delivery()];
    const heal = failNextInsert();
    const results = await Promise.allSettled(batch.map((d) => s.accept(d, TTL)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    heal();
    await expect(Promise.all(batch.map((d) => s.accept(d, TTL)))).resolves.toEqual([true, true, true]);
    expect(s.unfinished().map((u) => u.id)).toEqual(batch.map((d) => d.id));
  });

  it('a sender whose delivery could not be fsynced gets 500, then 202 for its retry, and the handler runs once', async () => {
    const hooks = createReceiver({ provider: testProvider(), store: sqliteStore({ path }) });
    const runs: string[] = [];
    const handled = new Promise<void>((resolve) =>
      hooks.on('crawl.page', (event) => {
        runs.push(event.id);
        resolve();
      }),
    );
    const server = http.createServer(hooks.nodeHandler());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await hooks.close({ timeoutMs: 5000 });
    });
    const { port } = server.address() as AddressInfo;
    const event = pageEvent();
    const post = async () => {
      const { body, headers } = signed(event);
      const res = await fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', body, headers });
      return { status: res.status, body: await res.text() };
    };

    disk.failingSyncs = 1;
    expect((await post()).status).toBe(500);
    expect(runs).toEqual([]);
    expect(await post()).toEqual({ status: 202, body: JSON.stringify({ id: event.webhookId }) });
    await handled;
    await hooks.onIdle();
    expect((await post()).status).toBe(200); // the sender's next retry is a duplicate now
    expect(runs).toEqual([event.webhookId]);

    // Nothing left on disk to run again at the next start.
    await hooks.close({ timeoutMs: 5000 });
    const reopened = store();
    expect(reopened.unfinished()).toEqual([]);
  });
});

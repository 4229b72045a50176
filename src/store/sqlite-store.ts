import { closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_DEDUPE_TTL_MS, DedupeMemory } from '../dispatch/dedupe.ts';
import { safeLogger, silentLogger } from '../log.ts';
import type { Delivery, Logger, ReceivedBody } from '../types.ts';
import {
  openDatabase,
  SELECT_DELIVERY,
  selectDeadLetters,
  toDeadLetter,
  toStoredDelivery,
  type Database,
  type DeliveryRow,
} from './sqlite/database.ts';
import { startCheckpointer, type Checkpointer } from './sqlite/checkpointer.ts';
import type { DeliveryUpdate, Store, StoredDeadLetter, StoredDelivery } from './types.ts';
import type { ImportState } from '../import/types.ts';
import { nonNegativeInteger, positiveInteger } from '../check-options.ts';

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * The database file; created with its tables when missing. Several receivers may share it (one
   * store passed to each, or a store each): every delivery is recorded with its receiver's `name`.
   * One process per receiver name and file.
   */
  path: string;
  /**
   * How long a succeeded delivery is kept (for inspection) before it is pruned; 0 deletes it as
   * soon as it succeeds. Dead letters are kept until they are replayed.
   * @default 3_600_000 (1 hour)
   */
  retentionMs?: number;
  /**
   * When an accepted delivery counts as stored. `'full'`: once the write-ahead log holding it has
   * been fsynced, so it survives a power loss or an OS crash. `'normal'`: once it is committed to
   * the log (written, not yet fsynced), so it survives a crash of the process but maybe not of the
   * machine; cheaper on slow disks.
   * @default 'full'
   */
  synchronous?: 'full' | 'normal';
  /**
   * How often the store looks for dead letters re-queued by `scrapehook replay` while the receiver
   * runs.
   * @default 1000
   */
  pollIntervalMs?: number;
  /**
   * How often expired dedupe ids and succeeded deliveries past `retentionMs` are deleted.
   * @default 60_000
   */
  pruneIntervalMs?: number;
  /**
   * How many dedupe ids are remembered at most, for all the receivers of this store together (the
   * newest; each for its receiver's dedupe TTL).
   * They are checked in memory and written to the file, so they survive a restart.
   * @default 100_000
   */
  maxIds?: number;
  /**
   * How long a write waits for the lock another connection (the CLI) holds before failing.
   * @default 5000
   */
  busyTimeoutMs?: number;
  /**
   * Where write failures of state updates are reported (a failing accept answers the sender 500
   * and is logged by the receiver).
   * @default silent
   */
  logger?: Logger;
}

/** A {@link Store} on a SQLite file: reads answer synchronously, accepts once committed. */
export interface SqliteStore extends Store {
  /** The database file. */
  readonly path: string;
  accept(delivery: Delivery, dedupeTtlMs: number, body?: ReceivedBody): Promise<boolean>;
  update(id: string, update: DeliveryUpdate): void;
  unfinished(): StoredDelivery[];
  deadLetters(): StoredDeadLetter[];
  close(): void;
  /**
   * Calls `listener` with each dead letter an operator re-queued (`scrapehook replay`) while this
   * process runs, so that its handlers run it again. Answers a function that stops watching.
   */
  watch(listener: (delivery: StoredDelivery) => void): () => void;
  /** The dead letters kept in the file (kept in step with each change, and with `scrapehook replay`). */
  deadCount(): number;
  /**
   * The import state of delivery `id` (`ctx.importState`): its values are rows tied to the
   * delivery's row, deleted with it (pruned after `retentionMs` once it succeeded, kept while it is
   * a dead letter) or at their TTL; sets are rows of the receiver, kept until their TTL. Each write
   * commits at once (it survives a crash of the process).
   */
  importState(id: string): ImportState;
  /**
   * A view of this store for one receiver (the receiver calls it): it sees, recovers, lists,
   * replays and counts only the deliveries recorded with `name`, and dedupes only against its own
   * ids. The store closes with its last view.
   * @throws {TypeError} when a receiver named `name` already uses this file in this process.
   */
  forReceiver(name: string): Store;
}

/** Receiver names in use per database file in this process: two with one name would share deliveries. */
const inUse = new Map<string, Set<string>>();

/** A receiver's key for a dedupe id or delivery id (a receiver name holds no NUL: see createReceiver). */
function keyOf(receiver: string, id: string): string {
  return `${receiver}\0${id}`;
}

type Pending =
  | {
      readonly kind: 'accept';
      readonly receiver: string;
      readonly delivery: Delivery;
      /** The payload as JSON, serialized when accepted so that a bad one fails alone; null with a body. */
      readonly payload: string | null;
      /** The body as received, kept instead of the payload when the receiver gives it. */
      readonly body: ReceivedBody | undefined;
      readonly dedupeTtlMs: number;
      readonly resolve: (accepted: boolean) => void;
      readonly reject: (error: unknown) => void;
    }
  | { readonly kind: 'update'; readonly receiver: string; readonly id: string; readonly update: DeliveryUpdate };

/** Log pages after which the writer checkpoints by itself (SQLite's default is 1000). */
const WRITER_CHECKPOINT_PAGES = 10_000;

/** How often the checkpointer thread copies the log into the database file. */
const CHECKPOINT_INTERVAL_MS = 250;

/** How long a state update may wait for an accept's commit to ride along with. */
const UPDATE_FLUSH_MS = 20;

/** Rows deleted per prune transaction, so that pruning never blocks the event loop for long. */
const PRUNE_BATCH = 5000;

/**
 * A durable store on SQLite (better-sqlite3, WAL mode), for one machine: an acknowledged delivery
 * is on disk before the sender gets its 2xx, and a restarted receiver runs again every delivery
 * that was accepted but not finished. Dead letters and dedupe ids survive restarts.
 *
 * Writes are group-committed: every accept and state change made during one turn of the event loop
 * goes into one transaction. With `synchronous: 'full'` the log is then fsynced off the main thread
 * (in libuv's pool, so requests keep being served meanwhile), and each `accept()` settles once the
 * fsync that covers its transaction has returned; deliveries committed while an fsync runs share
 * the next one. State changes (running, succeeded, ...) are not awaited: after a crash the worst
 * case is that a delivery whose success was not yet written runs once more.
 *
 * Needs the optional peer dependency `better-sqlite3`.
 *
 * @example
 * ```ts
 * const hooks = createReceiver({ provider, store: sqliteStore({ path: './hooks.db' }) });
 * ```
 * @throws {TypeError} when an option is out of range.
 */
export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  if (typeof options !== 'object' || options === null || typeof options.path !== 'string' || options.path === '' || options.path === ':memory:') {
    throw new TypeError('Expected `path` to be the path of a database file (for no file, use memoryStore()), got ' + JSON.stringify(options?.path));
  }
  const retentionMs = nonNegativeInteger('retentionMs', options.retentionMs ?? 60 * 60 * 1000);
  const pollIntervalMs = positiveInteger('pollIntervalMs', options.pollIntervalMs ?? 1000);
  const pruneIntervalMs = positiveInteger('pruneIntervalMs', options.pruneIntervalMs ?? 60_000);
  const busyTimeoutMs = nonNegativeInteger('busyTimeoutMs', options.busyTimeoutMs ?? 5000);
  const maxIds = positiveInteger('maxIds', options.maxIds ?? 100_000);
  const synchronous = options.synchronous ?? 'full';
  if (synchronous !== 'full' && synchronous !== 'normal') {
    throw new TypeError(`Expected \`synchronous\` to be 'full' or 'normal', got ${JSON.stringify(synchronous)}`);
  }
  const logger = safeLogger(options.logger ?? silentLogger);
  const { path } = options;
  // SQLite itself only writes the log at commit (NORMAL); with 'full' the store fsyncs the log
  // before it acknowledges, without blocking the event loop (see #sync).
  let db: Database;
  try {
    db = openDatabase(path, { busyTimeoutMs, synchronous: 'normal' });
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(message.includes(path) ? message : `Could not open the SQLite store ${path}: ${message}`, { cause: error });
  }
  // Index pages of a large database stay in memory rather than being read back for each insert.
  db.pragma('cache_size = -16000');
  // Checkpoints run in a worker thread (see startCheckpointer); the writer still checkpoints if
  // the log grows past ~40 MB anyway, which also lets SQLite restart the log from its beginning.
  db.pragma(`wal_autocheckpoint = ${WRITER_CHECKPOINT_PAGES}`);
  let walFd: number | undefined;
  if (synchronous === 'full') {
    try {
      walFd = openWal(`${db.name}-wal`);
    } catch (error) {
      db.close();
      throw error;
    }
  }
  return new SqliteStoreImpl(db, path, walFd, { retentionMs, pollIntervalMs, pruneIntervalMs, maxIds, logger });
}

/**
 * Opens the write-ahead log for fsync. SQLite keeps this file (the same inode) for as long as a
 * connection is open: it is reset after a checkpoint, never replaced.
 */
function openWal(walPath: string): number {
  const fd = openSync(walPath, 'a');
  // The log's directory entry must be on disk too, once.
  try {
    const dir = openSync(dirname(walPath), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some platforms cannot fsync a directory; the file's own fsync still holds the data.
  }
  return fd;
}

/** A delivery an accept wrote: its row, and its dedupe id's row when it claimed one. */
interface Stored {
  /** keyOf(receiver, id). */
  readonly key: string;
  readonly seq: number;
  readonly dedupeSeq: number | undefined;
}

/** A committed accept waiting for its fsync: what it wrote, or `undefined` for a duplicate. */
interface Accepted {
  /** keyOf(receiver, id). */
  readonly key: string;
  readonly stored: Stored | undefined;
  readonly resolve: (accepted: boolean) => void;
  readonly reject: (error: unknown) => void;
}

interface Settings {
  readonly retentionMs: number;
  readonly maxIds: number;
  readonly pollIntervalMs: number;
  readonly pruneIntervalMs: number;
  readonly logger: Logger;
}

class SqliteStoreImpl implements SqliteStore {
  readonly path: string;
  readonly #db: Database;
  readonly #settings: Settings;
  #pending: Pending[] = [];
  /** A flush on the next turn of the event loop (an accept is waiting). */
  #flushSoon = false;
  /** A later flush (only state updates are waiting). */
  #flushLater: NodeJS.Timeout | undefined;
  /** The write-ahead log, fsynced before accepts settle (`synchronous: 'full'`); else undefined. */
  readonly #walFd: number | undefined;
  /** Committed accepts waiting for the next fsync of the log. */
  #unsynced: Accepted[] = [];
  #syncing = false;
  #closed = false;
  /** Per receiver name, its listeners for deliveries re-queued from outside. */
  readonly #watchers = new Map<string, Set<(delivery: StoredDelivery) => void>>();
  /** Open views (forReceiver): the store closes with the last. */
  #views = 0;
  /** Dead letters per receiver, counted when asked after a change (undefined: count again). */
  #deadCounts: Map<string, number> | undefined;
  /** Dedupe ids written before schema 4, with their expiry: they hold for every receiver. */
  readonly #legacyIds = new Map<string, number>();
  #pollTimer: NodeJS.Timeout | undefined;
  #checkpointer: Checkpointer | undefined;
  readonly #pruneTimer: NodeJS.Timeout;
  /** Writes what is pending if the process exits without closing the store (better-sqlite3 is synchronous). */
  readonly #onExit = () => this.#flush();

  /** The row of each delivery in flight, by keyOf(receiver, id): updates address rows by seq (see the schema). */
  readonly #seqs = new Map<string, number>();
  /** Dedupe ids claimed and their expiry, oldest claim first (the file holds the same, appended). */
  readonly #ids: DedupeMemory;
  readonly #logId;
  readonly #insert;
  readonly #insertContents;
  readonly #deadSeq;
  readonly #deleteId;
  readonly #forgetRows;
  readonly #update;
  readonly #delete;
  readonly #commit;

  constructor(db: Database, path: string, walFd: number | undefined, settings: Settings) {
    this.#db = db;
    this.path = path;
    this.#walFd = walFd;
    this.#settings = settings;
    // The TTL comes with each accept (the receiver's dedupe TTL); this default is never used.
    this.#ids = new DedupeMemory(DEFAULT_DEDUPE_TTL_MS, settings.maxIds);
    this.#logId = db.prepare('INSERT INTO dedupe (id, expires_at, receiver) VALUES (?, ?, ?)');
    // Without dedupe the same id may be accepted again: it is then a delivery (a row) of its own.
    this.#insert = db.prepare(`
      INSERT INTO deliveries (id, type, provider, received_at, state, attempts, error, updated_at, receiver)
      VALUES (?, ?, ?, ?, 'queued', 0, NULL, ?, ?)`);
    this.#insertContents = db.prepare('INSERT INTO contents (seq, payload, body, body_type, traceparent) VALUES (?, ?, ?, ?, ?)');
    this.#update = db.prepare('UPDATE deliveries SET state = ?, attempts = ?, error = ?, updated_at = ? WHERE seq = ?');
    this.#delete = db.prepare('DELETE FROM deliveries WHERE seq = ?');
    this.#deleteId = db.prepare('DELETE FROM dedupe WHERE seq = ?');
    this.#deadSeq = db.prepare("SELECT seq FROM deliveries WHERE id = ? AND receiver = ? AND state = 'dead' ORDER BY seq DESC LIMIT 1").pluck();
    this.#forgetRows = db.transaction((rows: readonly Stored[]) => {
      for (const row of rows) {
        this.#delete.run(row.seq);
        if (row.dedupeSeq !== undefined) this.#deleteId.run(row.dedupeSeq);
      }
    });
    this.#commit = db.transaction((ops: readonly Pending[], now: number, claimed: string[]): (Stored | undefined)[] => {
      const accepted: (Stored | undefined)[] = [];
      const superseded = supersededUpdates(ops);
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        if (op.kind === 'accept') {
          const { delivery, dedupeTtlMs, receiver } = op;
          const key = keyOf(receiver, delivery.id);
          let dedupeSeq: number | undefined;
          if (dedupeTtlMs > 0) {
            if (this.#legacyDuplicate(delivery.id, now) || !this.#ids.claim(key, now, dedupeTtlMs)) {
              accepted.push(undefined);
              continue;
            }
            claimed.push(key);
            dedupeSeq = Number(this.#logId.run(delivery.id, now + dedupeTtlMs, receiver).lastInsertRowid);
          }
          const seq = Number(this.#insert.run(delivery.id, delivery.type, delivery.provider, delivery.receivedAt.getTime(), now, receiver).lastInsertRowid);
          this.#insertContents.run(seq, op.payload, op.body?.bytes ?? null, op.body?.type ?? null, delivery.traceparent ?? null);
          this.#seqs.set(key, seq);
          accepted.push({ key, seq, dedupeSeq });
        } else if (!superseded.has(i)) {
          const { id, update, receiver } = op;
          const key = keyOf(receiver, id);
          // In flight: by the seq kept since its accept. Otherwise a dead letter being replayed.
          const inFlight = this.#seqs.get(key);
          const seq = inFlight ?? (this.#deadSeq.get(id, receiver) as number | undefined);
          if (seq === undefined) continue; // Pruned, or never stored here: nothing to record.
          // A dead letter is made or leaves: count them again when next asked (after this commit).
          if (update.state === 'dead' || inFlight === undefined) this.#deadCounts = undefined;
          if (update.state === 'succeeded' || update.state === 'dead') this.#seqs.delete(key);
          else this.#seqs.set(key, seq);
          if (update.state === 'succeeded' && this.#settings.retentionMs === 0) this.#delete.run(seq);
          else this.#update.run(update.state, update.attempts, update.error ? JSON.stringify(update.error) : null, now, seq);
        }
      }
      return accepted;
    });
    this.#pruneTimer = setInterval(() => this.#prune(), settings.pruneIntervalMs).unref();
    process.on('exit', this.#onExit);
    this.#prune();
    this.#loadIds();
    this.#checkpointer = startCheckpointer(path, CHECKPOINT_INTERVAL_MS, (error) => {
      settings.logger.warn({ err: error, path }, 'scrapehook: the SQLite checkpointer thread failed; the writer checkpoints instead');
      this.#checkpointer?.stop();
      if (!this.#closed) db.pragma('wal_autocheckpoint = 1000');
    });
  }

  accept(delivery: Delivery, dedupeTtlMs: number, body?: ReceivedBody, receiver = ''): Promise<boolean> {
    if (this.#closed) return Promise.reject(new Error(`The SQLite store ${this.path} is closed`));
    let payload: string | null = null;
    if (body === undefined) {
      try {
        payload = JSON.stringify(delivery.payload) ?? 'null';
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ kind: 'accept', receiver, delivery, payload, body, dedupeTtlMs, resolve, reject });
      this.#scheduleFlush(true);
    });
  }

  update(id: string, update: DeliveryUpdate, receiver = ''): void {
    // A handler that finishes after close() (it outlived the close timeout) has nowhere to write:
    // the delivery stays unfinished on disk and runs again at the next start.
    if (this.#closed) return;
    // A dead letter is made or leaves (one not in flight is being replayed): count again when asked.
    if (update.state === 'dead' || !this.#seqs.has(keyOf(receiver, id))) this.#deadCounts = undefined;
    this.#pending.push({ kind: 'update', receiver, id, update });
    this.#scheduleFlush(false);
  }

  unfinished(receiver = ''): StoredDelivery[] {
    this.#flush();
    // Everything of this receiver queued is re-queued now, re-queued dead letters included: drop their flags.
    this.#db.prepare('DELETE FROM requeued WHERE seq IN (SELECT seq FROM deliveries WHERE receiver = ?)').run(receiver);
    const rows = this.#db.prepare(`${SELECT_DELIVERY} WHERE state IN ('queued', 'running') AND receiver = ? ORDER BY seq`).all(receiver) as DeliveryRow[];
    for (const row of rows) this.#seqs.set(keyOf(receiver, row.id), row.seq);
    return rows.map(toStoredDelivery);
  }

  deadLetters(receiver = ''): StoredDeadLetter[] {
    this.#flush();
    return selectDeadLetters(this.#db, receiver).map(toDeadLetter);
  }

  deadCount(receiver = ''): number {
    if (this.#closed) return 0;
    if (!this.#deadCounts) {
      this.#flush(); // The state changes that made the count stale.
      const rows = this.#db.prepare("SELECT receiver, COUNT(*) AS n FROM deliveries WHERE state = 'dead' GROUP BY receiver").all() as { receiver: string; n: number }[];
      this.#deadCounts = new Map(rows.map((row) => [row.receiver, row.n]));
    }
    return this.#deadCounts.get(receiver) ?? 0;
  }

  forReceiver(name: string): Store {
    if (this.#closed) throw new Error(`The SQLite store ${this.path} is closed`);
    const file = realpathSync(this.path);
    const names = inUse.get(file) ?? new Set<string>();
    if (names.has(name)) {
      throw new TypeError(
        `Expected one receiver per name on the SQLite file ${this.path}, got a second receiver named ${JSON.stringify(name)}: give each receiver its own \`name\``,
      );
    }
    names.add(name);
    inUse.set(file, names);
    this.#views++;
    let released = false;
    return {
      accept: (delivery, dedupeTtlMs, body) => this.accept(delivery, dedupeTtlMs, body, name),
      update: (id, update) => this.update(id, update, name),
      unfinished: () => this.unfinished(name),
      deadLetters: () => this.deadLetters(name),
      deadCount: () => this.deadCount(name),
      watch: (listener) => this.watch(listener, name),
      importState: (id) => this.importState(id, name),
      close: () => {
        if (released) return;
        released = true;
        names.delete(name);
        if (names.size === 0) inUse.delete(file);
        if (--this.#views === 0) this.close();
      },
    };
  }

  importState(id: string, receiver = ''): ImportState {
    const db = this.#db;
    const open = () => {
      if (this.#closed) throw new Error(`The SQLite store ${this.path} is closed`);
    };
    /** The row of the delivery: in flight, or a dead letter being replayed. */
    let seq: number | undefined;
    const seqOf = (): number => {
      open();
      if (seq !== undefined) return seq;
      // The delivery's row and its latest state change first: a replayed dead letter's row is found
      // through its `running` update.
      if (this.#pending.length > 0) this.#flush();
      seq = this.#seqs.get(keyOf(receiver, id)) ?? (this.#deadSeq.get(id, receiver) as number | undefined);
      if (seq === undefined) throw new Error(`The SQLite store ${this.path} keeps no delivery ${JSON.stringify(id)} for receiver ${JSON.stringify(receiver)}: its import state has nowhere to go`);
      return seq;
    };
    return {
      get: async (key) => {
        const row = db.prepare('SELECT value FROM import_values WHERE seq = ? AND key = ? AND expires_at > ?').pluck().get(seqOf(), key, Date.now());
        return row as string | undefined;
      },
      set: async (key, value, ttlMs) => {
        db.prepare('INSERT OR REPLACE INTO import_values (seq, key, value, expires_at) VALUES (?, ?, ?, ?)').run(seqOf(), key, value, Date.now() + ttlMs);
      },
      delete: async (key) => {
        db.prepare('DELETE FROM import_values WHERE seq = ? AND key = ?').run(seqOf(), key);
      },
      addToSet: async (key, members, ttlMs) => {
        open();
        const now = Date.now();
        db.transaction(() => {
          // An expired set starts again empty.
          const expires = db.prepare('SELECT expires_at FROM import_sets WHERE receiver = ? AND key = ?').pluck().get(receiver, key) as number | undefined;
          if (expires !== undefined && expires <= now) db.prepare('DELETE FROM import_set_members WHERE receiver = ? AND key = ?').run(receiver, key);
          db.prepare('INSERT OR REPLACE INTO import_sets (receiver, key, expires_at) VALUES (?, ?, ?)').run(receiver, key, now + ttlMs);
          const add = db.prepare('INSERT OR IGNORE INTO import_set_members (receiver, key, member) VALUES (?, ?, ?)');
          for (const member of members) add.run(receiver, key, member);
        }).immediate();
      },
      members: async (key) => {
        open();
        return db
          .prepare('SELECT m.member FROM import_sets AS s JOIN import_set_members AS m USING (receiver, key) WHERE s.receiver = ? AND s.key = ? AND s.expires_at > ?')
          .pluck()
          .all(receiver, key, Date.now()) as string[];
      },
    };
  }

  watch(listener: (delivery: StoredDelivery) => void, receiver = ''): () => void {
    let listeners = this.#watchers.get(receiver);
    if (!listeners) this.#watchers.set(receiver, (listeners = new Set()));
    listeners.add(listener);
    this.#pollTimer ??= setInterval(() => this.#pollRequeued(), this.#settings.pollIntervalMs).unref();
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.#watchers.delete(receiver);
      if (this.#watchers.size === 0 && this.#pollTimer) {
        clearInterval(this.#pollTimer);
        this.#pollTimer = undefined;
      }
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#flush();
    if (this.#walFd !== undefined) {
      // Settle what waits for an fsync now, rather than leave it to a callback after the close.
      try {
        fdatasyncSync(this.#walFd);
        this.#settle(this.#unsynced.splice(0), undefined);
      } catch (error) {
        const batch = this.#unsynced.splice(0);
        this.#forget(batch, error);
        this.#settle(batch, error);
      }
      // An fsync still running in the pool has its fd: close it once that one returns.
      if (!this.#syncing) closeSync(this.#walFd);
    }
    this.#closed = true;
    this.#checkpointer?.stop();
    clearInterval(this.#pruneTimer);
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#watchers.clear();
    process.off('exit', this.#onExit);
    this.#db.close();
  }

  /** Loads the newest dedupe ids that have not expired, oldest first. */
  #loadIds(): void {
    const rows = this.#db
      .prepare('SELECT id, expires_at, receiver FROM dedupe WHERE expires_at > ? ORDER BY seq DESC LIMIT ?')
      .all(Date.now(), this.#settings.maxIds) as { id: string; expires_at: number; receiver: string | null }[];
    for (let i = rows.length - 1; i >= 0; i--) {
      const { id, expires_at, receiver } = rows[i]!;
      if (receiver === null) this.#legacyIds.set(id, expires_at);
      else this.#ids.restore(keyOf(receiver, id), expires_at);
    }
  }

  /** Whether `id` was claimed before schema 4 (by whichever receiver) and has not expired. */
  #legacyDuplicate(id: string, now: number): boolean {
    if (this.#legacyIds.size === 0) return false;
    const expires = this.#legacyIds.get(id);
    if (expires === undefined) return false;
    if (expires > now) return true;
    this.#legacyIds.delete(id);
    return false;
  }

  /**
   * An accept is flushed on the next turn of the event loop: setImmediate runs after the I/O
   * callbacks of this turn, so every request read meanwhile joins the same transaction (group
   * commit). Nobody waits for a state update: updates ride along with the next accepts' commit, or
   * are flushed after UPDATE_FLUSH_MS when no accept comes, which also lets a fast handler's
   * `running` and `succeeded` collapse into one write.
   */
  #scheduleFlush(urgent: boolean): void {
    if (urgent) {
      if (this.#flushSoon) return;
      this.#flushSoon = true;
      setImmediate(() => this.#flush());
    } else {
      this.#flushLater ??= setTimeout(() => this.#flush(), UPDATE_FLUSH_MS);
    }
  }

  #flush(): void {
    this.#flushSoon = false;
    if (this.#flushLater) {
      clearTimeout(this.#flushLater);
      this.#flushLater = undefined;
    }
    if (this.#pending.length === 0 || this.#closed) return;
    const ops = this.#pending;
    this.#pending = [];
    let accepted: (Stored | undefined)[];
    const claimed: string[] = [];
    try {
      accepted = this.#commit.immediate(ops, Date.now(), claimed);
    } catch (error) {
      // Nothing of the batch is stored (the transaction rolled back): forget every claim it made,
      // or the sender's retry would be a "duplicate" of a delivery that exists nowhere.
      for (const id of claimed) this.#ids.release(id);
      this.#settings.logger.error({ err: error, path: this.path, writes: ops.length }, 'scrapehook: the SQLite store could not commit');
      for (const op of ops) if (op.kind === 'accept') op.reject(error);
      return;
    }
    const committed: Accepted[] = [];
    let i = 0;
    for (const op of ops) if (op.kind === 'accept') committed.push({ key: keyOf(op.receiver, op.delivery.id), stored: accepted[i++], resolve: op.resolve, reject: op.reject });
    if (committed.length === 0) return;
    if (this.#walFd === undefined) this.#settle(committed, undefined);
    else {
      this.#unsynced.push(...committed);
      this.#sync();
    }
  }

  /**
   * Group commit, second half: fsync the log in libuv's pool, then settle every accept committed
   * before the fsync started. Accepts committed meanwhile wait for the next one.
   */
  #sync(): void {
    if (this.#syncing || this.#unsynced.length === 0 || this.#walFd === undefined) return;
    const batch = this.#unsynced;
    this.#unsynced = [];
    this.#syncing = true;
    const fd = this.#walFd;
    // fdatasync, as SQLite itself uses on Linux: the data and the size, not the timestamps.
    fdatasync(fd, (error) => {
      this.#syncing = false;
      if (error) {
        this.#settings.logger.error({ err: error, path: this.path }, 'scrapehook: the SQLite store could not fsync its log');
        this.#forget(batch, error);
      }
      this.#settle(batch, error ?? undefined);
      if (this.#closed) closeSync(fd);
      else this.#sync();
    });
  }

  #settle(batch: readonly Accepted[], error: unknown): void {
    for (const entry of batch) {
      if (error === undefined) entry.resolve(entry.stored !== undefined);
      else entry.reject(error);
    }
  }


  /**
   * The log holding a batch could not be fsynced, so its accepts are answered with an error (the
   * sender gets a 500 and retries): what they wrote must not count as seen. Their dedupe claims are
   * released, so that the retry is accepted and runs now, and their rows deleted, so that a restart
   * does not run them besides the retry. Called before the accepts settle, hence before any retry.
   */
  #forget(batch: readonly Accepted[], error: unknown): void {
    const rows: Stored[] = [];
    const released = new Set<string>();
    for (const { stored } of batch) {
      if (stored === undefined) continue;
      rows.push(stored);
      if (stored.dedupeSeq !== undefined) {
        this.#ids.release(stored.key);
        released.add(stored.key);
      }
      if (this.#seqs.get(stored.key) === stored.seq) this.#seqs.delete(stored.key);
    }
    if (rows.length === 0) return;
    // A copy of one of them, taken as a duplicate in a later batch, must not be answered "duplicate"
    // either: it fails too, and its retry is accepted.
    if (released.size > 0) {
      const failed = this.#unsynced.filter((entry) => entry.stored === undefined && released.has(entry.key));
      if (failed.length > 0) {
        this.#unsynced = this.#unsynced.filter((entry) => !failed.includes(entry));
        this.#settle(failed, error);
      }
    }
    if (this.#closed) {
      this.#settings.logger.error({ path: this.path, deliveries: rows.length }, 'scrapehook: the SQLite store closed before it could delete the deliveries it failed to fsync');
      return;
    }
    try {
      this.#forgetRows.immediate(rows);
    } catch (error) {
      // Left on disk, they run at the next start besides the retry: at least once, as after a crash.
      this.#settings.logger.error({ err: error, path: this.path, deliveries: rows.length }, 'scrapehook: the SQLite store could not delete the deliveries it failed to fsync');
    }
  }

  #pollRequeued(): void {
    if (this.#closed || this.#watchers.size === 0) return;
    let revived: StoredDelivery[];
    try {
      revived = this.#db
        .transaction((): StoredDelivery[] => {
          // Only those of the receivers watching here: another store on this file serves the others.
          const seqs = this.#db
            .prepare(
              // CROSS JOIN: from the (nearly always empty) flags to their rows, never a scan of every delivery.
              'SELECT r.seq FROM requeued AS r CROSS JOIN deliveries AS d ON d.seq = r.seq WHERE d.receiver IN (SELECT value FROM json_each(?)) ORDER BY r.at LIMIT 1000',
            )
            .pluck()
            .all(JSON.stringify([...this.#watchers.keys()])) as number[];
          if (seqs.length === 0) return [];
          // Dead letters re-queued from outside are no longer dead.
          this.#deadCounts = undefined;
          const select = this.#db.prepare(`${SELECT_DELIVERY} WHERE seq = ? AND state = 'queued'`);
          const unflag = this.#db.prepare('DELETE FROM requeued WHERE seq = ?');
          const out: StoredDelivery[] = [];
          for (const seq of seqs) {
            unflag.run(seq);
            const row = select.get(seq) as DeliveryRow | undefined;
            if (!row) continue;
            this.#seqs.set(keyOf(row.receiver, row.id), row.seq);
            out.push({ ...toStoredDelivery(row), receiver: row.receiver } as StoredDelivery);
          }
          return out;
        })
        .immediate();
    } catch (error) {
      this.#settings.logger.error({ err: error, path: this.path }, 'scrapehook: the SQLite store could not read re-queued deliveries');
      return;
    }
    for (const delivery of revived) {
      const { receiver, ...stored } = delivery as StoredDelivery & { receiver: string };
      for (const listener of this.#watchers.get(receiver) ?? []) listener(stored);
    }
  }

  #prune(): void {
    if (this.#closed) return;
    try {
      const now = Date.now();
      const succeeded = this.#db
        .prepare(`DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE state = 'succeeded' AND updated_at <= ? LIMIT ${PRUNE_BATCH})`)
        .run(now - this.#settings.retentionMs).changes;
      // Dedupe rows are in claim order: drop the prefix that expired or is older than the newest maxIds.
      const bounds = this.#db.prepare('SELECT MIN(seq) AS low, MAX(seq) AS high FROM dedupe').get() as { low: number | null; high: number | null };
      let ids = 0;
      if (bounds.low !== null && bounds.high !== null) {
        const live = this.#db.prepare('SELECT seq FROM dedupe WHERE expires_at > ? ORDER BY seq LIMIT 1').pluck().get(now) as number | undefined;
        const cut = Math.min(Math.max(bounds.high - this.#settings.maxIds, (live ?? bounds.high + 1) - 1), bounds.low + PRUNE_BATCH - 1);
        ids = this.#db.prepare('DELETE FROM dedupe WHERE seq <= ?').run(cut).changes;
      }
      // Import state past its TTL (a delivery's values also go with its row, by trigger).
      this.#db.prepare('DELETE FROM import_values WHERE expires_at <= ?').run(now);
      this.#db
        .prepare('DELETE FROM import_set_members WHERE (receiver, key) IN (SELECT receiver, key FROM import_sets WHERE expires_at <= ?)')
        .run(now);
      this.#db.prepare('DELETE FROM import_sets WHERE expires_at <= ?').run(now);
      // More left than one batch: carry on soon, leaving the event loop to requests in between.
      if (succeeded === PRUNE_BATCH || ids === PRUNE_BATCH) setTimeout(() => this.#prune(), 10).unref();
    } catch (error) {
      this.#settings.logger.warn({ err: error, path: this.path }, 'scrapehook: the SQLite store could not prune');
    }
  }
}

/**
 * The updates of a batch that a later update of the same delivery overrides (a fast handler's
 * `running` and `succeeded` often share a batch): only the last state needs writing.
 */
function supersededUpdates(ops: readonly Pending[]): Set<number> {
  const superseded = new Set<number>();
  const later = new Set<string>();
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i]!;
    if (op.kind === 'accept') later.delete(keyOf(op.receiver, op.delivery.id));
    else if (later.has(keyOf(op.receiver, op.id))) superseded.add(i);
    else later.add(keyOf(op.receiver, op.id));
  }
  return superseded;
}


import { silentLogger } from '../log.ts';
import type { DeadLetter, Delivery, Logger } from '../types.ts';
import {
  openDatabase,
  SELECT_DELIVERY,
  toDeadLetter,
  toStoredDelivery,
  type Database,
  type DeliveryRow,
} from './sqlite/database.ts';
import type { DeliveryUpdate, Store, StoredDelivery } from './types.ts';

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file; created with its tables when missing. One receiver process per file. */
  path: string;
  /**
   * How long a succeeded delivery is kept (for inspection) before it is pruned; 0 deletes it as
   * soon as it succeeds. Dead letters are kept until they are replayed.
   * @default 3_600_000 (1 hour)
   */
  retentionMs?: number;
  /**
   * How a commit reaches the disk. `'full'` (fsync on every commit) keeps an acknowledged delivery
   * through a power loss; `'normal'` only through a crash of the process, and is cheaper.
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
  accept(delivery: Delivery, dedupeTtlMs: number): Promise<boolean>;
  update(id: string, update: DeliveryUpdate): void;
  unfinished(): StoredDelivery[];
  deadLetters(): DeadLetter[];
  close(): void;
  /**
   * Calls `listener` with each dead letter an operator re-queued (`scrapehook replay`) while this
   * process runs, so that its handlers run it again. Answers a function that stops watching.
   */
  watch(listener: (delivery: StoredDelivery) => void): () => void;
}

type Pending =
  | {
      readonly kind: 'accept';
      readonly delivery: Delivery;
      readonly dedupeTtlMs: number;
      readonly resolve: (accepted: boolean) => void;
      readonly reject: (error: unknown) => void;
    }
  | { readonly kind: 'update'; readonly id: string; readonly update: DeliveryUpdate };

/** Rows deleted per prune transaction, so that pruning never blocks the event loop for long. */
const PRUNE_BATCH = 5000;

/**
 * A durable store on SQLite (better-sqlite3, WAL mode), for one machine: an acknowledged delivery
 * is on disk before the sender gets its 2xx, and a restarted receiver runs again every delivery
 * that was accepted but not finished. Dead letters and dedupe ids survive restarts.
 *
 * Writes are group-committed: every accept and state change made during one turn of the event loop
 * goes into one transaction, and each `accept()` settles once that transaction has committed. So
 * the cost of a commit (an fsync with `synchronous: 'full'`) is shared by all the deliveries that
 * arrived meanwhile. State changes (running, succeeded, ...) are not awaited: after a crash the
 * worst case is that a delivery whose success was not yet written runs once more.
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
  if (typeof options !== 'object' || options === null || typeof options.path !== 'string' || options.path === '') {
    throw new TypeError('Expected `path` to be the path of a database file, got ' + JSON.stringify(options?.path));
  }
  const retentionMs = nonNegativeInteger('retentionMs', options.retentionMs ?? 60 * 60 * 1000);
  const pollIntervalMs = positiveInteger('pollIntervalMs', options.pollIntervalMs ?? 1000);
  const pruneIntervalMs = positiveInteger('pruneIntervalMs', options.pruneIntervalMs ?? 60_000);
  const busyTimeoutMs = nonNegativeInteger('busyTimeoutMs', options.busyTimeoutMs ?? 5000);
  const synchronous = options.synchronous ?? 'full';
  if (synchronous !== 'full' && synchronous !== 'normal') {
    throw new TypeError(`Expected \`synchronous\` to be 'full' or 'normal', got ${JSON.stringify(synchronous)}`);
  }
  const logger = options.logger ?? silentLogger;
  const { path } = options;
  const db = openDatabase(path, { busyTimeoutMs, synchronous });
  return new SqliteStoreImpl(db, path, { retentionMs, pollIntervalMs, pruneIntervalMs, logger });
}

interface Settings {
  readonly retentionMs: number;
  readonly pollIntervalMs: number;
  readonly pruneIntervalMs: number;
  readonly logger: Logger;
}

class SqliteStoreImpl implements SqliteStore {
  readonly path: string;
  readonly #db: Database;
  readonly #settings: Settings;
  #pending: Pending[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #watchers = new Set<(delivery: StoredDelivery) => void>();
  #pollTimer: NodeJS.Timeout | undefined;
  readonly #pruneTimer: NodeJS.Timeout;
  /** Writes what is pending if the process exits without closing the store (better-sqlite3 is synchronous). */
  readonly #onExit = () => this.#flush();

  readonly #claim;
  readonly #insert;
  readonly #update;
  readonly #delete;
  readonly #commit;

  constructor(db: Database, path: string, settings: Settings) {
    this.#db = db;
    this.path = path;
    this.#settings = settings;
    // Claims a dedupe id unless it is held and not expired: `changes` is 1 when claimed, 0 for a duplicate.
    this.#claim = db.prepare(
      'INSERT INTO dedupe (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE dedupe.expires_at <= ?',
    );
    // Without dedupe the same id may be accepted again: it is then a fresh delivery.
    this.#insert = db.prepare(`
      INSERT INTO deliveries (id, type, provider, payload, received_at, state, attempts, error, updated_at)
      VALUES (?, ?, ?, ?, ?, 'queued', 0, NULL, ?)
      ON CONFLICT (id) DO UPDATE SET type = excluded.type, provider = excluded.provider, payload = excluded.payload,
        received_at = excluded.received_at, state = 'queued', attempts = 0, error = NULL, updated_at = excluded.updated_at`);
    this.#update = db.prepare('UPDATE deliveries SET state = ?, attempts = ?, error = ?, updated_at = ? WHERE id = ?');
    this.#delete = db.prepare('DELETE FROM deliveries WHERE id = ?');
    this.#commit = db.transaction((ops: readonly Pending[], now: number): boolean[] => {
      const accepted: boolean[] = [];
      for (const op of ops) {
        if (op.kind === 'accept') {
          const { delivery, dedupeTtlMs } = op;
          if (dedupeTtlMs > 0 && this.#claim.run(delivery.id, now + dedupeTtlMs, now).changes === 0) {
            accepted.push(false);
            continue;
          }
          this.#insert.run(delivery.id, delivery.type, delivery.provider, JSON.stringify(delivery.payload), delivery.receivedAt.getTime(), now);
          accepted.push(true);
        } else {
          const { id, update } = op;
          if (update.state === 'succeeded' && this.#settings.retentionMs === 0) this.#delete.run(id);
          else this.#update.run(update.state, update.attempts, update.error ? JSON.stringify(update.error) : null, now, id);
        }
      }
      return accepted;
    });
    this.#pruneTimer = setInterval(() => this.#prune(), settings.pruneIntervalMs).unref();
    process.on('exit', this.#onExit);
    this.#prune();
  }

  accept(delivery: Delivery, dedupeTtlMs: number): Promise<boolean> {
    if (this.#closed) return Promise.reject(new Error(`The SQLite store ${this.path} is closed`));
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ kind: 'accept', delivery, dedupeTtlMs, resolve, reject });
      this.#scheduleFlush();
    });
  }

  update(id: string, update: DeliveryUpdate): void {
    // A handler that finishes after close() (it outlived the close timeout) has nowhere to write:
    // the delivery stays unfinished on disk and runs again at the next start.
    if (this.#closed) return;
    this.#pending.push({ kind: 'update', id, update });
    this.#scheduleFlush();
  }

  unfinished(): StoredDelivery[] {
    this.#flush();
    // Everything queued is re-queued now, re-queued dead letters included: drop their flags.
    this.#db.prepare('DELETE FROM requeued').run();
    const rows = this.#db.prepare(`${SELECT_DELIVERY} WHERE state IN ('queued', 'running') ORDER BY seq`).all() as DeliveryRow[];
    return rows.map(toStoredDelivery);
  }

  deadLetters(): DeadLetter[] {
    this.#flush();
    const rows = this.#db.prepare(`${SELECT_DELIVERY} WHERE state = 'dead' ORDER BY seq`).all() as DeliveryRow[];
    return rows.map(toDeadLetter);
  }

  watch(listener: (delivery: StoredDelivery) => void): () => void {
    this.#watchers.add(listener);
    this.#pollTimer ??= setInterval(() => this.#pollRequeued(), this.#settings.pollIntervalMs).unref();
    return () => {
      this.#watchers.delete(listener);
      if (this.#watchers.size === 0 && this.#pollTimer) {
        clearInterval(this.#pollTimer);
        this.#pollTimer = undefined;
      }
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    clearInterval(this.#pruneTimer);
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#watchers.clear();
    process.off('exit', this.#onExit);
    this.#db.close();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // setImmediate runs after the I/O callbacks of this loop turn: every request read meanwhile
    // joins the same transaction (group commit).
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0 || this.#closed) return;
    const ops = this.#pending;
    this.#pending = [];
    let accepted: boolean[];
    try {
      accepted = this.#commit.immediate(ops, Date.now());
    } catch (error) {
      this.#settings.logger.error({ err: error, path: this.path, writes: ops.length }, 'scrapehook: the SQLite store could not commit');
      for (const op of ops) if (op.kind === 'accept') op.reject(error);
      return;
    }
    let i = 0;
    for (const op of ops) if (op.kind === 'accept') op.resolve(accepted[i++]!);
  }

  #pollRequeued(): void {
    if (this.#closed || this.#watchers.size === 0) return;
    let revived: StoredDelivery[];
    try {
      revived = this.#db
        .transaction((): StoredDelivery[] => {
          const ids = this.#db.prepare('SELECT id FROM requeued ORDER BY at LIMIT 1000').pluck().all() as string[];
          if (ids.length === 0) return [];
          const select = this.#db.prepare(`${SELECT_DELIVERY} WHERE id = ? AND state = 'queued'`);
          const unflag = this.#db.prepare('DELETE FROM requeued WHERE id = ?');
          const out: StoredDelivery[] = [];
          for (const id of ids) {
            unflag.run(id);
            const row = select.get(id) as DeliveryRow | undefined;
            if (row) out.push(toStoredDelivery(row));
          }
          return out;
        })
        .immediate();
    } catch (error) {
      this.#settings.logger.error({ err: error, path: this.path }, 'scrapehook: the SQLite store could not read re-queued deliveries');
      return;
    }
    for (const delivery of revived) {
      for (const listener of this.#watchers) listener(delivery);
    }
  }

  #prune(): void {
    if (this.#closed) return;
    try {
      const now = Date.now();
      const succeeded = this.#db
        .prepare(`DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE state = 'succeeded' AND updated_at <= ? LIMIT ${PRUNE_BATCH})`)
        .run(now - this.#settings.retentionMs).changes;
      const ids = this.#db
        .prepare(`DELETE FROM dedupe WHERE id IN (SELECT id FROM dedupe WHERE expires_at <= ? LIMIT ${PRUNE_BATCH})`)
        .run(now).changes;
      // More left than one batch: carry on soon, leaving the event loop to requests in between.
      if (succeeded === PRUNE_BATCH || ids === PRUNE_BATCH) setTimeout(() => this.#prune(), 10).unref();
    } catch (error) {
      this.#settings.logger.warn({ err: error, path: this.path }, 'scrapehook: the SQLite store could not prune');
    }
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`Expected \`${name}\` to be a positive integer, got ${String(value)}`);
  }
  return value;
}

function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new TypeError(`Expected \`${name}\` to be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

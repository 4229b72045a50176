import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type { ReceivedBodyType, SerializedError } from '../../types.ts';
import type { DeliveryState, StoredDeadLetter, StoredDelivery } from '../types.ts';

/** A better-sqlite3 connection. */
export type Database = BetterSqlite3.Database;

/** The schema version this code writes; bumped with each migration. */
export const SCHEMA_VERSION = 6;

const require = createRequire(import.meta.url);

/**
 * better-sqlite3 is an optional peer dependency: it is loaded only when a SQLite store is opened,
 * so `import 'scrapehook'` works without it.
 */
function loadBetterSqlite3(): typeof BetterSqlite3 {
  try {
    return require('better-sqlite3') as typeof BetterSqlite3;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new Error('sqliteStore() needs the optional peer dependency better-sqlite3: npm install better-sqlite3', { cause: error });
    }
    throw error;
  }
}

/** How SQLite syncs a commit: `full` survives a power loss, `normal` only a process crash. */
export type Synchronous = 'full' | 'normal';

export interface OpenOptions {
  /**
   * Open an existing scrapehook database only: refuse to create the file or the tables (the CLI
   * must not create an empty database from a typo, nor add tables to somebody else's).
   */
  readonly mustExist?: boolean;
  readonly busyTimeoutMs: number;
  readonly synchronous: Synchronous;
}

/** Opens (and creates or migrates) a scrapehook database in WAL mode. */
export function openDatabase(path: string, options: OpenOptions): Database {
  const Sqlite = loadBetterSqlite3();
  const db = new Sqlite(path, { fileMustExist: options.mustExist === true, timeout: options.busyTimeoutMs });
  try {
    if (options.mustExist === true && db.pragma('user_version', { simple: true }) === 0) {
      throw new Error(`${path} is not a scrapehook database (no scrapehook tables in it)`);
    }
    // For a new file only (an existing one keeps its page size): 16 KiB pages rather than 4 KiB
    // make a 256 KB body a chain of 16 pages instead of 64, each a frame written to the log, and
    // cut the store's cost per delivery by about a fifth at 2 KB too (npm run bench).
    if (options.mustExist !== true) db.pragma('page_size = 16384');
    // WAL: readers (the CLI) never block the receiver's writes, and a commit appends to one file.
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    migrate(db, path);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/**
 * The payload or body of a delivery, apart from its state: SQLite rewrites a whole row, overflow
 * pages included, whenever one of its columns changes, so a 256 KB body in the row of a delivery
 * was written again for each state change.
 */
const CONTENTS_COLUMNS = `
  seq       INTEGER PRIMARY KEY, -- the delivery's
  payload   TEXT,                -- JSON, when the body is not kept
  -- The body as received (type 'json', 'form' or 'multipart/form-data; boundary="..."'), decoded and validated again when read back: writing
  -- the bytes costs a copy, serializing a large payload more than parsing it did.
  body      BLOB,
  body_type TEXT
`;

/** Every way a delivery is deleted (prune, retention 0, ...) takes its contents with it. */
const CONTENTS_TRIGGER = `
  CREATE TRIGGER deliveries_contents AFTER DELETE ON deliveries
  BEGIN DELETE FROM contents WHERE seq = OLD.seq; END;
`;

/**
 * The receiver a delivery belongs to (its `name`, by default its provider's): several receivers
 * may share one file, each recovering, listing and counting only its own deliveries.
 */
const RECEIVER_COLUMN = "receiver TEXT NOT NULL DEFAULT ''";

/** The receiver that claimed a dedupe id; NULL for ids written before schema 4 (they hold for every receiver). */
const DEDUPE_RECEIVER_COLUMN = 'receiver TEXT';

const TABLES = `
  CREATE TABLE deliveries (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    provider    TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    updated_at  INTEGER NOT NULL,
    ${RECEIVER_COLUMN}
  );
  CREATE TABLE contents (${CONTENTS_COLUMNS});
  ${CONTENTS_TRIGGER}
  -- No index on id for every row: dedupe ids are random, and a random insert into a B-tree per
  -- delivery was the most expensive part of a commit. The store addresses a delivery in flight
  -- by seq; only dead letters are looked up by id (replay), through this partial index.
  CREATE INDEX deliveries_dead ON deliveries (id) WHERE state = 'dead';
  -- Pruning succeeded deliveries past their retention (appended in time order: cheap).
  CREATE INDEX deliveries_succeeded ON deliveries (updated_at) WHERE state = 'succeeded';
  -- Dedupe ids, appended in claim order. The store checks ids in memory (it loads the newest
  -- ones at start) and only appends here: an index on random ids would cost a B-tree page
  -- write per delivery. They outlive the deliveries' retention (48 h by default).
  CREATE TABLE dedupe (
    seq        INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    ${DEDUPE_RECEIVER_COLUMN}
  );
  -- Dead letters an operator re-queued (scrapehook replay) for the running receiver to pick up.
  CREATE TABLE requeued (
    seq INTEGER PRIMARY KEY,
    at  INTEGER NOT NULL
  );
`;

/**
 * Import state (`ctx.importState`): values of a delivery (importRows' checkpoints), deleted with
 * the delivery's row or at their expiry, and each receiver's sets (Firecrawl page ids per job),
 * kept until their expiry.
 */
const IMPORT_TABLES = `
  CREATE TABLE import_values (
    seq        INTEGER NOT NULL, -- the delivery's
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (seq, key)
  ) WITHOUT ROWID;
  CREATE TRIGGER deliveries_import_values AFTER DELETE ON deliveries
  BEGIN DELETE FROM import_values WHERE seq = OLD.seq; END;
  CREATE TABLE import_sets (
    receiver   TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (receiver, key)
  ) WITHOUT ROWID;
  CREATE TABLE import_set_members (
    receiver TEXT NOT NULL,
    key      TEXT NOT NULL,
    member   TEXT NOT NULL,
    PRIMARY KEY (receiver, key, member)
  ) WITHOUT ROWID;
`;

function migrate(db: Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version === SCHEMA_VERSION) return;
  if (version > SCHEMA_VERSION) {
    throw new Error(`${path} was written by a newer scrapehook (schema ${version}, this one knows ${SCHEMA_VERSION}): upgrade scrapehook`);
  }
  db.transaction(() => {
    if (version === 0) db.exec(TABLES);
    else {
      // 2: a delivery may be kept as its body as received (body, body_type) instead of its payload.
      if (version === 1) db.exec('ALTER TABLE deliveries ADD COLUMN body BLOB; ALTER TABLE deliveries ADD COLUMN body_type TEXT;');
      // 3: the payload and body move to a table of their own, out of the row that state changes rewrite.
      if (version < 3) db.exec(`
        CREATE TABLE contents (${CONTENTS_COLUMNS});
        INSERT INTO contents (seq, payload, body, body_type)
          SELECT seq, CASE WHEN body IS NULL THEN payload END, body, body_type FROM deliveries;
        ALTER TABLE deliveries DROP COLUMN payload;
        ALTER TABLE deliveries DROP COLUMN body;
        ALTER TABLE deliveries DROP COLUMN body_type;
        ${CONTENTS_TRIGGER}
      `);
      // 4: each delivery and dedupe id belongs to a receiver. Before, a file served one receiver,
      // whose name defaults to its provider's; old dedupe ids keep holding for every receiver.
      if (version < 4) db.exec(`
        ALTER TABLE deliveries ADD COLUMN ${RECEIVER_COLUMN};
        UPDATE deliveries SET receiver = provider;
        ALTER TABLE dedupe ADD COLUMN ${DEDUPE_RECEIVER_COLUMN};
      `);
    }
    // 5: import state (checkpoints of importRows, sets of ids).
    if (version < 5) db.exec(IMPORT_TABLES);
    // 6: the W3C trace context of the span that received a delivery (tracing on), for the spans of its attempts to link to.
    if (version < 6) db.exec('ALTER TABLE contents ADD COLUMN traceparent TEXT');
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** A `deliveries` row as read back. */
export interface DeliveryRow {
  seq: number;
  receiver: string;
  id: string;
  type: string;
  provider: string;
  payload: string | null;
  received_at: number;
  state: DeliveryState;
  attempts: number;
  error: string | null;
  body: Buffer | null;
  body_type: ReceivedBodyType | null;
  traceparent: string | null;
}

export const SELECT_DELIVERY =
  'SELECT seq, receiver, id, type, provider, payload, received_at, state, attempts, error, body, body_type, traceparent FROM deliveries JOIN contents USING (seq)';

export function toStoredDelivery(row: DeliveryRow): StoredDelivery {
  const stored: {
    -readonly [K in keyof StoredDelivery]: StoredDelivery[K];
  } = {
    id: row.id,
    type: row.type,
    provider: row.provider,
    payload: row.body === null ? (JSON.parse(row.payload ?? 'null') as unknown) : undefined,
    receivedAt: new Date(row.received_at),
    state: row.state,
    attempts: row.attempts,
  };
  if (row.error !== null) stored.error = JSON.parse(row.error) as SerializedError;
  if (row.body !== null) stored.body = { bytes: row.body, type: row.body_type ?? 'json' };
  if (row.traceparent !== null) stored.traceparent = row.traceparent;
  return stored;
}

export function toDeadLetter(row: DeliveryRow): StoredDeadLetter {
  // The trace context is the queue's business, not part of the event a dead letter shows.
  const { state: _state, attempts, error, body, traceparent: _traceparent, ...delivery } = toStoredDelivery(row);
  const letter = {
    id: row.id,
    event: { ...delivery, attempt: attempts },
    error: error ?? { type: 'handler.failed', message: 'unknown error' },
    attempts,
  };
  return body ? { ...letter, body } : letter;
}

/** Counts per state, for `scrapehook stats`. */
export interface SqliteCounts {
  queued: number;
  running: number;
  succeeded: number;
  dead: number;
  /** Dead letters re-queued by an operator and not yet picked up by a receiver. */
  requeued: number;
  /** Dedupe ids on disk, not expired (the store remembers at most its `maxIds` newest). */
  dedupeIds: number;
}

/** Counts per state of every receiver's deliveries, or of the one named `receiver`. */
export function countStates(db: Database, receiver?: string, now = Date.now()): SqliteCounts {
  const counts: SqliteCounts = { queued: 0, running: 0, succeeded: 0, dead: 0, requeued: 0, dedupeIds: 0 };
  const mine = receiver === undefined ? '' : 'WHERE receiver = @receiver';
  const params = receiver === undefined ? {} : { receiver };
  const rows = db.prepare(`SELECT state, COUNT(*) AS n FROM deliveries ${mine} GROUP BY state`).all(params) as { state: DeliveryState; n: number }[];
  for (const { state, n } of rows) counts[state] = n;
  counts.requeued = (db.prepare(`SELECT COUNT(*) AS n FROM requeued CROSS JOIN deliveries USING (seq) ${mine}`).get(params) as { n: number }).n;
  // Ids written before schema 4 (receiver NULL) hold for every receiver.
  const ids = receiver === undefined ? '' : 'AND (receiver = @receiver OR receiver IS NULL)';
  counts.dedupeIds = (db.prepare(`SELECT COUNT(*) AS n FROM dedupe WHERE expires_at > @now ${ids}`).get({ ...params, now }) as { n: number }).n;
  return counts;
}

/** The dead letters of every receiver, or of the one named `receiver`, oldest first. */
export function selectDeadLetters(db: Database, receiver?: string): DeliveryRow[] {
  if (receiver === undefined) return db.prepare(`${SELECT_DELIVERY} WHERE state = 'dead' ORDER BY seq`).all() as DeliveryRow[];
  return db.prepare(`${SELECT_DELIVERY} WHERE state = 'dead' AND receiver = ? ORDER BY seq`).all(receiver) as DeliveryRow[];
}

/**
 * Puts dead letters back in the `queued` state and flags them for the running receiver, which
 * polls the flags (or re-queues every unfinished delivery at its next start). Answers the ids
 * re-queued; `ids` undefined means every dead letter.
 */
export function requeueDeadLetters(db: Database, ids: readonly string[] | undefined, receiver?: string, now = Date.now()): string[] {
  // Without `receiver`, every receiver's (two receivers' dead letters may have the same id).
  const mine = receiver === undefined ? '' : 'AND receiver = @receiver';
  const params = receiver === undefined ? {} : { receiver };
  const find = db.prepare(`SELECT seq, id FROM deliveries WHERE id = @id AND state = 'dead' ${mine}`);
  const all = db.prepare(`SELECT seq, id FROM deliveries WHERE state = 'dead' ${mine} ORDER BY seq`);
  const revive = db.prepare("UPDATE deliveries SET state = 'queued', updated_at = ? WHERE seq = ?");
  const flag = db.prepare('INSERT OR REPLACE INTO requeued (seq, at) VALUES (?, ?)');
  return db
    .transaction((): string[] => {
      const targets = (ids === undefined ? all.all(params) : ids.flatMap((id) => find.all({ ...params, id }))) as { seq: number; id: string }[];
      for (const { seq } of targets) {
        revive.run(now, seq);
        flag.run(seq, now);
      }
      return [...new Set(targets.map((t) => t.id))];
    })
    .immediate();
}

/** An import's checkpoint as `scrapehook imports` lists it. */
export interface ImportRow {
  receiver: string;
  /** The delivery's id. */
  id: string;
  type: string;
  /** The delivery's state. */
  state: DeliveryState;
  /** The checkpoint (JSON, as importRows writes it). */
  value: string;
}

/** The checkpoints of importRows (keys `import:...`) of every receiver, or of `receiver`, oldest delivery first. */
export function selectImports(db: Database, receiver?: string, now = Date.now()): ImportRow[] {
  const mine = receiver === undefined ? '' : 'AND d.receiver = @receiver';
  return db
    .prepare(
      `SELECT d.receiver, d.id, d.type, d.state, v.value FROM import_values AS v JOIN deliveries AS d USING (seq)
       WHERE v.key LIKE 'import:%' AND v.expires_at > @now ${mine} ORDER BY v.seq, v.key`,
    )
    .all(receiver === undefined ? { now } : { now, receiver }) as ImportRow[];
}

import { createHash, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type PgBoss from 'pg-boss';
import type * as Pg from 'pg';
import type { ImportState } from '../../import/types.ts';
import type { Delivery, ReceivedBody, ReceivedBodyType, SerializedError } from '../../types.ts';

/*
 * The PostgreSQL persistence of postgresQueue(): what is kept and how it moves, with no policy (the
 * queue, or the core, decides when an attempt is retried or dead). pg-boss owns the job table: it
 * creates and migrates its schema, claims jobs (`FOR UPDATE SKIP LOCKED`), fails jobs whose worker
 * stopped renewing its lease (its maintenance), and moves jobs between its states. Beside its
 * tables, in the same schema, this module keeps what pg-boss has no notion of: dedupe ids with a
 * TTL, bodies as received, the per-key lines of `orderBy`, and import state. Everything a delivery
 * needs is written in one transaction.
 */

export type PgBossModule = typeof PgBoss;
export type PgModule = typeof Pg;

const require = createRequire(import.meta.url);

/**
 * pg-boss and pg are optional peer dependencies: loaded only when a PostgreSQL queue (or the CLI's
 * `--postgres`) is used, so `import 'scrapehook'` works without them.
 */
export function loadPgBoss(): { PgBoss: PgBossModule; pg: PgModule } {
  try {
    return { PgBoss: require('pg-boss') as PgBossModule, pg: require('pg') as PgModule };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new Error('postgresQueue() needs the optional peer dependencies pg-boss and pg: npm install pg-boss@10 pg', { cause: error });
    }
    throw error;
  }
}

/** The default pg-boss queue of a receiver (and the CLI's for `--receiver`). */
export function defaultPostgresQueueName(receiver: string): string {
  return `scrapehook-${receiver}`;
}

/** A job's data (JSON): the delivery, without its body when the body is kept as received. */
export interface PgJobData {
  readonly id: string;
  readonly type: string;
  readonly provider: string;
  /** The receiver that accepted it. */
  readonly receiver: string;
  /** The validated payload; absent when the body is kept (`body`). */
  readonly payload?: unknown;
  /** How the body kept in `scrapehook_body` is encoded, when it is kept. */
  readonly body?: ReceivedBodyType;
  readonly receivedAt: number;
  /** The ordering key (`orderBy`), fixed when the delivery was accepted. */
  readonly orderKey?: string;
}

/** A job claimed by a worker: the delivery, its body if kept, and the attempts pg-boss counted. */
export interface PgClaimed {
  readonly jobId: string;
  readonly data: PgJobData;
  readonly delivery: Delivery;
  /** The body as received; `null` when the job says it has one and it is gone (it succeeded already). */
  readonly body: ReceivedBody | null | undefined;
  /** Attempts made before this one (pg-boss' `retryCount`: a lease that expired counts as one). */
  readonly attemptsSoFar: number;
  /** The attempts this job may have (a replay gives a dead letter one more). */
  readonly maxAttempts: number;
}

/** One delivery to accept. */
export interface PgAcceptItem {
  readonly delivery: Delivery;
  readonly body: ReceivedBody | undefined;
  readonly orderKey: string | undefined;
}

/** What {@link PgJobs.accept} needs of the receiver. */
export interface AcceptSettings {
  /** The receiver's name, kept in each job (for the CLI). */
  readonly receiver: string;
  /** How long a dedupe id is claimed; 0 for no dedupe. */
  readonly dedupeTtlMs: number;
  /** Attempts per delivery (pg-boss' retry limit is one less). */
  readonly attempts: number;
  /** A job's lease, until a worker renews it. */
  readonly leaseSeconds: number;
}

/** A dead letter as kept: its job, data, attempts, last error, and body. */
export interface PgDeadRow {
  readonly jobId: string;
  readonly data: PgJobData;
  readonly attempts: number;
  readonly error: SerializedError;
  readonly body: ReceivedBody | undefined;
  readonly failedAt: Date;
}

/** Delivery counts of a queue. */
export interface PgCounts {
  /** Waiting to run, waiting for a retry, or parked behind an earlier delivery with the same `orderBy` key. */
  queued: number;
  /** Running in some worker. */
  running: number;
  /** Dead letters. */
  dead: number;
}

/** How long a succeeded delivery's import state stays (for `scrapehook imports`): 1 hour, as the other backends. */
export const STATE_KEPT_MS = 60 * 60 * 1000;

/** When a parked job (behind another of its `orderBy` key) starts if nothing promotes it: never, in practice. */
const PARKED = '1000 years';

/** Most jobs claimed by one statement. */
export const MAX_CLAIM = 1000;

/** pg-boss' executor interface, over a pool or over one client inside a transaction. */
type Db = PgBoss.Db;

/** Checks a schema name (it is spliced into SQL): what pg-boss accepts. */
export function checkSchema(schema: string): string {
  if (typeof schema !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,49}$/.test(schema)) {
    throw new TypeError(`Expected \`schema\` to be a PostgreSQL name (letters, digits, _; at most 50), got ${JSON.stringify(schema)}`);
  }
  return schema;
}

/** The tables this module keeps beside pg-boss', created (if missing) at start. */
function ownTables(s: string): string {
  return `
    CREATE TABLE IF NOT EXISTS ${s}.scrapehook_dedupe (
      queue text NOT NULL, id text NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY (queue, id));
    CREATE INDEX IF NOT EXISTS scrapehook_dedupe_expires ON ${s}.scrapehook_dedupe (expires_at);
    CREATE TABLE IF NOT EXISTS ${s}.scrapehook_body (job_id uuid PRIMARY KEY, bytes bytea NOT NULL);
    -- Rows up to a page stay as they are rather than compressed (pglz took a quarter of the CPU
    -- of accepting 2 KB bodies, and more to read them back); larger bodies are still compressed
    -- and moved out of line. Set on tables made before too; PostgreSQL 11 and later.
    ALTER TABLE ${s}.scrapehook_body SET (toast_tuple_target = 8160);
    CREATE TABLE IF NOT EXISTS ${s}.scrapehook_line (
      seq bigserial PRIMARY KEY, queue text NOT NULL, order_key text NOT NULL, job_id uuid NOT NULL UNIQUE);
    CREATE INDEX IF NOT EXISTS scrapehook_line_key ON ${s}.scrapehook_line (queue, order_key, seq);
    CREATE TABLE IF NOT EXISTS ${s}.scrapehook_state (
      queue text NOT NULL, owner text NOT NULL, key text NOT NULL, value text NOT NULL, delivery text NOT NULL,
      expires_at timestamptz NOT NULL, PRIMARY KEY (queue, owner, key));
    CREATE INDEX IF NOT EXISTS scrapehook_state_expires ON ${s}.scrapehook_state (expires_at);
    CREATE TABLE IF NOT EXISTS ${s}.scrapehook_set (
      queue text NOT NULL, key text NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY (queue, key));
    CREATE TABLE IF NOT EXISTS ${s}.scrapehook_member (
      queue text NOT NULL, key text NOT NULL, member text NOT NULL, PRIMARY KEY (queue, key, member),
      FOREIGN KEY (queue, key) REFERENCES ${s}.scrapehook_set (queue, key) ON DELETE CASCADE);
  `;
}

/** Settings of {@link openPgBoss}. */
export interface PgBossSettings {
  readonly schema: string;
  /** Whether this process runs pg-boss' maintenance (expiring lost leases): the processes with workers. */
  readonly supervise: boolean;
  readonly maintenanceIntervalSeconds: number;
}

/**
 * A pg-boss instance on `pool` (it opens no connections of its own). Its maintenance expires the
 * leases of dead workers; completed jobs are deleted by us rather than archived; failed jobs (dead
 * letters) are kept until replayed (archived after 100 years).
 */
export function openPgBoss(PgBossClass: PgBossModule, pool: Pg.Pool, settings: PgBossSettings): PgBoss {
  return new PgBossClass({
    db: { executeSql: (text: string, values: unknown[]) => pool.query(text, values) },
    schema: settings.schema,
    supervise: settings.supervise,
    schedule: false,
    migrate: true,
    maintenanceIntervalSeconds: settings.maintenanceIntervalSeconds,
    archiveFailedAfterSeconds: 100 * 365 * 24 * 3600,
    archiveCompletedAfterSeconds: 3600,
    deleteAfterDays: 1,
  });
}

/**
 * The queues of a schema, by name, sorted; `undefined` when the schema holds no pg-boss tables
 * (nothing was ever started there).
 */
export async function listQueues(pool: Pg.Pool, schema: string): Promise<string[] | undefined> {
  const { rows } = await pool.query<{ table: string | null }>(`SELECT to_regclass($1) AS table`, [`${schema}.queue`]);
  if (rows[0]?.table === null || rows[0]?.table === undefined) return undefined;
  const queues = await pool.query<{ name: string }>(`SELECT name FROM ${schema}.queue ORDER BY name`);
  return queues.rows.map((row) => row.name);
}

/**
 * The names of a table's prepared statements start with this: short, since PostgreSQL keeps only
 * 63 bytes of a statement's name, and one per table, since a name is prepared once per connection.
 */
function statementPrefix(table: string): string {
  return `scrapehook_${createHash('sha256').update(table).digest('hex').slice(0, 16)}`;
}

/** Runs `work` in a transaction on a client of `pool`. */
export async function transaction<T>(pool: Pg.Pool, work: (client: Pg.PoolClient, db: Db) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A connection that drops between two statements emits 'error' on the client, which the pool
  // does not listen to while the client is checked out: the next statement fails with it anyway.
  const dropped = () => void (broken = true);
  client.on('error', dropped);
  try {
    await client.query('BEGIN');
    const result = await work(client, { executeSql: (text, values) => client.query(text, values) });
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw error;
  } finally {
    client.off('error', dropped);
    client.release(broken);
  }
}

/**
 * One queue's persistence: a pg-boss queue and this module's rows for it. Stateless apart from its
 * settings: any number of processes may hold one for the same queue.
 */
export class PgJobs {
  readonly #pool: Pg.Pool;
  readonly #boss: PgBoss;
  readonly #s: string;
  readonly #queue: string;
  /**
   * The queue's own table: pg-boss keeps each queue's jobs in a partition of `job` (named in the
   * queue's row; set by install()). The hot statements name it rather than `job`, so that
   * PostgreSQL plans no partition pruning for them. Its indexes start with the queue's name (the
   * primary key is (name, id)): the statements still say `name = ...` to use them.
   */
  #t: string;
  /** Prefix of this queue's named (prepared) statements, per table. */
  #named: string;

  constructor(pool: Pg.Pool, boss: PgBoss, schema: string, queue: string) {
    this.#pool = pool;
    this.#boss = boss;
    this.#s = schema;
    this.#queue = queue;
    // What pg-boss 10's create_queue() names it; install() reads the name from the queue's row.
    this.#t = `${schema}.j${createHash('sha224').update(queue).digest('hex')}`;
    this.#named = statementPrefix(this.#t);
  }

  get queue(): string {
    return this.#queue;
  }

  /** Creates (or migrates) pg-boss' schema, this module's tables and the queue; safe to run from several processes at once. */
  async install(): Promise<void> {
    await this.#boss.start();
    await transaction(this.#pool, async (client) => {
      // Concurrent CREATE TABLE IF NOT EXISTS, or two pg-boss create_queue() of one queue, collide
      // (a deadlock between the queue row and its partition): one process at a time.
      await client.query("SELECT pg_advisory_xact_lock(hashtextextended('scrapehook-install', 0))");
      await client.query(ownTables(this.#s));
      const { rowCount } = await client.query(`SELECT 1 FROM ${this.#s}.queue WHERE name = $1`, [this.#queue]);
      // What boss.createQueue() runs, inside this transaction.
      if (rowCount === 0) await client.query(`SELECT ${this.#s}.create_queue($1, $2)`, [this.#queue, { policy: 'standard' }]);
      const { rows } = await client.query<{ partition_name: string }>(`SELECT partition_name FROM ${this.#s}.queue WHERE name = $1`, [this.#queue]);
      const table = rows[0]?.partition_name;
      if (typeof table !== 'string' || !/^\w{1,63}$/.test(table)) throw new Error(`pg-boss queue ${this.#queue} has no partition table of a known name`);
      this.#t = `${this.#s}.${table}`;
      this.#named = statementPrefix(this.#t);
    });
  }

  /** Stops pg-boss' maintenance (the pool is the caller's to end). */
  async stop(): Promise<void> {
    await this.#boss.stop({ graceful: false, close: false, wait: true });
  }

  /**
   * Keeps deliveries, in one transaction: claims each one's dedupe id for `dedupeTtlMs` (0: no
   * dedupe), writes its body, joins its `orderBy` line, and inserts its job (parked when an earlier
   * delivery of its key is unfinished). Answers, per item, whether it was new (`false`: a duplicate,
   * nothing kept). Settles after the COMMIT.
   */
  async accept(items: readonly PgAcceptItem[], settings: AcceptSettings): Promise<boolean[]> {
    if (items.every((item) => item.orderKey === undefined)) return this.#acceptAtOnce(items, settings);
    const fresh = settings.dedupeTtlMs > 0 ? firstOfEachId(items) : items.map(() => true);
    return transaction(this.#pool, async (client, db) => {
      if (settings.dedupeTtlMs > 0) {
        const wanted = items.flatMap((item, i) => (fresh[i] ? [item.delivery.id] : []));
        const { rows } = await client.query<{ id: string }>(
          `INSERT INTO ${this.#s}.scrapehook_dedupe (queue, id, expires_at)
           SELECT $1, unnest($2::text[]), now() + $3 * interval '1 millisecond'
           ON CONFLICT (queue, id) DO UPDATE SET expires_at = EXCLUDED.expires_at
             WHERE scrapehook_dedupe.expires_at <= now()
           RETURNING id`,
          [this.#queue, wanted, settings.dedupeTtlMs],
        );
        const claimed = new Set(rows.map((row) => row.id));
        items.forEach((item, i) => {
          if (fresh[i] && !claimed.has(item.delivery.id)) fresh[i] = false;
        });
      }
      const kept = items.flatMap((item, i) => (fresh[i] ? [{ ...item, jobId: randomUUID() }] : []));
      if (kept.length === 0) return fresh;

      const withBody = kept.filter((item) => item.body !== undefined);
      if (withBody.length > 0) {
        // Bodies as binary parameters, one row each: an array parameter would travel as hex text.
        const values = withBody.map((_, i) => `($${2 * i + 1}::uuid, $${2 * i + 2}::bytea)`).join(', ');
        await client.query(
          `INSERT INTO ${this.#s}.scrapehook_body (job_id, bytes) VALUES ${values}`,
          withBody.flatMap((item) => [item.jobId, item.body!.bytes]),
        );
      }

      const parked = new Set<string>();
      const ordered = kept.filter((item) => item.orderKey !== undefined);
      if (ordered.length > 0) {
        const keys = [...new Set(ordered.map((item) => item.orderKey!))].sort();
        for (const key of keys) await this.#lockKey(client, key);
        const { rows } = await client.query<{ order_key: string }>(
          `SELECT DISTINCT order_key FROM ${this.#s}.scrapehook_line WHERE queue = $1 AND order_key = ANY($2::text[])`,
          [this.#queue, keys],
        );
        const busy = new Set(rows.map((row) => row.order_key));
        for (const item of ordered) {
          if (busy.has(item.orderKey!)) parked.add(item.jobId);
          busy.add(item.orderKey!);
        }
        await client.query(
          `INSERT INTO ${this.#s}.scrapehook_line (queue, order_key, job_id)
           SELECT $1, key, job FROM unnest($2::text[], $3::uuid[]) WITH ORDINALITY AS t(key, job, n) ORDER BY n`,
          [this.#queue, ordered.map((item) => item.orderKey!), ordered.map((item) => item.jobId)],
        );
      }

      const jobs: PgBoss.JobInsert<PgJobData>[] = kept.map((item) => ({
        id: item.jobId,
        name: this.#queue,
        data: toJobData(item.delivery, item.orderKey, item.body?.type, settings.receiver),
        retryLimit: settings.attempts - 1,
        retryDelay: 0,
        retryBackoff: false,
        expireInSeconds: settings.leaseSeconds,
        // Never archived while it waits, however long no worker runs.
        keepUntil: 'infinity',
        ...(parked.has(item.jobId) ? { startAfter: PARKED } : {}),
      }));
      await this.#boss.insert(jobs, { db });
      return fresh;
    });
  }

  /**
   * accept() of deliveries without an `orderBy` key, in one statement (atomic by itself: no
   * BEGIN/COMMIT round trips), prepared once per connection: claims the dedupe ids, and for the
   * deliveries whose id it claimed, writes the bodies and inserts the jobs into the queue's table
   * with what pg-boss' insert() sets (its `insertJobs` plan in pg-boss 10, for our options).
   */
  async #acceptAtOnce(items: readonly PgAcceptItem[], settings: AcceptSettings): Promise<boolean[]> {
    const dedupe = settings.dedupeTtlMs > 0;
    const fresh = dedupe ? firstOfEachId(items) : items.map(() => true);
    // Bodies travel as one binary parameter, each row naming its slice: an array parameter would
    // travel as hex text, and one parameter per body would make a statement text per batch size.
    const bodies: Buffer[] = [];
    let offset = 1;
    const rows = items.flatMap((item, i) => {
      if (!fresh[i]) return [];
      const { body } = item;
      const row = { i: randomUUID(), k: item.delivery.id, d: toJobData(item.delivery, undefined, body?.type, settings.receiver), o: body ? offset : null, l: body?.bytes.length ?? null };
      if (body) {
        bodies.push(body.bytes);
        offset += body.bytes.length;
      }
      return [row];
    });
    const s = this.#s;
    const kept = dedupe
      ? `claimed AS (
           INSERT INTO ${s}.scrapehook_dedupe (queue, id, expires_at)
           SELECT $2, k, now() + $4 * interval '1 millisecond' FROM input
           ON CONFLICT (queue, id) DO UPDATE SET expires_at = EXCLUDED.expires_at
             WHERE scrapehook_dedupe.expires_at <= now()
           RETURNING id
         ), kept AS (SELECT input.* FROM input JOIN claimed ON claimed.id = input.k)`
      : `kept AS (SELECT * FROM input WHERE $4::float8 IS NOT NULL)`;
    const { rows: accepted } = await this.#pool.query<{ k: string }>({
      name: `${this.#named}_accept${dedupe ? '_dedupe' : ''}`,
      text: `WITH input AS (SELECT * FROM json_to_recordset($1::json) AS x (i uuid, k text, d jsonb, o int, l int)),
        ${kept},
        bodies AS (INSERT INTO ${s}.scrapehook_body (job_id, bytes) SELECT i, substring($3::bytea FROM o FOR l) FROM kept WHERE o IS NOT NULL),
        jobs AS (
          INSERT INTO ${this.#t} (id, name, data, priority, start_after, expire_in, keep_until, retry_limit, retry_delay, retry_backoff, dead_letter, policy)
          SELECT kept.i, q.name, kept.d, 0, now(), $5 * interval '1s', 'infinity', $6::int, 0, false, q.dead_letter, q.policy
          FROM kept JOIN ${s}.queue q ON q.name = $2)
        SELECT k FROM kept`,
      values: [JSON.stringify(rows), this.#queue, Buffer.concat(bodies), settings.dedupeTtlMs, settings.leaseSeconds, settings.attempts - 1],
    });
    if (dedupe) {
      const claimed = new Set(accepted.map((row) => row.k));
      items.forEach((item, i) => {
        if (fresh[i] && !claimed.has(item.delivery.id)) fresh[i] = false;
      });
    }
    return fresh;
  }

  /**
   * Claims up to `count` jobs that may run now, with their bodies, in one statement. What pg-boss 10's fetch() does for a queue of ours (its `fetchNextJob` plan:
   * `FOR UPDATE SKIP LOCKED`, the job becomes `active` from now, a job that started before counts
   * one more attempt), with one difference: the oldest to be due first (`start_after`) rather than
   * the oldest created, since that order is the queue table's index (pg-boss' `job_i5`), so a claim
   * reads only the jobs it takes, however many wait. A retry is due when its backoff ends, a
   * delivery behind another of its `orderBy` key when that one finishes (at its own arrival, so
   * that it does not wait behind the others), a new delivery when it is accepted.
   */
  async claim(count: number): Promise<PgClaimed[]> {
    const limit = Math.max(1, Math.min(Math.floor(count), MAX_CLAIM));
    // Not a prepared statement: a generic plan made while the queue was small (its statistics are
    // only updated by autovacuum's ANALYZE) joined the claimed rows by scanning the whole queue
    // (seen: 58 ms per claim at 20k waiting); planned at each call, PostgreSQL sees the table's size.
    const { rows } = await this.#pool.query<{ id: string; data: PgJobData; retry_count: number; retry_limit: number; bytes: Buffer | null }>({
      text: `WITH next AS (
          SELECT id FROM ${this.#t}
          WHERE name = $1 AND state < 'active' AND start_after < now()
          ORDER BY start_after
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
        ), claimed AS (
          UPDATE ${this.#t} j SET
            state = 'active',
            started_on = now(),
            retry_count = CASE WHEN j.started_on IS NOT NULL THEN j.retry_count + 1 ELSE j.retry_count END
          FROM next WHERE j.name = $1 AND j.id = next.id
          RETURNING j.id, j.data, j.retry_count, j.retry_limit, j.start_after
        )
        SELECT c.id, c.data, c.retry_count, c.retry_limit, b.bytes
        FROM claimed c LEFT JOIN ${this.#s}.scrapehook_body b ON b.job_id = c.id
        ORDER BY c.start_after`,
      values: [this.#queue],
    });
    return rows.map((row) => {
      const { data, bytes } = row;
      const body = data.body === undefined ? undefined : bytes === null ? null : { bytes, type: data.body };
      return { jobId: row.id, data, delivery: toDelivery(data), body, attemptsSoFar: row.retry_count, maxAttempts: row.retry_limit + 1 };
    });
  }

  /** Renews the leases of running jobs for `leaseMs` from now (pg-boss expires a lease at `started_on + expire_in`). */
  async renew(jobIds: readonly string[], leaseMs: number): Promise<void> {
    if (jobIds.length === 0) return;
    await this.#pool.query(
      `UPDATE ${this.#s}.job SET expire_in = (now() - started_on) + $3 * interval '1 millisecond'
       WHERE name = $1 AND id = ANY($2::uuid[]) AND state = 'active'`,
      [this.#queue, jobIds, leaseMs],
    );
  }

  /**
   * Records a success: deletes the job and its body, keeps its import state an hour more, and hands
   * its `orderBy` key to the next delivery. The dedupe id stays for its TTL.
   */
  async succeeded(claimed: PgClaimed): Promise<void> {
    await transaction(this.#pool, async (client) => {
      await client.query(this.#forgetSucceeded([claimed.jobId], false));
      if (claimed.data.orderKey !== undefined) await this.#leaveLine(client, claimed.data.orderKey, claimed.jobId);
    });
  }

  /**
   * Records the success of jobs with no `orderBy` key, in one statement (atomic by itself): what {@link succeeded} does for each.
   *
   * Its commit waits for the local WAL flush even where `synchronous_commit` is `off`: recorded
   * sooner than by the transaction it replaces, a success committed a moment before PostgreSQL
   * crashed would otherwise be lost more often, and its delivery run again (the PostgreSQL outage
   * test in test/durability/distributed-faults.test.ts saw it each time).
   */
  async succeededAll(jobIds: readonly string[]): Promise<void> {
    await this.#pool.query(this.#forgetSucceeded(jobIds, true));
  }

  /**
   * The statement that forgets succeeded jobs: deletes them and their bodies, and keeps their
   * import state an hour more. `flushLocally`: its commit waits for the local WAL flush even where
   * `synchronous_commit` is `off` (see {@link succeededAll}). Not a prepared statement: a generic
   * plan made while the table was small (its statistics are only updated by autovacuum's ANALYZE)
   * may scan the table for each id; planned at each call, PostgreSQL sees the table's current size.
   */
  #forgetSucceeded(jobIds: readonly string[], flushLocally: boolean): Pg.QueryConfig {
    return {
      text: `WITH jobs AS (DELETE FROM ${this.#t} WHERE name = $2 AND id = ANY($1::uuid[])),
          bodies AS (DELETE FROM ${this.#s}.scrapehook_body WHERE job_id = ANY($1::uuid[])),
          state AS (
            UPDATE ${this.#s}.scrapehook_state SET expires_at = LEAST(expires_at, now() + $3 * interval '1 millisecond')
            WHERE queue = $2 AND owner = ANY($1::uuid[]::text[]))
        ${flushLocally ? "SELECT set_config('synchronous_commit', 'local', true) WHERE current_setting('synchronous_commit') = 'off'" : 'SELECT 1'}`,
      values: [jobIds, this.#queue, STATE_KEPT_MS],
    };
  }

  /** Records a failed attempt to run again after `delayMs`, with its error. */
  async retry(claimed: PgClaimed, delayMs: number, error: SerializedError): Promise<void> {
    await transaction(this.#pool, async (client, db) => {
      // Never the last attempt here: pg-boss moves it to `retry`; its start is ours.
      await client.query(`UPDATE ${this.#s}.job SET retry_limit = GREATEST(retry_limit, retry_count + 1) WHERE name = $1 AND id = $2 AND state = 'active'`, [
        this.#queue,
        claimed.jobId,
      ]);
      await this.#boss.fail(this.#queue, claimed.jobId, error, { db });
      await client.query(
        `UPDATE ${this.#s}.job SET start_after = now() + $3 * interval '1 millisecond' WHERE name = $1 AND id = $2 AND state = 'retry'`,
        [this.#queue, claimed.jobId, delayMs],
      );
    });
  }

  /** Records a dead letter with its last error (kept until replayed) and hands its `orderBy` key on. */
  async dead(claimed: PgClaimed, error: SerializedError): Promise<void> {
    await transaction(this.#pool, async (client, db) => {
      // Whatever its retry limit, pg-boss fails it for good.
      await client.query(`UPDATE ${this.#s}.job SET retry_limit = retry_count WHERE name = $1 AND id = $2 AND state = 'active'`, [this.#queue, claimed.jobId]);
      await this.#boss.fail(this.#queue, claimed.jobId, error, { db });
      if (claimed.data.orderKey !== undefined) await this.#leaveLine(client, claimed.data.orderKey, claimed.jobId);
    });
  }

  /**
   * Gives a claimed job back, uncounted: its attempt was cut short by the receiver's close(), not
   * failed. It waits as before the claim (pg-boss counts an attempt when a job that started before
   * is claimed again: one less here), for another process or the next start.
   */
  async release(claimed: PgClaimed): Promise<void> {
    await this.#pool.query(
      `UPDATE ${this.#s}.job SET
         state = CASE WHEN retry_count = 0 THEN 'created' ELSE 'retry' END::${this.#s}.job_state,
         started_on = CASE WHEN retry_count = 0 THEN NULL ELSE started_on END,
         retry_count = GREATEST(retry_count - 1, 0),
         start_after = now()
       WHERE name = $1 AND id = $2 AND state = 'active'`,
      [this.#queue, claimed.jobId],
    );
  }

  /** Deletes a job that ran already (its body is gone: it succeeded, and its lease expired before the job was deleted). */
  async forget(claimed: PgClaimed): Promise<void> {
    await this.succeeded(claimed);
  }

  /** The dead letters, oldest first. */
  async deadLetters(): Promise<PgDeadRow[]> {
    const { rows } = await this.#pool.query<{ id: string; data: PgJobData; retry_count: number; output: unknown; completed_on: Date; bytes: Buffer | null }>(
      `SELECT j.id, j.data, j.retry_count, j.output, j.completed_on, b.bytes
       FROM ${this.#s}.job j LEFT JOIN ${this.#s}.scrapehook_body b ON b.job_id = j.id
       WHERE j.name = $1 AND j.state = 'failed' ORDER BY j.completed_on, j.created_on`,
      [this.#queue],
    );
    return rows.map((row) => ({
      jobId: row.id,
      data: row.data,
      attempts: row.retry_count + 1,
      error: toSerializedError(row.output),
      body: row.bytes !== null && row.data.body !== undefined ? { bytes: row.bytes, type: row.data.body } : undefined,
      failedAt: row.completed_on,
    }));
  }

  /** The job of dead letter `id` (the most recent, without dedupe), if any. */
  async findDeadLetter(id: string): Promise<{ jobId: string; orderKey: string | undefined } | undefined> {
    const { rows } = await this.#pool.query<{ id: string; order_key: string | null }>(
      `SELECT id, data->>'orderKey' AS order_key FROM ${this.#s}.job
       WHERE name = $1 AND state = 'failed' AND data->>'id' = $2 ORDER BY completed_on DESC LIMIT 1`,
      [this.#queue, id],
    );
    const row = rows[0];
    return row ? { jobId: row.id, orderKey: row.order_key ?? undefined } : undefined;
  }

  /**
   * Queues a dead letter again for one more attempt (pg-boss' retry), at the end of its `orderBy`
   * line. Answers `false` when it is not a dead letter (any more).
   */
  async replay(jobId: string, orderKey: string | undefined): Promise<boolean> {
    return transaction(this.#pool, async (client, db) => {
      const { rowCount } = await client.query(`SELECT 1 FROM ${this.#s}.job WHERE name = $1 AND id = $2 AND state = 'failed' FOR UPDATE`, [this.#queue, jobId]);
      if (rowCount === 0) return false;
      await this.#boss.retry(this.#queue, jobId, { db });
      if (orderKey !== undefined) {
        await this.#lockKey(client, orderKey);
        const { rows } = await client.query<{ job_id: string }>(
          `INSERT INTO ${this.#s}.scrapehook_line (queue, order_key, job_id) VALUES ($1, $2, $3)
           ON CONFLICT (job_id) DO NOTHING RETURNING (SELECT job_id FROM ${this.#s}.scrapehook_line WHERE queue = $1 AND order_key = $2 ORDER BY seq LIMIT 1) AS job_id`,
          [this.#queue, orderKey, jobId],
        );
        // Another delivery of its key is unfinished: it waits for its turn.
        const head = rows[0]?.job_id;
        if (head !== undefined && head !== null && head !== jobId) {
          await client.query(`UPDATE ${this.#s}.job SET start_after = now() + interval '${PARKED}' WHERE name = $1 AND id = $2`, [this.#queue, jobId]);
        }
      }
      return true;
    });
  }

  /** A job's state (pg-boss'), or `undefined` when it is gone (it succeeded). */
  async jobState(jobId: string): Promise<{ state: string; error: SerializedError } | undefined> {
    const { rows } = await this.#pool.query<{ state: string; output: unknown }>(`SELECT state, output FROM ${this.#s}.job WHERE name = $1 AND id = $2`, [this.#queue, jobId]);
    const row = rows[0];
    return row ? { state: row.state, error: toSerializedError(row.output) } : undefined;
  }

  async counts(): Promise<PgCounts> {
    const { rows } = await this.#pool.query<{ state: string; n: string }>(
      `SELECT state::text, count(*) AS n FROM ${this.#s}.job WHERE name = $1 AND state IN ('created', 'retry', 'active', 'failed') GROUP BY state`,
      [this.#queue],
    );
    const by = Object.fromEntries(rows.map((row) => [row.state, Number(row.n)]));
    return { queued: (by.created ?? 0) + (by.retry ?? 0), running: by.active ?? 0, dead: by.failed ?? 0 };
  }

  /**
   * Housekeeping, run by workers now and then: forgets expired dedupe ids and import state, and
   * hands on the `orderBy` keys whose head finished without handing on (its lease expired on its
   * last attempt, or a process died mid-way).
   */
  async sweep(): Promise<void> {
    await this.#pool.query(
      `WITH d AS (DELETE FROM ${this.#s}.scrapehook_dedupe WHERE queue = $1 AND expires_at <= now()),
            v AS (DELETE FROM ${this.#s}.scrapehook_state WHERE queue = $1 AND expires_at <= now())
       DELETE FROM ${this.#s}.scrapehook_set WHERE queue = $1 AND expires_at <= now()`,
      [this.#queue],
    );
    const { rows } = await this.#pool.query<{ order_key: string; job_id: string }>(
      `SELECT l.order_key, l.job_id FROM (
         SELECT DISTINCT ON (order_key) order_key, job_id FROM ${this.#s}.scrapehook_line WHERE queue = $1 ORDER BY order_key, seq
       ) l LEFT JOIN ${this.#s}.job j ON j.name = $2 AND j.id = l.job_id
       WHERE j.id IS NULL OR j.state IN ('completed', 'failed', 'cancelled')`,
      [this.#queue, this.#queue],
    );
    for (const row of rows) await transaction(this.#pool, (client) => this.#leaveLine(client, row.order_key, row.job_id));
  }

  /**
   * Dead letters that no worker recorded: pg-boss failed them because the lease of their last
   * attempt expired (their process died). Rewrites each one's error to say so, and answers them,
   * once: of several processes sweeping at the same moment, one gets each.
   */
  async takeLostDeadLetters(): Promise<{ data: PgJobData; attempts: number; error: SerializedError }[]> {
    const error: SerializedError = { type: 'handler.failed', message: 'The delivery failed outside its handlers: the process running its last attempt stopped (its lease expired)' };
    const { rows } = await this.#pool.query<{ data: PgJobData; retry_count: number }>(
      `UPDATE ${this.#s}.job SET output = $2::jsonb
       WHERE name = $1 AND state = 'failed' AND output->'value'->>'message' = 'job failed by timeout in active state'
       RETURNING data, retry_count`,
      [this.#queue, JSON.stringify(error)],
    );
    return rows.map((row) => ({ data: row.data, attempts: row.retry_count + 1, error }));
  }

  /** Import state: values per `owner` (a job; `delivery` is its delivery's id, for listing), and this queue's sets. */
  importState(owner: string, delivery: string): ImportState {
    const s = this.#s;
    const queue = this.#queue;
    const pool = this.#pool;
    return {
      async get(key) {
        const { rows } = await pool.query<{ value: string }>(
          `SELECT value FROM ${s}.scrapehook_state WHERE queue = $1 AND owner = $2 AND key = $3 AND expires_at > now()`,
          [queue, owner, key],
        );
        return rows[0]?.value;
      },
      async set(key, value, ttlMs) {
        await pool.query(
          `INSERT INTO ${s}.scrapehook_state (queue, owner, key, value, delivery, expires_at) VALUES ($1, $2, $3, $4, $6, now() + $5 * interval '1 millisecond')
           ON CONFLICT (queue, owner, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
          [queue, owner, key, value, ttlMs, delivery],
        );
      },
      async delete(key) {
        await pool.query(`DELETE FROM ${s}.scrapehook_state WHERE queue = $1 AND owner = $2 AND key = $3`, [queue, owner, key]);
      },
      async addToSet(key, members, ttlMs) {
        await transaction(pool, async (client) => {
          // A set whose TTL passed starts empty again.
          await client.query(`DELETE FROM ${s}.scrapehook_set WHERE queue = $1 AND key = $2 AND expires_at <= now()`, [queue, key]);
          await client.query(
            `INSERT INTO ${s}.scrapehook_set (queue, key, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
             ON CONFLICT (queue, key) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
            [queue, key, ttlMs],
          );
          if (members.length > 0) {
            await client.query(
              `INSERT INTO ${s}.scrapehook_member (queue, key, member) SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`,
              [queue, key, [...new Set(members)]],
            );
          }
        });
      },
      async members(key) {
        const { rows } = await pool.query<{ member: string }>(
          `SELECT m.member FROM ${s}.scrapehook_member m JOIN ${s}.scrapehook_set t USING (queue, key)
           WHERE m.queue = $1 AND m.key = $2 AND t.expires_at > now()`,
          [queue, key],
        );
        return rows.map((row) => row.member);
      },
    };
  }

  /** The checkpoints of importRows kept for this queue's jobs, with each job's state (`succeeded` once it is gone). */
  async imports(): Promise<{ receiver: string | undefined; id: string; state: string; checkpoint: string }[]> {
    const { rows } = await this.#pool.query<{ receiver: string | null; delivery: string; state: string | null; value: string }>(
      `SELECT j.data->>'receiver' AS receiver, st.delivery, j.state::text AS state, st.value
       FROM ${this.#s}.scrapehook_state st LEFT JOIN ${this.#s}.job j ON j.name = st.queue AND j.id::text = st.owner
       WHERE st.queue = $1 AND st.key LIKE 'import:%' AND st.expires_at > now() ORDER BY st.delivery, st.owner, st.key`,
      [this.#queue],
    );
    const states: Record<string, string> = { failed: 'dead', active: 'running', created: 'queued', retry: 'queued' };
    return rows.map((row) => ({ receiver: row.receiver ?? undefined, id: row.delivery, state: row.state === null ? 'succeeded' : (states[row.state] ?? 'succeeded'), checkpoint: row.value }));
  }

  /** Dedupe ids of this queue still within their TTL. */
  async dedupeCount(): Promise<number> {
    const { rows } = await this.#pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.#s}.scrapehook_dedupe WHERE queue = $1 AND expires_at > now()`, [this.#queue]);
    return Number(rows[0]?.n ?? 0);
  }

  /** Serializes the transactions touching one `orderBy` key (accept, hand-over, replay) until COMMIT. */
  async #lockKey(client: Pg.PoolClient, key: string): Promise<void> {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`scrapehook-line:${this.#queue}:${key}`]);
  }

  /**
   * Takes a job out of its line and lets the new head (if parked) start now, in its place by
   * arrival among the jobs due (claims take the earliest `start_after` first).
   */
  async #leaveLine(client: Pg.PoolClient, key: string, jobId: string): Promise<void> {
    await this.#lockKey(client, key);
    await client.query(`DELETE FROM ${this.#s}.scrapehook_line WHERE job_id = $1`, [jobId]);
    await client.query(
      `UPDATE ${this.#s}.job SET start_after = LEAST(created_on, now())
       WHERE name = $1 AND state IN ('created', 'retry') AND start_after > now()
         AND id = (SELECT job_id FROM ${this.#s}.scrapehook_line WHERE queue = $1 AND order_key = $2 ORDER BY seq LIMIT 1)`,
      [this.#queue, key],
    );
  }
}

/** Per item, whether it is the first of its delivery id in the batch (a later one is a duplicate of it). */
function firstOfEachId(items: readonly PgAcceptItem[]): boolean[] {
  const ids = new Set<string>();
  return items.map((item) => {
    if (ids.has(item.delivery.id)) return false;
    ids.add(item.delivery.id);
    return true;
  });
}

export function toJobData(delivery: Delivery, orderKey: string | undefined, body: ReceivedBodyType | undefined, receiver: string): PgJobData {
  const data: { -readonly [K in keyof PgJobData]: PgJobData[K] } = {
    id: delivery.id,
    type: delivery.type,
    provider: delivery.provider,
    receiver,
    receivedAt: delivery.receivedAt.getTime(),
  };
  if (body === undefined) data.payload = delivery.payload;
  else data.body = body;
  if (orderKey !== undefined) data.orderKey = orderKey;
  return data;
}

export function toDelivery(data: PgJobData): Delivery {
  return { id: data.id, type: data.type, provider: data.provider, payload: data.payload, receivedAt: new Date(data.receivedAt) };
}

/** A job's output as the last error: ours (`{ type, message, stack? }`), or pg-boss' own (a lease that expired). */
export function toSerializedError(output: unknown): SerializedError {
  const o = (typeof output === 'object' && output !== null ? output : {}) as { type?: unknown; message?: unknown; stack?: unknown; value?: { message?: unknown } };
  if (typeof o.type === 'string' && typeof o.message === 'string') {
    return { type: o.type, message: o.message, ...(typeof o.stack === 'string' ? { stack: o.stack } : {}) };
  }
  const message = typeof o.message === 'string' ? o.message : typeof o.value?.message === 'string' ? o.value.message : 'unknown error';
  return { type: 'handler.failed', message: message === 'job failed by timeout in active state' ? 'The worker running it stopped (its lease expired)' : message };
}

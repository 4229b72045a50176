import type * as Pg from 'pg';
import { shownPayload } from '../body/decode-body.ts';
import { positiveInteger, requireOptions } from '../check-options.ts';
import type { Backend, Claimed, DeliveryCore, EnqueueResult, Outcome, ReceiverQueue } from '../core/backend.ts';
import { serialize } from '../core/policy.ts';
import { WebhookError, type WebhookErrorType } from '../errors.ts';
import type { ImportState } from '../import/types.ts';
import type { DeadLetter, Delivery, ReceivedBody } from '../types.ts';
import { describePostgresConnection, normalizePostgresConnection, type NormalizedPostgresConnection, type PostgresConnection } from './postgres/connection.ts';
import { checkSchema, defaultPostgresQueueName, loadPgBoss, MAX_CLAIM, openPgBoss, PgJobs, toDelivery, type PgAcceptItem, type PgClaimed } from './postgres/jobs.ts';

/** Options of {@link postgresQueue}. */
export interface PostgresQueueOptions {
  /**
   * Where PostgreSQL is: a URL (`postgres://user:password@host:5432/database`, with
   * `?sslmode=require` for TLS) or its parts. The URL may hold a password: scrapehook never logs it.
   */
  connection: PostgresConnection;
  /**
   * The schema holding pg-boss' tables and scrapehook's (created at the first start, migrated when
   * pg-boss is upgraded). Give every application its own schema rather than share pg-boss' with
   * another version of it.
   * @default 'scrapehook'
   */
  schema?: string;
  /**
   * The pg-boss queue name. Instances of the same receiver (same `name`) share its queue: the
   * work, the dedupe ids and the dead letters. Each receiver needs a queue of its own: a receiver
   * with another name on a queue that a receiver of this process uses throws a `TypeError`.
   * @default `scrapehook-<receiver name>`, e.g. 'scrapehook-firecrawl'
   * @example name: 'hooks-firecrawl'
   */
  name?: string;
  /**
   * Whether this process runs handlers. `false` makes a receiver that only accepts deliveries (a
   * web tier), leaving the work to the processes that run the same receiver with workers.
   * @default true
   */
  workers?: boolean;
  /**
   * Connections this process opens at most (node-postgres' pool `max`). Requests wait for a free
   * one; PostgreSQL's `max_connections` must allow this times the number of processes.
   * @default 10
   */
  poolSize?: number;
  /**
   * How long a worker's lease on a running delivery lasts without being renewed (it is renewed
   * every half of it while the handlers run). When a process dies, its deliveries run again
   * elsewhere after at most about `lockDurationMs + maintenanceIntervalMs`; that attempt counts.
   * @default 30_000
   */
  lockDurationMs?: number;
  /**
   * How often pg-boss' maintenance looks for leases that expired (one process at a time does it),
   * and workers forget expired dedupe ids and import state. Whole seconds.
   * @default 30_000
   */
  maintenanceIntervalMs?: number;
  /**
   * How often an idle worker looks for deliveries accepted by other processes (those accepted by
   * this one start at once).
   * @default 500
   */
  pollIntervalMs?: number;
  /**
   * How often the queue length is read from PostgreSQL for `maxQueued` and `stats().dead` (between
   * reads, this process counts what it added), so that a request never waits for a count.
   * @default 1000
   */
  countsIntervalMs?: number;
  /**
   * How long a request waits for PostgreSQL to commit its delivery before it is answered 503
   * `queue.unavailable` with `Retry-After`, so that the sender retries later rather than time out
   * (senders wait 10 s). When PostgreSQL refuses connections, requests are answered 503 at once.
   * @default 3000
   * @example
   * ```ts
   * postgresQueue({ connection: process.env.DATABASE_URL!, enqueueTimeoutMs: 5000 })
   * ```
   */
  enqueueTimeoutMs?: number;
}

/**
 * A queue backend on PostgreSQL (pg-boss) for receivers running in several processes or machines
 * that already have a database: each accepted delivery is committed (its dedupe id, its body as
 * received, its job) in one transaction before the 2xx; workers in every process claim jobs with
 * `FOR UPDATE SKIP LOCKED` and run the receiver's handlers with the same retries, timeout and dead
 * letters as the in-process queue; a process that dies loses nothing (its deliveries run again
 * elsewhere once their lease expires).
 *
 * Deduplication uses a table of dedupe ids with their expiry, claimed in the accepting
 * transaction, so that a duplicate is recognised by any instance, after a restart, and after the
 * original finished. `orderBy` keys are kept in a table of per-key lines: a delivery behind an
 * unfinished one of its key is parked until that one succeeds or becomes a dead letter.
 *
 * Needs the optional peer dependencies `pg-boss` (10.x) and `pg`.
 *
 * @example
 * ```ts
 * const hooks = createReceiver({ provider, queue: postgresQueue({ connection: process.env.DATABASE_URL! }) });
 * ```
 * @throws {TypeError} when an option is out of range.
 */
export function postgresQueue(options: PostgresQueueOptions): ReceiverQueue {
  requireOptions(options, 'a `connection`');
  const connection = normalizePostgresConnection(options.connection);
  const { name } = options;
  if (name !== undefined && (typeof name !== 'string' || !/^[\w.-]{1,100}$/.test(name))) {
    throw new TypeError(`Expected \`name\` to be a queue name of letters, digits, '_', '-' and '.', got ${JSON.stringify(name)}`);
  }
  const maintenanceIntervalMs = positiveInteger('maintenanceIntervalMs', options.maintenanceIntervalMs ?? 30_000);
  if (maintenanceIntervalMs % 1000 !== 0) throw new TypeError(`Expected \`maintenanceIntervalMs\` to be whole seconds, got ${maintenanceIntervalMs}`);
  return new PostgresQueue({
    connection,
    schema: checkSchema(options.schema ?? 'scrapehook'),
    name,
    workers: options.workers ?? true,
    poolSize: positiveInteger('poolSize', options.poolSize ?? 10),
    lockDurationMs: positiveInteger('lockDurationMs', options.lockDurationMs ?? 30_000),
    maintenanceIntervalMs,
    pollIntervalMs: positiveInteger('pollIntervalMs', options.pollIntervalMs ?? 500),
    countsIntervalMs: positiveInteger('countsIntervalMs', options.countsIntervalMs ?? 1000),
    enqueueTimeoutMs: positiveInteger('enqueueTimeoutMs', options.enqueueTimeoutMs ?? 3000),
  });
}

interface Settings {
  readonly connection: NormalizedPostgresConnection;
  readonly schema: string;
  readonly name: string | undefined;
  readonly workers: boolean;
  readonly poolSize: number;
  readonly lockDurationMs: number;
  readonly maintenanceIntervalMs: number;
  readonly pollIntervalMs: number;
  readonly countsIntervalMs: number;
  readonly enqueueTimeoutMs: number;
}

/** A job being run here, as the core sees it: the claimed delivery, its body, its attempts. */
interface PgClaim extends Claimed {
  readonly job: PgClaimed;
}

/** A delivery waiting for the next batch of accepts. */
interface Pending extends PgAcceptItem {
  resolve(result: EnqueueResult): void;
  reject(error: unknown): void;
}

/** A success waiting for the next batch of successes. */
interface PendingSuccess {
  readonly jobId: string;
  resolve(): void;
  reject(error: unknown): void;
}

/** Most deliveries committed in one transaction (accepted, or succeeded). */
const MAX_BATCH = 256;
const POLL_MS = 50;

/**
 * Items gathered over one turn of the event loop, handed to `flush` after it in batches of at most
 * MAX_BATCH: the accepts of the requests read in one turn commit together, as do the successes.
 */
class TurnBatches<T> {
  readonly #flush: (batch: T[]) => void;
  #items: T[] = [];
  #scheduled = false;

  constructor(flush: (batch: T[]) => void) {
    this.#flush = flush;
  }

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    this.#items.push(item);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      while (this.#items.length > 0) this.#flush(this.#items.splice(0, MAX_BATCH));
    });
  }
}

/** Per queue (where it is, its schema) started in this process, the receiver it serves. */
const queuesInUse = new Map<string, string>();

class PostgresQueue implements Backend<PgClaim> {
  readonly #settings: Settings;
  #core!: DeliveryCore;
  #pool!: Pg.Pool;
  #jobs!: PgJobs;
  /** Installs the schema; set again after a failure, so the next request tries again. */
  #ready: Promise<void> | undefined;
  #where = '';
  #queueName = '';
  /** Deliveries waiting for the next transaction. */
  readonly #pending = new TurnBatches<Pending>((batch) => void this.#commit(batch));
  /** Successes waiting for the next statement. */
  readonly #successes = new TurnBatches<PendingSuccess>((batch) => this.#forget(batch));
  /** Enqueues not answered yet (they count towards `maxQueued`). */
  #unsettled = 0;
  /** Enqueues answered 503 by their timeout and still unanswered by PostgreSQL. */
  #overdue = 0;
  #running = 0;
  /** The claimed jobs running here, for lease renewal. */
  readonly #claimed = new Set<PgClaimed>();
  /** Claims whose outcome was recorded (an attempt cut short by close() has none). */
  readonly #recorded = new WeakSet<PgClaim>();
  /** Per job, the handlers that already succeeded in an earlier attempt in this process. Bounded. */
  readonly #done = new Map<string, Set<unknown>>();
  #queuedAtCount = 0;
  #addedSinceCount = 0;
  #deadAtCount = 0;
  #deadSinceCount = 0;
  #timers: NodeJS.Timeout[] = [];
  /** Wakes the worker loop (a delivery accepted here, a slot freed, close). */
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  #release: (() => void) | undefined;

  constructor(settings: Settings) {
    this.#settings = settings;
  }

  start(runtime: DeliveryCore): void {
    if (this.#core) {
      throw new TypeError(
        `Expected a postgresQueue() of its own for receiver ${JSON.stringify(runtime.name)}: this one serves receiver ${JSON.stringify(this.#core.name)} (a worker runs every job of its queue with its receiver's handlers)`,
      );
    }
    const { connection, schema } = this.#settings;
    const name = this.#settings.name ?? defaultPostgresQueueName(runtime.name);
    this.#queueName = name;
    this.#where = `${describePostgresConnection(connection)} schema ${schema} queue ${name}`;
    const user = queuesInUse.get(this.#where);
    if (user !== undefined && user !== runtime.name) {
      throw new TypeError(
        `Expected a queue of its own for receiver ${JSON.stringify(runtime.name)}: ${this.#where} serves receiver ${JSON.stringify(user)}; give postgresQueue() another \`name\` (or leave it out)`,
      );
    }
    const { PgBoss, pg } = loadPgBoss();
    queuesInUse.set(this.#where, runtime.name);
    const where = this.#where;
    this.#release = () => {
      if (queuesInUse.get(where) === runtime.name) queuesInUse.delete(where);
    };
    this.#core = runtime;
    const { logger } = runtime;
    this.#pool = new pg.Pool({
      ...connection,
      max: this.#settings.poolSize,
      connectionTimeoutMillis: this.#settings.enqueueTimeoutMs,
      application_name: `scrapehook ${name}`.slice(0, 63),
    });
    // An idle connection dropped by the server must not crash the process: the pool replaces it.
    this.#pool.on('error', (error) => logger.warn({ err: error, postgres: where }, 'scrapehook: a PostgreSQL connection failed'));
    const boss = openPgBoss(PgBoss, this.#pool, {
      schema,
      supervise: this.#settings.workers,
      maintenanceIntervalSeconds: this.#settings.maintenanceIntervalMs / 1000,
    });
    boss.on('error', (error) => logger.error({ err: error, postgres: where }, 'scrapehook: pg-boss error'));
    this.#jobs = new PgJobs(this.#pool, boss, schema, name);
    this.#install().catch(() => {}); // Logged; the next request tries again.

    if (this.#settings.workers) {
      const renew = Math.max(1, Math.floor(this.#settings.lockDurationMs / 2));
      this.#timers.push(setInterval(() => void this.#renewLeases(), renew));
      this.#timers.push(setInterval(() => void this.#sweep(), this.#settings.maintenanceIntervalMs));
      this.#loop = this.#work();
    }
    this.#timers.push(setInterval(() => void this.#refreshCounts(), this.#settings.countsIntervalMs));
    for (const timer of this.#timers) timer.unref();
  }

  /** Installs the schema once; a failure is logged and the next call tries again. */
  #install(): Promise<void> {
    this.#ready ??= this.#jobs.install().then(
      () => void this.#refreshCounts(),
      (error: unknown) => {
        this.#ready = undefined;
        this.#core.logger.error({ err: error, postgres: this.#where }, 'scrapehook: could not set up the queue in PostgreSQL');
        throw error;
      },
    );
    return this.#ready;
  }

  /**
   * Commits the delivery (with those of other requests of this turn of the event loop, in one
   * transaction), answering within `enqueueTimeoutMs`: a `queue.unavailable` error (503) when
   * PostgreSQL does not answer by then or refuses connections. A delivery answered so may still
   * be committed later: the sender's retry is then a duplicate (with dedupe on), so it runs once.
   */
  enqueue(delivery: Delivery, body?: ReceivedBody): Promise<EnqueueResult> | EnqueueResult {
    if (this.#queuedAtCount + this.#addedSinceCount + this.#unsettled >= this.#core.maxQueued) return 'full';
    // While earlier requests are still waiting past their timeout, PostgreSQL is not answering.
    if (this.#overdue > 0) throw unavailable();
    this.#unsettled++;
    return new Promise<EnqueueResult>((resolve, reject) => {
      let expired = false;
      const timer = setTimeout(() => {
        expired = true;
        this.#overdue++;
        reject(unavailable());
      }, this.#settings.enqueueTimeoutMs);
      const settle = () => {
        this.#unsettled--;
        if (expired) this.#overdue--;
        else clearTimeout(timer);
      };
      this.#pending.push({
        delivery,
        body,
        orderKey: this.#core.orderKey(delivery),
        resolve: (result) => {
          settle();
          resolve(result);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
    });
  }

  async #commit(batch: Pending[]): Promise<void> {
    const runtime = this.#core;
    let fresh: boolean[];
    try {
      await this.#install();
      fresh = await this.#jobs.accept(batch, {
        receiver: runtime.name,
        dedupeTtlMs: runtime.dedupeTtlMs,
        attempts: runtime.attempts,
        leaseSeconds: Math.ceil(this.#settings.lockDurationMs / 1000),
      });
    } catch (error) {
      const answer = isUnavailable(error) ? unavailable(error) : error;
      if (answer !== error) runtime.logger.warn({ err: error, postgres: this.#where }, 'scrapehook: PostgreSQL did not take a delivery; answered 503');
      for (const item of batch) item.reject(answer);
      return;
    }
    batch.forEach((item, i) => {
      if (fresh[i]) this.#addedSinceCount++;
      item.resolve(fresh[i] ? 'accepted' : 'duplicate');
    });
    this.#wake?.();
  }

  counts(): { queued: number; running: number } {
    return { queued: this.#queuedAtCount + this.#addedSinceCount, running: this.#running };
  }

  /** Dead letters in PostgreSQL (every process's), read with the queue length, plus those made here since. */
  deadCount(): number {
    return Math.max(0, this.#deadAtCount + this.#deadSinceCount);
  }

  /**
   * A delivery's values are rows of `scrapehook_state` owned by its job, kept while it is retried
   * or a dead letter and for an hour after it succeeded; the receiver's sets are rows of
   * `scrapehook_set` and `scrapehook_member`, each with its TTL. Rows are per queue: receivers, each
   * on its queue, keep their state apart.
   */
  importState(claim: PgClaim): ImportState {
    return this.#jobs.importState(claim.job.jobId, claim.delivery.id);
  }

  /**
   * Records an outcome in one transaction: a success deletes the job and its body and hands the
   * `orderBy` key on (successes without a key go in batches, {@link #succeeded}); a retry puts the job back to pg-boss' `retry` state, to start after
   * `delayMs`; a dead letter fails it for good with its error and hands the key on. When
   * PostgreSQL does not take it, the job stays claimed: its lease expires and it runs again.
   */
  record(claim: PgClaim, outcome: Outcome): Promise<void> {
    const { job } = claim;
    this.#recorded.add(claim);
    if (outcome.kind === 'retry') return this.#jobs.retry(job, outcome.delayMs, serialize(outcome.error));
    this.#done.delete(job.jobId);
    if (outcome.kind === 'succeeded') return job.data.orderKey === undefined ? this.#succeeded(job.jobId) : this.#jobs.succeeded(job);
    this.#deadSinceCount++;
    return this.#jobs.dead(job, serialize(outcome.error));
  }

  /**
   * Records a success (of a job with no `orderBy` key) with the others of this turn of the event
   * loop, in one statement; resolves once it is committed.
   */
  #succeeded(jobId: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#successes.push({ jobId, resolve, reject });
    });
  }

  #forget(batch: PendingSuccess[]): void {
    this.#jobs.succeededAll(batch.map((success) => success.jobId)).then(
      () => batch.forEach((success) => success.resolve()),
      (error: unknown) => batch.forEach((success) => success.reject(error)),
    );
  }

  async deadLetters(): Promise<DeadLetter[]> {
    await this.#install();
    const rows = await this.#jobs.deadLetters();
    return Promise.all(
      rows.map(async (row) => {
        const event = { ...toDelivery(row.data), attempt: row.attempts };
        const letter: DeadLetter = { id: row.data.id, event, error: row.error, attempts: row.attempts };
        if (!row.body) return letter;
        return { ...letter, event: { ...event, payload: await shownPayload(event, row.body, (d, b) => this.#core.revive(d, b)) } };
      }),
    );
  }

  async replay(id: string): Promise<void> {
    await this.#install();
    const found = await this.#jobs.findDeadLetter(id);
    if (!found || !(await this.#jobs.replay(found.jobId, found.orderKey))) throw new RangeError(`No dead letter with id ${JSON.stringify(id)}`);
    this.#deadSinceCount--;
    this.#wake?.();
    for (;;) {
      if (this.#closing) throw new WebhookError('receiver.closing', 'The receiver closed before the replay finished');
      const job = await this.#jobs.jobState(found.jobId);
      // Succeeded jobs are deleted: a job that is gone succeeded.
      if (job === undefined) return;
      if (job.state === 'failed') throw new WebhookError(asErrorType(job.error.type), job.error.message);
      await sleep(POLL_MS);
    }
  }

  /**
   * Resolves when no delivery is waiting or running in PostgreSQL (in any process) nor in this one.
   * With `workers: false` everywhere, that never happens.
   */
  async onIdle(): Promise<void> {
    await this.#install();
    for (;;) {
      if (this.#running === 0 && this.#pending.size === 0 && this.#unsettled === 0) {
        const counts = await this.#jobs.counts();
        this.#deadAtCount = counts.dead;
        this.#deadSinceCount = 0;
        if (counts.queued === 0 && counts.running === 0 && this.#running === 0 && this.#unsettled === 0) {
          this.#queuedAtCount = 0;
          this.#addedSinceCount = 0;
          return;
        }
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * Stops claiming deliveries and resolves once those running here finished; what waits in
   * PostgreSQL stays there for the other processes (or the next start).
   */
  async drain(): Promise<void> {
    this.#closing = true;
    this.#release?.();
    for (const timer of this.#timers) clearInterval(timer);
    this.#wake?.();
    await this.#loop;
    while (this.#running > 0 || this.#unsettled > 0) await sleep(POLL_MS);
  }

  /**
   * Stops pg-boss and closes the pool: at once after a drain, else (the drain timed out, handlers
   * were aborted) in the background once the deliveries still running have recorded their outcome.
   */
  async close(drained: boolean): Promise<void> {
    this.#closed ??= (async () => {
      while (this.#running > 0 || this.#unsettled > 0) await sleep(POLL_MS);
      await this.#jobs.stop().catch(() => {});
      await this.#pool.end().catch(() => {});
    })();
    if (drained) await this.#closed;
    else this.#closed.catch(() => {});
  }

  /** The worker loop: claims as many jobs as there are free slots, runs them, waits for a wake-up or the poll interval. */
  async #work(): Promise<void> {
    const { concurrency, logger } = this.#core;
    while (!this.#closing) {
      const free = Math.min(concurrency - this.#running, MAX_CLAIM);
      let claimed: PgClaimed[] = [];
      if (free > 0) {
        try {
          await this.#install();
          claimed = await this.#jobs.claim(free);
        } catch (error) {
          logger.warn({ err: error, postgres: this.#where }, 'scrapehook: could not claim deliveries from PostgreSQL');
        }
      }
      for (const job of claimed) void this.#process(job);
      // A full batch: there may be more waiting right now.
      if (claimed.length > 0 && claimed.length === free) continue;
      if (this.#closing) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.#settings.pollIntervalMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wake = () => {
          this.#wake = undefined;
          done();
        };
      });
    }
  }

  async #process(job: PgClaimed): Promise<void> {
    const core = this.#core;
    const { jobId, data } = job;
    if (this.#addedSinceCount > 0) this.#addedSinceCount--;
    else if (this.#queuedAtCount > 0) this.#queuedAtCount--;
    this.#running++;
    this.#claimed.add(job);
    try {
      if (job.body === null) {
        // Its body is deleted when it succeeds: its lease expired after that, before the job was deleted.
        core.logger.info({ id: data.id }, 'scrapehook: a delivery that already succeeded was claimed again; skipped');
        await this.#jobs.forget(job);
        return;
      }
      let skip = this.#done.get(jobId);
      if (!skip) {
        skip = new Set();
        this.#done.set(jobId, skip);
        // Retries may run in other processes: forget the oldest entries rather than grow.
        if (this.#done.size > 10_000) this.#done.delete(this.#done.keys().next().value as string);
      }
      const claim: PgClaim = { delivery: job.delivery, body: job.body, attemptsSoFar: job.attemptsSoFar, maxAttempts: job.maxAttempts, skip, job };
      await core.attempt(claim);
      // Cut short by close() giving up: not an attempt, and nothing recorded. Given back at once,
      // rather than held until its lease expires, for another process or the next start.
      if (!this.#recorded.has(claim)) await this.#jobs.release(job);
    } catch (error) {
      core.logger.error({ err: error, id: data.id, postgres: this.#where }, 'scrapehook: could not record the outcome of a delivery in PostgreSQL; it runs again once its lease expires');
    } finally {
      this.#claimed.delete(job);
      this.#running--;
      this.#wake?.();
    }
  }

  async #renewLeases(): Promise<void> {
    if (this.#claimed.size === 0) return;
    try {
      await this.#jobs.renew([...this.#claimed].map((job) => job.jobId), this.#settings.lockDurationMs);
    } catch (error) {
      this.#core.logger.warn({ err: error, postgres: this.#where }, 'scrapehook: could not renew the leases of running deliveries in PostgreSQL');
    }
  }

  async #sweep(): Promise<void> {
    if (this.#closing || this.#ready === undefined) return;
    try {
      // Reported like any dead letter (onError, stats), by the one process that takes each.
      for (const lost of await this.#jobs.takeLostDeadLetters()) {
        this.#deadSinceCount++;
        this.#core.report(toDelivery(lost.data), { kind: 'dead', attempts: lost.attempts, error: new WebhookError('handler.failed', lost.error.message) });
      }
      await this.#jobs.sweep();
    } catch (error) {
      this.#core.logger.warn({ err: error, postgres: this.#where }, 'scrapehook: PostgreSQL housekeeping failed');
    }
  }

  async #refreshCounts(): Promise<void> {
    if (this.#closing || this.#ready === undefined) return;
    const addedBefore = this.#addedSinceCount;
    const deadBefore = this.#deadSinceCount;
    try {
      const counts = await this.#jobs.counts();
      this.#queuedAtCount = counts.queued;
      this.#deadAtCount = counts.dead;
      this.#deadSinceCount -= deadBefore;
      this.#addedSinceCount = Math.max(0, this.#addedSinceCount - addedBefore);
    } catch (error) {
      this.#core.logger.warn({ err: error, postgres: this.#where }, 'scrapehook: could not read the queue length from PostgreSQL');
    }
  }
}

function unavailable(cause?: unknown): WebhookError {
  return new WebhookError('queue.unavailable', 'The queue is unavailable (PostgreSQL does not answer); retry later', cause === undefined ? undefined : { cause });
}

/**
 * Socket errors, and PostgreSQL's "connection exception" (08), "invalid authorization" (28: a
 * password changed under a running receiver), "operator intervention" (57P0x: shutting down,
 * restarting) and "too many connections": the sender should retry later.
 */
const DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', '53300', '57P01', '57P02', '57P03']);

/** Whether an error means PostgreSQL cannot be reached (503), rather than a fault of ours (500). */
export function isUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; errors?: unknown } | undefined;
  if (typeof e?.code === 'string' && (DOWN_CODES.has(e.code) || e.code.startsWith('08') || e.code.startsWith('28'))) return true;
  if (Array.isArray(e?.errors) && e.errors.some(isUnavailable)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|the database system is (starting up|shutting down|in recovery)/i.test(message);
}

const ERROR_TYPES = new Set<string>(['handler.failed', 'handler.timeout', 'payload.invalid', 'entity.parse.failed', 'internal']);

function asErrorType(type: string): WebhookErrorType {
  return ERROR_TYPES.has(type) ? (type as WebhookErrorType) : 'handler.failed';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

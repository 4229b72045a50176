import { randomUUID } from 'node:crypto';
import type { Backend, Claimed, DeliveryCore, EnqueueResult, Outcome, ReceiverQueue } from '../core/backend.ts';
import { serialize } from '../core/policy.ts';
import { WebhookError, type WebhookErrorType } from '../errors.ts';
import type { DeadLetter, Delivery, ReceivedBody } from '../types.ts';
import type { ImportState } from '../import/types.ts';
import { describeConnection, normalizeConnection, type NormalizedConnection, type RedisConnection } from './bullmq/connection.ts';
import {
  bodyKey,
  CLAIM_MS,
  CLAIM_SCRIPT,
  deadLettersOf,
  defaultQueueName,
  encodeJobId,
  failedJobs,
  findDeadLetter,
  LINE_JOIN_SCRIPT,
  LINE_LEAVE_SCRIPT,
  loadBullmq,
  queueCounts,
  readBody,
  toDeadLetter,
  toDelivery,
  toJobData,
  type BullJob,
  type BullmqModule,
  type BullQueue,
  type BullWorker,
  type JobData,
} from './bullmq/jobs.ts';
import { nonNegativeInteger, positiveInteger, requireOptions } from '../check-options.ts';

/** Options of {@link bullmqQueue}. */
export interface BullmqQueueOptions {
  /**
   * Where Redis is: a URL (`redis://user:password@host:6379/0`, `rediss://` for TLS) or its parts.
   * The URL may hold a password: scrapehook never logs it.
   */
  connection: RedisConnection;
  /**
   * The BullMQ queue name. Instances of the same receiver (same `name`) share its queue: the
   * work, the dedupe ids and the dead letters. Each receiver needs a queue of its own (a worker
   * runs every job of its queue with its receiver's handlers and schemas): a receiver with another
   * name on a queue that a receiver of this process uses throws a `TypeError`.
   * @default `scrapehook-<receiver name>`, e.g. 'scrapehook-firecrawl'
   * @example name: 'hooks-firecrawl'
   */
  name?: string;
  /**
   * BullMQ's key prefix (use `{scrapehook}` style hash tags on Redis Cluster).
   * @default 'bull'
   */
  prefix?: string;
  /**
   * Whether this process runs handlers. `false` makes a receiver that only accepts deliveries (a
   * web tier), leaving the work to the processes that run the same receiver with workers.
   * @default true
   */
  workers?: boolean;
  /**
   * How long a worker's claim on a running delivery lasts without being renewed (it is renewed
   * every half of it while the handlers run). When a process dies, its deliveries run again
   * elsewhere after at most about `lockDurationMs + stalledIntervalMs`.
   * @default 30_000
   */
  lockDurationMs?: number;
  /**
   * How often workers look for deliveries whose worker died (stalled).
   * @default 30_000
   */
  stalledIntervalMs?: number;
  /**
   * How many times a delivery may stall (its worker died while running it) before it becomes a
   * dead letter: a payload that crashes the process must not crash every worker in turn forever.
   * @default 2
   */
  maxStalledCount?: number;
  /**
   * How often the queue length is read from Redis for `maxQueued` (between reads, this process
   * counts what it added), so that a request never waits for a count.
   * @default 1000
   */
  countsIntervalMs?: number;
  /**
   * With `orderBy`: how long a delivery waiting behind an earlier one with the same key sleeps
   * before it checks again. The delivery ahead wakes it when it finishes; this is the fallback if
   * that wake-up was missed (a process died at that moment).
   * @default 10_000
   */
  orderRecheckMs?: number;
  /**
   * How long a request waits for Redis to take its delivery before it is answered 503
   * `queue.unavailable` with `Retry-After`, so that the sender retries later rather than time out
   * (senders wait 10 s). While Redis is unreachable (its connection is down, or an earlier delivery
   * is still waiting past this), requests are answered 503 at once and nothing is sent, so no body
   * waits in memory for Redis to come back; deliveries are taken again as soon as it is back.
   * @default 3000
   * @example
   * ```ts
   * bullmqQueue({ connection: process.env.REDIS_URL!, enqueueTimeoutMs: 5000 })
   * ```
   */
  enqueueTimeoutMs?: number;
}

type JobOptions = NonNullable<Parameters<BullQueue['add']>[2]>;

/** A job being run here, as the core sees it. */
interface JobClaim extends Claimed {
  readonly job: BullJob;
  readonly jobId: string;
}

/** An error the processor throws to BullMQ, with the retry delay the core chose. */
interface ThrownByUs extends Error {
  retryDelayMs?: number;
}

const POLL_MS = 50;

/**
 * A queue backend on BullMQ (Redis) for receivers running in several processes or machines: each
 * accepted delivery is a job added to Redis before the 2xx, with the delivery's dedupe id as its
 * job id; workers in every process run the receiver's handlers with the same retries, timeout and
 * dead letters as the in-process queue; a process that dies loses nothing (its deliveries run
 * again elsewhere once their lock expires).
 *
 * Deduplication uses a Redis key per dedupe id that lives for the dedupe TTL (BullMQ's
 * `deduplication` option, set atomically with the job), so that a duplicate is recognised by any
 * instance even after the original's job finished and was removed.
 *
 * Needs the optional peer dependencies `bullmq` and `ioredis`.
 *
 * @example
 * ```ts
 * const hooks = createReceiver({ provider, queue: bullmqQueue({ connection: process.env.REDIS_URL! }) });
 * ```
 * @throws {TypeError} when an option is out of range.
 */
export function bullmqQueue(options: BullmqQueueOptions): ReceiverQueue {
  requireOptions(options, 'a `connection`');
  const connection = normalizeConnection(options.connection);
  const { name } = options;
  if (name !== undefined && (typeof name !== 'string' || name === '' || name.includes(':'))) {
    throw new TypeError(`Expected \`name\` to be a non-empty queue name without ':', got ${JSON.stringify(name)}`);
  }
  const prefix = options.prefix ?? 'bull';
  if (typeof prefix !== 'string' || prefix === '') {
    throw new TypeError(`Expected \`prefix\` to be a non-empty string, got ${JSON.stringify(prefix)}`);
  }
  return new BullmqQueue({
    bullmq: loadBullmq(),
    connection,
    name,
    prefix,
    workers: options.workers ?? true,
    lockDurationMs: positiveInteger('lockDurationMs', options.lockDurationMs ?? 30_000),
    stalledIntervalMs: positiveInteger('stalledIntervalMs', options.stalledIntervalMs ?? 30_000),
    maxStalledCount: nonNegativeInteger('maxStalledCount', options.maxStalledCount ?? 2),
    countsIntervalMs: positiveInteger('countsIntervalMs', options.countsIntervalMs ?? 1000),
    orderRecheckMs: positiveInteger('orderRecheckMs', options.orderRecheckMs ?? 10_000),
    enqueueTimeoutMs: positiveInteger('enqueueTimeoutMs', options.enqueueTimeoutMs ?? 3000),
  });
}

interface Settings {
  readonly bullmq: BullmqModule;
  readonly connection: NormalizedConnection;
  /** The queue name given; undefined for the receiver's default. */
  readonly name: string | undefined;
  readonly prefix: string;
  readonly workers: boolean;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly maxStalledCount: number;
  readonly countsIntervalMs: number;
  readonly orderRecheckMs: number;
  readonly enqueueTimeoutMs: number;
}

/** An enqueue waiting for Redis, watched for its timeout. */
interface InFlight {
  /** When it times out, on `performance.now()`'s clock. */
  readonly deadline: number;
  /** Answers the request 503 `queue.unavailable`; what was sent to Redis may still land later. */
  expire(): void;
  expired: boolean;
}

/** The few Redis calls made besides BullMQ's, on the queue's own connection (BullMQ's ioredis wrapper). */
interface RedisCalls {
  /** ioredis' connection state: commands are sent at once only when `ready`. */
  readonly status?: string;
  defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void;
  runCommand(name: string, args: (string | number | Buffer)[]): Promise<unknown>;
  set(key: string, value: Buffer): Promise<unknown>;
  getBuffer(key: string): Promise<Buffer | null>;
  del(key: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  hdel(key: string, field: string): Promise<number>;
  pexpire(key: string, ms: number): Promise<number>;
  smembers(key: string): Promise<string[]>;
  multi(): RedisMulti;
}

/** The commands of a MULTI this queue sends (BullMQ's wrapper of ioredis' pipeline: `hset` takes an object). */
interface RedisMulti {
  hset(key: string, fields: Record<string, string>): RedisMulti;
  sadd(key: string, ...members: string[]): RedisMulti;
  pexpire(key: string, ms: number): RedisMulti;
  exec(): Promise<[Error | null, unknown][] | null>;
}

/** How long a succeeded delivery's import state stays in Redis, for `scrapehook imports` (1 hour, as sqliteStore's retention). */
const STATE_KEPT_MS = 60 * 60 * 1000;

/**
 * Deliveries this process accepted with a body, as validated then, for its own workers: a job run
 * where it was accepted skips decoding and validating its body again. Those run elsewhere are
 * forgotten oldest first, past these bounds.
 */
const FRESH_MAX_COUNT = 10_000;
const FRESH_MAX_BYTES = 16 * 1024 * 1024;

/** Per queue (where it is, its prefix) started in this process, the receiver it serves. */
const queuesInUse = new Map<string, string>();

const CLAIM = 'scrapehookClaim';
const JOIN = 'scrapehookLineJoin';
const LEAVE = 'scrapehookLineLeave';

class BullmqQueue implements Backend<JobClaim> {
  readonly #settings: Settings;
  #core!: DeliveryCore;
  #queue!: BullQueue;
  #worker: BullWorker | undefined;
  #workerClient: Promise<RedisCalls> | undefined;
  #client!: Promise<RedisCalls>;
  /** The queue's connection, once it was first ready. */
  #connected: RedisCalls | undefined;
  /** Enqueues whose Redis writes have not been answered yet (they count towards `maxQueued`). */
  #unsettled = 0;
  /** Those of them still within `enqueueTimeoutMs`, oldest first: one timer watches them all. */
  readonly #watched = new Set<InFlight>();
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Those answered 503 already and still unanswered by Redis: while any is, Redis is not answering. */
  #overdue = 0;
  /** Errors the processor threw (and reported): the worker's `failed` event must not report them again. */
  readonly #ours = new WeakSet<Error>();
  /** Per job, the handlers that already succeeded in an earlier attempt in this process. Bounded. */
  readonly #done = new Map<string, Set<unknown>>();
  /** Validated deliveries by job id, with their body's size (see FRESH_MAX_BYTES). */
  readonly #fresh = new Map<string, { delivery: Delivery; bytes: number }>();
  #freshBytes = 0;
  #running = 0;
  /** Jobs waiting in Redis at the last count, plus those this process added since. */
  #queuedAtCount = 0;
  #addedSinceCount = 0;
  #countsTimer: NodeJS.Timeout | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  /** Connections whose socket is corked until the end of this event-loop turn. */
  readonly #corked = new Set<RedisCalls>();
  #where = '';
  /** The dead letters (failed jobs) at the last count, plus those this process made since. */
  #deadAtCount = 0;
  #deadSinceCount = 0;
  /** Releases this queue's place in {@link queuesInUse}. */
  #release: (() => void) | undefined;

  constructor(settings: Settings) {
    this.#settings = settings;
  }

  start(runtime: DeliveryCore): void {
    if (this.#core) {
      throw new TypeError(
        `Expected a bullmqQueue() of its own for receiver ${JSON.stringify(runtime.name)}: this one serves receiver ${JSON.stringify(this.#core.name)} (a worker runs every job of its queue with its receiver's handlers)`,
      );
    }
    const { bullmq, connection, prefix } = this.#settings;
    const name = this.#settings.name ?? defaultQueueName(runtime.name);
    this.#where = `${describeConnection(connection)} queue ${name}`;
    // Two receivers of this process on one queue would run each other's deliveries.
    const place = `${this.#where} prefix ${prefix}`;
    const user = queuesInUse.get(place);
    if (user !== undefined && user !== runtime.name) {
      throw new TypeError(
        `Expected a queue of its own for receiver ${JSON.stringify(runtime.name)}: ${this.#where} serves receiver ${JSON.stringify(user)}; give bullmqQueue() another \`name\` (or leave it out)`,
      );
    }
    queuesInUse.set(place, runtime.name);
    this.#release = () => {
      if (queuesInUse.get(place) === runtime.name) queuesInUse.delete(place);
    };
    this.#core = runtime;
    const { logger } = runtime;
    this.#queue = new bullmq.Queue<JobData, void, string>(name, { connection: { ...connection }, prefix });
    this.#queue.on('error', (error) => logger.error({ err: error, redis: this.#where }, 'scrapehook: BullMQ queue error'));
    this.#client = this.#queue
      .getBackend()
      .client.then((client) => {
        const calls = client as unknown as RedisCalls;
        calls.defineCommand(CLAIM, { numberOfKeys: 4, lua: CLAIM_SCRIPT });
        calls.defineCommand(JOIN, { numberOfKeys: 1, lua: LINE_JOIN_SCRIPT });
        calls.defineCommand(LEAVE, { numberOfKeys: 1, lua: LINE_LEAVE_SCRIPT });
        this.#connected = calls;
        return calls;
      });
    // Attach a handler now: a connection failing before the first request must not be unhandled.
    this.#client.catch((error: unknown) => logger.error({ err: error, redis: this.#where }, 'scrapehook: could not connect to Redis'));

    if (this.#settings.workers) {
      const worker = new bullmq.Worker<JobData, void, string>(name, (job, token) => this.#process(job, token), {
        connection: { ...connection },
        prefix,
        concurrency: runtime.concurrency,
        lockDuration: this.#settings.lockDurationMs,
        stalledInterval: this.#settings.stalledIntervalMs,
        maxStalledCount: this.#settings.maxStalledCount,
        // Our own backoff (exponential with jitter), computed when the attempt failed so that the
        // delay logged and the delay applied are the same.
        settings: {
          backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) =>
            (error as ThrownByUs | undefined)?.retryDelayMs ?? runtime.retryDelay(attemptsMade),
        },
      });
      worker.on('error', (error) => logger.error({ err: error, redis: this.#where }, 'scrapehook: BullMQ worker error'));
      worker.on('failed', (job, error) => void this.#failedElsewhere(job, error));
      this.#worker = worker;
      this.#workerClient = worker.getBackend().client as unknown as Promise<RedisCalls>;
      this.#workerClient.catch(() => {}); // Reported by the worker's 'error' event.
    }
    this.#countsTimer = setInterval(() => void this.#refreshCounts(), this.#settings.countsIntervalMs);
    this.#countsTimer.unref();
    void this.#refreshCounts();
  }

  /**
   * Adds the delivery's job, answering within `enqueueTimeoutMs`: a `queue.unavailable` error (503)
   * when Redis does not answer by then, or at once while it is known not to answer. A delivery
   * answered so may still be added when Redis answers later: the sender's retry is then a
   * duplicate (with dedupe on), so it runs once either way.
   */
  async enqueue(delivery: Delivery, body?: ReceivedBody): Promise<EnqueueResult> {
    if (this.#queuedAtCount + this.#addedSinceCount + this.#unsettled >= this.#core.maxQueued) return 'full';
    // Sending nothing while the connection is down: ioredis would hold the commands, bodies and
    // all, in its offline queue until Redis is back.
    if (this.#overdue > 0 || (this.#connected !== undefined && this.#connected.status !== undefined && this.#connected.status !== 'ready')) {
      throw this.#unavailable();
    }
    const added = this.#add(delivery, body);
    this.#unsettled++;
    return new Promise<EnqueueResult>((resolve, reject) => {
      const call: InFlight = {
        deadline: performance.now() + this.#settings.enqueueTimeoutMs,
        expired: false,
        expire: () => {
          call.expired = true;
          this.#overdue++;
          reject(this.#unavailable());
        },
      };
      this.#watched.add(call);
      this.#sweepTimer ??= setTimeout(() => this.#sweep(), this.#settings.enqueueTimeoutMs).unref();
      const settle = () => {
        this.#unsettled--;
        if (call.expired) this.#overdue--;
        else this.#watched.delete(call);
      };
      added.then(
        (outcome) => {
          settle();
          resolve(outcome);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  }

  /** Expires the enqueues past their deadline; re-arms for the oldest one left. */
  #sweep(): void {
    this.#sweepTimer = undefined;
    const now = performance.now();
    for (const call of this.#watched) {
      if (call.deadline > now) {
        this.#sweepTimer = setTimeout(() => this.#sweep(), call.deadline - now).unref();
        return;
      }
      this.#watched.delete(call);
      call.expire();
    }
  }

  #unavailable(): WebhookError {
    return new WebhookError('queue.unavailable', 'The queue is unavailable (Redis does not answer); retry later');
  }

  async #add(delivery: Delivery, body: ReceivedBody | undefined): Promise<EnqueueResult> {
    const runtime = this.#core;
    const dedupe = runtime.dedupeTtlMs > 0;
    const orderKey = runtime.orderKey(delivery);
    // The dedupe id is the job id, so a delivery is never queued twice while its job exists;
    // without dedupe every delivery gets a job of its own.
    const jobId = dedupe ? encodeJobId(delivery.id) : `${encodeJobId(delivery.id)}.${randomUUID()}`;
    const opts: JobOptions = { jobId, attempts: runtime.attempts, backoff: { type: 'scrapehook' }, removeOnComplete: true, removeOnFail: false };
    // Set atomically with the job, and kept for the TTL after the job is gone: the dedupe memory
    // every instance shares.
    if (dedupe) opts.deduplication = { id: jobId, ttl: runtime.dedupeTtlMs };
    // An ordered delivery is parked until it is the head of its key's line.
    if (orderKey !== undefined) opts.delay = this.#settings.orderRecheckMs;

    // Before the connection was first ready, wait for it (within the timeout) rather than refuse.
    const client = this.#connected ?? (await this.#client);
    this.#batchWrites(client);
    const job: BullJob = new this.#settings.bullmq.Job(this.#queue, delivery.type, toJobData(delivery, orderKey, body?.type, runtime.name), opts, jobId);
    // Issued back to back on the queue's connection, so Redis runs them in this order (a MULTI
    // would be atomic, but ioredis sends a script in a MULTI with its whole source every time).
    // The body, if kept, is written first: a job never exists without it.
    const key = bodyKey(this.#prefix, jobId);
    const claimed = dedupe
      ? client.runCommand(CLAIM, [`${this.#prefix}claim:${jobId}`, `${this.#queue.keys.de}:${jobId}`, this.#jobKey(jobId), key, CLAIM_MS, ...(body ? [body.bytes] : [])])
      : body
        ? client.set(key, body.bytes).then(() => 1)
        : Promise.resolve(1);
    const added = job.addJob(client as unknown as Parameters<BullJob['addJob']>[0]);
    const joined = orderKey === undefined ? undefined : client.runCommand(JOIN, [this.#lineKey(orderKey), jobId, this.#prefix]);
    const [isNew, , place] = await Promise.all([claimed, added, joined]);
    if (isNew !== 1) return 'duplicate';
    this.#addedSinceCount++;
    if (body && this.#worker) this.#keepFresh(jobId, delivery, body.bytes.length);
    if (place === 1) await promote(job);
    return 'accepted';
  }

  counts(): { queued: number; running: number } {
    return { queued: this.#queuedAtCount + this.#addedSinceCount, running: this.#running };
  }

  /** Failed jobs in Redis (every process's), read with the queue length, plus those made here since. */
  deadCount(): number {
    return Math.max(0, this.#deadAtCount + this.#deadSinceCount);
  }

  /**
   * A delivery's values are fields of one hash per job, `<prefix>state:<job id>`, whose TTL is
   * renewed with each write: kept while the job is retried or a dead letter, and for an hour after
   * it succeeded. A receiver's sets are `<prefix>set:<key>`, with their own TTL. The prefix is the
   * queue's (`bull:<queue>:`): receivers, each on its queue, keep their state apart.
   */
  importState(claimed: JobClaim): ImportState {
    const hash = `${this.#prefix}state:${claimed.jobId}`;
    const setKey = (key: string) => `${this.#prefix}set:${key}`;
    const ok = async (multi: RedisMulti) => {
      const results = await multi.exec();
      const failed = results?.find(([error]) => error !== null);
      if (failed) throw failed[0];
    };
    return {
      get: async (key) => (await (await this.#client).hget(hash, key)) ?? undefined,
      set: async (key, value, ttlMs) => ok((await this.#client).multi().hset(hash, { [key]: value }).pexpire(hash, ttlMs)),
      delete: async (key) => void (await (await this.#client).hdel(hash, key)),
      addToSet: async (key, members, ttlMs) => {
        const multi = (await this.#client).multi();
        if (members.length > 0) multi.sadd(setKey(key), ...members);
        await ok(multi.pexpire(setKey(key), ttlMs));
      },
      members: async (key) => (await this.#client).smembers(setKey(key)),
    };
  }

  async deadLetters(): Promise<DeadLetter[]> {
    const [jobs, client] = await Promise.all([failedJobs(this.#queue), this.#client]);
    return deadLettersOf(jobs, client, this.#prefix, (d, b) => this.#core.revive(d, b));
  }

  async replay(id: string): Promise<void> {
    const job = await findDeadLetter(this.#queue, id, this.#core.dedupeTtlMs > 0);
    if (!job?.id) throw new RangeError(`No dead letter with id ${JSON.stringify(id)}`);
    // One more attempt (attemptsMade is kept), run by whichever worker takes it.
    await job.retry('failed');
    this.#deadSinceCount--;
    const jobId = job.id;
    for (;;) {
      if (this.#closed) throw new WebhookError('receiver.closing', 'The receiver closed before the replay finished');
      const state = await this.#queue.getJobState(jobId);
      // Completed jobs are removed at once: 'unknown' means it succeeded.
      if (state === 'completed' || state === 'unknown') return;
      if (state === 'failed') {
        const failed = (await this.#queue.getJob(jobId)) as BullJob | undefined;
        const error = failed ? toDeadLetter(failed).error : { type: 'handler.failed', message: 'The replay failed' };
        throw new WebhookError(asErrorType(error.type), error.message);
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * Resolves when no delivery is waiting or running in Redis (in any process) nor in this one. With
   * `workers: false` everywhere, that never happens.
   */
  async onIdle(): Promise<void> {
    for (;;) {
      if (this.#running === 0) {
        const counts = await queueCounts(this.#queue);
        this.#deadAtCount = counts.dead;
        this.#deadSinceCount = 0;
        if (counts.queued === 0 && counts.running === 0 && this.#running === 0) {
          this.#queuedAtCount = 0;
          this.#addedSinceCount = 0;
          return;
        }
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * Stops this process's workers, waiting for the deliveries they run; what waits in Redis stays
   * there for the other processes (or the next start).
   */
  drain(): Promise<void> {
    this.#closing = true;
    this.#release?.();
    if (this.#countsTimer) clearInterval(this.#countsTimer);
    this.#closed ??= (async () => {
      await this.#worker?.close();
      await this.#queue.close();
    })();
    return this.#closed;
  }

  /** The connections close once the workers stopped (in the background, when the drain timed out). */
  close(): void {}

  async #process(job: BullJob, token: string | undefined): Promise<void> {
    const core = this.#core;
    const { bullmq } = this.#settings;
    const jobId = job.id!;
    const { orderKey } = job.data;
    if (orderKey !== undefined && !(await this.#isHead(orderKey, jobId))) {
      // Not its turn: park it until the delivery ahead finishes and wakes it (or the recheck).
      await job.moveToDelayed(Date.now() + this.#settings.orderRecheckMs, token);
      throw new bullmq.DelayedError();
    }
    // Keep the cached queue length roughly right between two counts.
    if (this.#addedSinceCount > 0) this.#addedSinceCount--;
    else if (this.#queuedAtCount > 0) this.#queuedAtCount--;
    let delivery = toDelivery(job.data);
    let body: ReceivedBody | undefined;
    if (job.data.body !== undefined) {
      const fresh = this.#takeFresh(jobId);
      if (fresh) delivery = fresh;
      else {
        // Redis failing to answer is an attempt that failed like any other: BullMQ retries it.
        const kept = await readBody(await this.#client, this.#prefix, job);
        if (kept === null) {
          // Its body is deleted once it succeeded: it stalled after that, before BullMQ recorded it.
          core.logger.info({ id: job.data.id }, 'scrapehook: a delivery that already succeeded was run again by BullMQ; skipped');
          return;
        }
        body = kept;
      }
    }
    let skip = this.#done.get(jobId);
    if (!skip) {
      skip = new Set();
      this.#done.set(jobId, skip);
      // Retries may run in other processes: forget the oldest entries rather than grow.
      if (this.#done.size > 10_000) this.#done.delete(this.#done.keys().next().value as string);
    }
    const claim: JobClaim = { delivery, body, attemptsSoFar: job.attemptsMade, maxAttempts: job.opts.attempts ?? core.attempts, skip, job, jobId };
    let outcome: Outcome;
    this.#running++;
    try {
      outcome = await core.attempt(claim);
    } finally {
      this.#running--;
    }
    if (outcome.kind === 'succeeded') {
      // BullMQ writes the job's completion (and fetches the next job) right after this returns:
      // batch those writes with the other workers' of this turn.
      const workerClient = await this.#workerClient;
      if (workerClient) this.#batchWrites(workerClient);
      return;
    }
    const serialized = serialize(outcome.error);
    // BullMQ retries it after the core's backoff, or fails it for good.
    const thrown: ThrownByUs = outcome.kind === 'retry' ? new Error(serialized.message) : new bullmq.UnrecoverableError(serialized.message);
    if (outcome.kind === 'retry') {
      thrown.retryDelayMs = outcome.delayMs;
      if (serialized.stack !== undefined) thrown.stack = serialized.stack;
    }
    this.#ours.add(thrown);
    throw thrown;
  }

  /**
   * Records what BullMQ does not: a success deletes the body and hands the `orderBy` key over; a
   * dead letter keeps its last error in its data and hands its key over. BullMQ records the job's
   * completion or failure itself once the processor returns or throws.
   */
  record(claim: JobClaim, outcome: Outcome): Promise<void> | undefined {
    const { job, jobId } = claim;
    const { orderKey } = job.data;
    if (outcome.kind === 'retry') return undefined;
    this.#done.delete(jobId);
    if (outcome.kind === 'dead') return this.#bury(job, outcome.error);
    if (job.data.body !== undefined) void this.#deleteBody(jobId, job.data.id);
    void this.#expireState(jobId, job.data.id);
    if (orderKey !== undefined) return this.#leaveLine(orderKey, jobId, job.data.id);
    return undefined;
  }

  /** Makes a job a dead letter: records its last error in its data and hands its `orderBy` key over. */
  async #bury(job: BullJob, error: WebhookError): Promise<void> {
    this.#deadSinceCount++;
    this.#dropFresh(job.id!);
    try {
      await job.updateData({ ...job.data, error: serialize(error) });
    } catch (cause) {
      // The dead letter then shows BullMQ's failedReason (the same message) as a handler.failed.
      this.#core.logger.warn({ err: cause, id: job.data.id }, 'scrapehook: could not record the last error of a dead letter in Redis');
    }
    if (job.data.orderKey !== undefined) await this.#leaveLine(job.data.orderKey, job.id!, job.data.id);
  }

  /** A delivery kept as its body, read from Redis and validated again; `null` when the body is gone. */
  async #revive(job: BullJob): Promise<Delivery | null> {
    const body = await readBody(await this.#client, this.#prefix, job);
    if (!body) return null;
    return this.#core.revive(toDelivery(job.data), body);
  }

  #keepFresh(jobId: string, delivery: Delivery, bytes: number): void {
    if (bytes > FRESH_MAX_BYTES) return;
    this.#dropFresh(jobId);
    this.#fresh.set(jobId, { delivery, bytes });
    this.#freshBytes += bytes;
    while (this.#fresh.size > FRESH_MAX_COUNT || this.#freshBytes > FRESH_MAX_BYTES) {
      this.#dropFresh(this.#fresh.keys().next().value as string);
    }
  }

  /** The validated delivery of a job this process accepted, once: a retry reads the body again. */
  #takeFresh(jobId: string): Delivery | undefined {
    const entry = this.#fresh.get(jobId);
    if (entry) this.#dropFresh(jobId);
    return entry?.delivery;
  }

  #dropFresh(jobId: string): void {
    const entry = this.#fresh.get(jobId);
    if (!entry) return;
    this.#fresh.delete(jobId);
    this.#freshBytes -= entry.bytes;
  }

  /**
   * Deletes the body of a delivery that succeeded. Not awaited: BullMQ's completion of the job
   * goes on its own connection anyway, and a job that runs again without its body is skipped.
   */
  async #deleteBody(jobId: string, id: string): Promise<void> {
    try {
      const client = await this.#client;
      this.#batchWrites(client);
      await client.del(bodyKey(this.#prefix, jobId));
    } catch (error) {
      this.#core.logger.warn({ err: error, id }, 'scrapehook: could not delete the body of a delivery that succeeded from Redis');
    }
  }

  /** A succeeded delivery's import state is kept an hour more (for `scrapehook imports`), then goes. */
  async #expireState(jobId: string, id: string): Promise<void> {
    try {
      await (await this.#client).pexpire(`${this.#prefix}state:${jobId}`, STATE_KEPT_MS);
    } catch (error) {
      this.#core.logger.warn({ err: error, id }, 'scrapehook: could not set the expiry of the import state of a delivery that succeeded in Redis');
    }
  }

  /**
   * A job failed for good without our processor deciding it: BullMQ failed it because it stalled
   * more than `maxStalledCount` times (its workers kept dying). Report it like any dead letter.
   */
  async #failedElsewhere(job: BullJob | undefined, error: Error): Promise<void> {
    if (!job?.id || this.#ours.has(error)) return;
    const final = error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (!final) return;
    const webhookError = new WebhookError('handler.failed', `The delivery failed outside its handlers: ${error.message}`, { cause: error });
    try {
      await job.updateData({ ...job.data, error: serialize(webhookError) });
    } catch (cause) {
      this.#core.logger.warn({ err: cause, id: job.data.id }, 'scrapehook: could not record the last error of a dead letter in Redis');
    }
    if (job.data.orderKey !== undefined) await this.#leaveLine(job.data.orderKey, job.id, job.data.id);
    this.#dropFresh(job.id);
    let delivery = toDelivery(job.data);
    if (job.data.body !== undefined) {
      try {
        delivery = (await this.#revive(job)) ?? delivery;
      } catch {
        // Reported with the payload it has (none); the dead letter keeps the body.
      }
    }
    this.#deadSinceCount++;
    this.#core.report(delivery, { kind: 'dead', attempts: job.attemptsMade, error: webhookError });
  }

  /**
   * Holds the connection's socket writes until the end of this turn of the event loop, so the
   * commands of every request read in this turn go out in one write: with Redis on localhost, the
   * write system calls were the largest cost of an enqueue. (ioredis' own auto-pipelining would
   * send BullMQ's scripts with their whole source each time.)
   */
  #batchWrites(client: RedisCalls): void {
    if (this.#corked.has(client)) return;
    const stream = (client as { stream?: { cork?: () => void; uncork?: () => void } }).stream;
    if (typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') return;
    this.#corked.add(client);
    stream.cork();
    setImmediate(() => {
      this.#corked.delete(client);
      stream.uncork!();
    });
  }

  #jobKey(jobId: string): string {
    return `${this.#prefix}${jobId}`;
  }

  #lineKey(orderKey: string): string {
    return `${this.#prefix}line:${orderKey}`;
  }

  async #isHead(orderKey: string, jobId: string): Promise<boolean> {
    const client = await this.#client;
    return (await client.runCommand(JOIN, [this.#lineKey(orderKey), jobId, this.#prefix])) === 1;
  }

  /** The queue's key prefix, `bull:<name>:`. */
  get #prefix(): string {
    return this.#queue.keys['']!;
  }

  /**
   * Leaves the line and wakes the delivery now at its head, if it is parked. Never throws: if Redis
   * fails here, the line heals itself (a finished head is dropped by the next one that checks).
   */
  async #leaveLine(orderKey: string, jobId: string, id: string): Promise<void> {
    try {
      const client = await this.#client;
      const next = await client.runCommand(LEAVE, [this.#lineKey(orderKey), jobId]);
      if (typeof next !== 'string') return;
      const job = (await this.#queue.getJob(next)) as BullJob | undefined;
      if (job) await promote(job);
    } catch (error) {
      this.#core.logger.warn({ err: error, id }, 'scrapehook: could not hand the orderBy key over to the next delivery; it takes over at its recheck');
    }
  }

  async #refreshCounts(): Promise<void> {
    if (this.#closing) return;
    // Not while Redis is unreachable: the reads would wait in ioredis' offline queue.
    if (this.#connected?.status !== undefined && this.#connected.status !== 'ready') return;
    // What this process added before asking is in the answer; what it adds meanwhile is not.
    const addedBefore = this.#addedSinceCount;
    const deadBefore = this.#deadSinceCount;
    try {
      const counts = await queueCounts(this.#queue);
      this.#queuedAtCount = counts.queued;
      this.#deadAtCount = counts.dead;
      this.#deadSinceCount -= deadBefore;
      this.#addedSinceCount = Math.max(0, this.#addedSinceCount - addedBefore);
    } catch (error) {
      this.#core.logger.warn({ err: error, redis: this.#where }, 'scrapehook: could not read the queue length from Redis');
    }
  }
}

/** Moves a parked (delayed) job to the waiting list; a job that is not delayed is left as it is. */
async function promote(job: BullJob): Promise<void> {
  try {
    await job.promote();
  } catch {
    // Not delayed any more (already promoted, running, or gone): nothing to do.
  }
}

const ERROR_TYPES = new Set<string>(['handler.failed', 'handler.timeout', 'payload.invalid', 'internal']);

function asErrorType(type: string): WebhookErrorType {
  return ERROR_TYPES.has(type) ? (type as WebhookErrorType) : 'handler.failed';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}


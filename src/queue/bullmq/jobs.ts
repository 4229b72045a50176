import { createRequire } from 'node:module';
import type * as BullMQ from 'bullmq';
import { decodedOrUndefined, shownPayload } from '../../body/decode-body.ts';
import type { DeadLetter, ReceivedBodyType, Delivery, ReceivedBody, SerializedError } from '../../types.ts';

export type BullmqModule = typeof BullMQ;
export type BullQueue = BullMQ.Queue<JobData, void, string>;
export type BullJob = BullMQ.Job<JobData, void, string>;
export type BullWorker = BullMQ.Worker<JobData, void, string>;

const require = createRequire(import.meta.url);

/**
 * bullmq (and the ioredis it uses) are optional peer dependencies: loaded only when a BullMQ queue
 * is created, so `import 'scrapehook'` works without them.
 */
export function loadBullmq(): BullmqModule {
  try {
    return require('bullmq') as BullmqModule;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new Error('bullmqQueue() needs the optional peer dependencies bullmq and ioredis: npm install bullmq ioredis', { cause: error });
    }
    throw error;
  }
}

/**
 * The default queue name of a receiver (and the CLI's for `--receiver`): one queue per receiver,
 * since a worker runs every job of its queue with its receiver's handlers and schemas.
 */
export function defaultQueueName(receiver: string): string {
  return `scrapehook-${receiver}`;
}

/**
 * A delivery as a job's data (JSON: `receivedAt` as epoch milliseconds). When the provider lets the
 * body be kept, the job holds no payload: the body as received is a Redis string of its own
 * ({@link bodyKey}), decoded and validated again by the worker (see {@link CLAIM_SCRIPT}).
 */
export interface JobData {
  readonly id: string;
  readonly type: string;
  readonly provider: string;
  /** The receiver that accepted it (its `name`); absent in jobs added before receivers had names. */
  readonly receiver?: string;
  /** The validated payload; absent when the body is kept (`body`). */
  readonly payload?: unknown;
  /** How the body kept in Redis is encoded, when it is kept. */
  readonly body?: ReceivedBodyType;
  readonly receivedAt: number;
  /** The ordering key (`orderBy`), fixed when the delivery was accepted. */
  readonly orderKey?: string;
  /** The last error, written when the delivery became a dead letter. */
  readonly error?: SerializedError;
  /** The W3C trace context of the span that received it (tracing on); absent otherwise and in older jobs. */
  readonly traceparent?: string;
}

export function toJobData(delivery: Delivery, orderKey: string | undefined, body: ReceivedBodyType | undefined, receiver?: string): JobData {
  const data: { -readonly [K in keyof JobData]: JobData[K] } = { id: delivery.id, type: delivery.type, provider: delivery.provider, receivedAt: delivery.receivedAt.getTime() };
  if (receiver !== undefined) data.receiver = receiver;
  // Serializing a large payload to JSON (and encoding it to UTF-8 again for Redis) cost more than
  // parsing it did: a body as received goes to Redis as the bytes it is.
  if (body === undefined) data.payload = delivery.payload;
  else data.body = body;
  if (orderKey !== undefined) data.orderKey = orderKey;
  if (delivery.traceparent !== undefined) data.traceparent = delivery.traceparent;
  return data;
}

export function toDelivery(data: JobData): Delivery {
  const delivery: Delivery = { id: data.id, type: data.type, provider: data.provider, payload: data.payload, receivedAt: new Date(data.receivedAt) };
  return typeof data.traceparent === 'string' ? { ...delivery, traceparent: data.traceparent } : delivery;
}

/**
 * The job id for a dedupe id: BullMQ job ids may not contain `:` (its key separator), may not be
 * `0`, and an empty id would make BullMQ generate one. `%` and `:` are percent-encoded, so distinct
 * dedupe ids keep distinct job ids.
 */
export function encodeJobId(id: string): string {
  if (id === '') return '%';
  if (id === '0') return '%30';
  return id.replace(/%/g, '%25').replace(/:/g, '%3A');
}

/**
 * Where the body of a job is kept: beside BullMQ's keys of the job (`bull:<name>:<jobId>`), which a
 * job id cannot clash with (it holds no `:`), and removed with the queue by `obliterate`.
 */
export function bodyKey(prefix: string, jobId: string): string {
  return `${prefix}${jobId}:body`;
}

/** The Redis calls made on bodies; ioredis' client has them. */
export interface BodyCalls {
  getBuffer(key: string): Promise<Buffer | null>;
}

/** The body kept for a job, or `null` if it has none any more (it succeeded and was removed). */
export async function readBody(client: BodyCalls, prefix: string, job: BullJob): Promise<ReceivedBody | null | undefined> {
  const type = job.data.body;
  if (type === undefined || job.id === undefined) return undefined;
  const bytes = await client.getBuffer(bodyKey(prefix, job.id));
  return bytes === null ? null : { bytes, type };
}

/**
 * The dead letters of failed jobs, their kept bodies shown validated again by `revive` (a
 * receiver's), or only decoded without one (the CLI); `undefined` when a body does not decode.
 */
export async function deadLettersOf(
  jobs: readonly BullJob[],
  client: BodyCalls,
  prefix: string,
  revive?: (delivery: Delivery, body: ReceivedBody) => Promise<Delivery>,
): Promise<DeadLetter[]> {
  return Promise.all(
    jobs.map(async (job) => {
      const letter = toDeadLetter(job);
      const body = await readBody(client, prefix, job);
      if (!body) return letter;
      const payload = revive ? await shownPayload(letter.event, body, revive) : decodedOrUndefined(body);
      return { ...letter, event: { ...letter.event, payload } };
    }),
  );
}

export function toDeadLetter(job: BullJob): DeadLetter {
  const attempts = job.attemptsMade;
  const error: SerializedError = job.data.error ?? {
    type: 'handler.failed',
    message: job.failedReason || 'unknown error',
    ...(job.stacktrace?.length ? { stack: job.stacktrace[job.stacktrace.length - 1]! } : {}),
  };
  // The trace context is the queue's business, not part of the event a dead letter shows.
  const { traceparent: _traceparent, ...delivery } = toDelivery(job.data);
  return { id: job.data.id, event: { ...delivery, attempt: attempts }, error, attempts };
}

/** The dead letters (failed jobs), oldest first. */
export async function failedJobs(queue: BullQueue): Promise<BullJob[]> {
  const jobs = await queue.getJobs(['failed'], 0, -1, true);
  return jobs.filter((job): job is BullJob => job !== undefined && job !== null && typeof job.data?.id === 'string');
}

/** The failed job holding dead letter `id`, if any. */
export async function findDeadLetter(queue: BullQueue, id: string, byJobId: boolean): Promise<BullJob | undefined> {
  if (byJobId) {
    const job = (await queue.getJob(encodeJobId(id))) as BullJob | undefined;
    if (job && (await job.isFailed())) return job;
  }
  // Without dedupe, job ids are BullMQ's own: look for the id in the failed jobs' data.
  return (await failedJobs(queue)).find((job) => job.data.id === id);
}

/** Queue counts for `stats` and for `maxQueued`. */
export interface BullmqCounts {
  /** Waiting to run, waiting for a retry, or parked behind an earlier delivery with the same `orderBy` key. */
  queued: number;
  /** Running in some worker. */
  running: number;
  /** Dead letters. */
  dead: number;
  /** Connected workers (any process). */
  workers?: number;
}

export async function queueCounts(queue: BullQueue): Promise<BullmqCounts> {
  const c = await queue.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'failed');
  return { queued: (c.wait ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0), running: c.active ?? 0, dead: c.failed ?? 0 };
}

/**
 * Decides whether a delivery is new, on the connection that adds its job, just before the add.
 * Answers 1 when this request is the first to claim the id and no job or BullMQ dedupe key
 * exists for it yet; 0 for a duplicate. The claim key only settles a race between instances taking
 * the same delivery at the same instant, so it lives a minute; the dedupe key (set by BullMQ with
 * the job, for the whole dedupe TTL) answers every later duplicate. Whatever this answers, the job
 * is added too (BullMQ ignores it if the id is taken), so a process that dies between its claim
 * and its add cannot lose the delivery: the sender's retry adds it.
 *
 * With a body (ARGV[2]), the claim that answers 1 also writes it, before the job exists: so a job
 * whose data says it has a body always finds it, until its worker deletes it once the delivery
 * succeeded. A job that finds no body ran already (it stalled after that delete).
 *
 * KEYS[1] the claim key, KEYS[2] BullMQ's dedupe key, KEYS[3] the job key, KEYS[4] the body key;
 * ARGV[1] the claim's life in ms, ARGV[2] the body (optional).
 */
export const CLAIM_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if ARGV[2] then redis.call('SET', KEYS[4], ARGV[2]) end
return 1
`;

/** How long a claim key lives. */
export const CLAIM_MS = 60_000;

/**
 * Per-key lines for \`orderBy\`: one Redis list per key holding job ids in arrival order; only the
 * head may run. Called right after the job is added (same connection, so it runs after the add),
 * and by the worker before it runs the job, which joins again if it lost its place (a crash, a
 * replay). A job that does not exist or has finished does not join (answers -1): the enqueue of a
 * duplicate whose original is done.
 *
 * Answers 1 when the job is at the head of its line, 0 when it waits behind another. Heads whose
 * job no longer exists or has finished (left behind by a crash between finishing and leaving) are
 * dropped first, so a line can never be blocked for good.
 *
 * KEYS[1] the line; ARGV[1] the job id, ARGV[2] the queue's key prefix (\`bull:<name>:\`).
 */
export const LINE_JOIN_SCRIPT = `
local line, id, prefix = KEYS[1], ARGV[1], ARGV[2]
if not redis.call('LPOS', line, id) then
  local key = prefix .. id
  if redis.call('EXISTS', key) == 0 or redis.call('HEXISTS', key, 'finishedOn') == 1 then return -1 end
  redis.call('RPUSH', line, id)
end
while true do
  local head = redis.call('LINDEX', line, 0)
  if (not head) or head == id then return 1 end
  local key = prefix .. head
  if redis.call('EXISTS', key) == 1 and redis.call('HEXISTS', key, 'finishedOn') == 0 then return 0 end
  redis.call('LPOP', line)
end
`;

/** Takes the job out of its line and answers the new head (or false). KEYS[1] the line; ARGV[1] the job id. */
export const LINE_LEAVE_SCRIPT = `
redis.call('LREM', KEYS[1], 1, ARGV[1])
return redis.call('LINDEX', KEYS[1], 0)
`;

import type { AdminBackend, ImportListing, ReceiverDeadLetter } from '../../admin.ts';
import { describeConnection, normalizeConnection, redactRedisUrl, type NormalizedConnection } from './connection.ts';
import { deadLettersOf, defaultQueueName, failedJobs, findDeadLetter, loadBullmq, queueCounts, type BodyCalls, type BullmqCounts, type BullQueue } from './jobs.ts';

/** A BullMQ queue opened by an operator's tool (the CLI): no worker, fails fast when Redis is away. */
export interface AdminQueue {
  /** Where it points, password redacted. */
  readonly where: string;
  /** The receiver a job names, else the one the queue's name says (`scrapehook-<receiver>`), else the queue's name. */
  deadLetters(): Promise<ReceiverDeadLetter[]>;
  /**
   * Moves dead letters back to the waiting list, where any running receiver's workers take them:
   * one more attempt each. `ids` undefined means all of them. Answers the ids re-queued.
   */
  replay(ids: readonly string[] | undefined): Promise<string[]>;
  stats(): Promise<BullmqCounts>;
  /** The checkpoints of importRows kept in this queue's import state (`<prefix>state:<job id>`). */
  imports(): Promise<ImportListing[]>;
  close(): Promise<void>;
}

function openQueue(connection: NormalizedConnection, name: string, prefix: string) {
  const { Queue } = loadBullmq();
  const queue: BullQueue = new Queue(name, {
    // An operator's command should fail within seconds, not retry a dead Redis forever. These are
    // ioredis options that BullMQ hands through.
    connection: { ...connection, connectTimeout: 5000, maxRetriesPerRequest: 1, retryStrategy: () => null },
    prefix,
    // An operator's look must not create the queue's meta key (nor make a typo a queue the CLI finds).
    skipMetasUpdate: true,
  });
  const failure = new Promise<never>((_, reject) => queue.on('error', reject));
  failure.catch(() => {});
  const guard = <T>(work: Promise<T>): Promise<T> => Promise.race([work, failure]);
  return { queue, guard };
}

/**
 * The queues of receivers that use the default queue name (`scrapehook-<receiver>`) on this Redis
 * and prefix, by name, sorted: BullMQ writes a queue's `meta` key with its first job.
 */
export async function findReceiverQueues(connection: NormalizedConnection, prefix: string): Promise<string[]> {
  const { queue, guard } = openQueue(connection, defaultQueueName('probe'), prefix);
  try {
    const client = (await guard(queue.getBackend().client)) as unknown as { scan(...args: (string | number)[]): Promise<[string, string[]]> };
    const glob = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');
    const match = `${glob(prefix)}:${glob(defaultQueueName(''))}*:meta`;
    const names = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await guard(client.scan(cursor, 'MATCH', match, 'COUNT', 1000));
      for (const key of keys) names.add(key.slice(prefix.length + 1, -':meta'.length));
      cursor = next;
    } while (cursor !== '0');
    return [...names].sort();
  } finally {
    await queue.close().catch(() => {});
  }
}

export function openAdminQueue(connection: NormalizedConnection, name: string, prefix: string): AdminQueue {
  const { queue, guard } = openQueue(connection, name, prefix);
  const ours = defaultQueueName('');
  const receiverOfQueue = name.startsWith(ours) && name.length > ours.length ? name.slice(ours.length) : name;
  return {
    where: `${describeConnection(connection)} queue ${name}`,
    async deadLetters() {
      const [jobs, client] = await guard(Promise.all([failedJobs(queue), queue.getBackend().client]));
      const letters = await guard(deadLettersOf(jobs, client as unknown as BodyCalls, queue.keys['']!));
      return letters.map((letter, i) => ({ ...letter, receiver: jobs[i]!.data.receiver ?? receiverOfQueue }));
    },
    async replay(ids) {
      const jobs = ids === undefined ? await guard(failedJobs(queue)) : await guard(Promise.all(ids.map((id) => findDeadLetter(queue, id, true))));
      const done: string[] = [];
      for (const job of jobs) {
        if (!job) continue;
        await guard(job.retry('failed'));
        done.push(job.data.id);
      }
      return done;
    },
    async stats() {
      const [counts, workers] = await guard(Promise.all([queueCounts(queue), queue.getWorkersCount()]));
      return { ...counts, workers };
    },
    async imports() {
      const prefix = queue.keys['']!;
      const client = (await guard(queue.getBackend().client)) as unknown as {
        scan(...args: (string | number)[]): Promise<[string, string[]]>;
        hgetall(key: string): Promise<Record<string, string>>;
      };
      const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}state:*`;
      const out: ImportListing[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await guard(client.scan(cursor, 'MATCH', match, 'COUNT', 1000));
        for (const key of keys.sort()) {
          const jobId = key.slice(`${prefix}state:`.length);
          const [fields, job, jobState] = await guard(Promise.all([client.hgetall(key), queue.getJob(jobId), queue.getJobState(jobId)]));
          const data = (job as { data?: { id?: string; receiver?: string } } | undefined)?.data;
          // Completed jobs are removed at once: a job that is gone succeeded.
          const state = jobState === 'failed' ? 'dead' : jobState === 'active' ? 'running' : jobState === 'completed' || jobState === 'unknown' ? 'succeeded' : 'queued';
          for (const [field, checkpoint] of Object.entries(fields)) {
            if (!field.startsWith('import:')) continue;
            out.push({ receiver: data?.receiver ?? receiverOfQueue, id: data?.id ?? decodeJobId(jobId), state, checkpoint });
          }
        }
        cursor = next;
      } while (cursor !== '0');
      return out;
    },
    async close() {
      await queue.close().catch(() => {});
    },
  };
}

/** A delivery id from its job id (see encodeJobId), for a job already removed. */
function decodeJobId(jobId: string): string {
  if (jobId === '%') return '';
  if (jobId === '%30') return '0';
  return jobId.replace(/%3A/g, ':').replace(/%25/g, '%');
}

/**
 * The CLI's view of BullMQ on Redis: the queue given, else the default queue of `receiver`, else
 * every receiver's default queue (`scrapehook-<receiver>`) found on this Redis and prefix.
 */
export async function openBullmqAdmin(url: string, queue: string | undefined, prefix: string, receiver: string | undefined): Promise<AdminBackend> {
  const connection = normalizeConnection(url);
  const where = redactRedisUrl(url);
  let names: string[];
  try {
    names = queue !== undefined ? [queue] : receiver !== undefined ? [defaultQueueName(receiver)] : await findReceiverQueues(connection, prefix);
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
  }
  const queues = names.map((name) => openAdminQueue(connection, name, prefix));
  /** Runs `work` on each queue in turn, naming the queue in an error. */
  const each = async <T>(work: (queue: AdminQueue) => Promise<T>): Promise<T[]> => {
    const out: T[] = [];
    for (const one of queues) {
      try {
        out.push(await work(one));
      } catch (error) {
        throw new Error(`${one.where}: ${(error as Error).message}`, { cause: error });
      }
    }
    return out;
  };
  return {
    where,
    pickup: "the receivers' workers pick them up",
    deadLetters: async () => (await each((one) => one.deadLetters())).flat(),
    replay: async (ids) => [...new Set((await each((one) => one.replay(ids))).flat())],
    async stats() {
      const total: Required<BullmqCounts> = { queued: 0, running: 0, dead: 0, workers: 0 };
      for (const counts of await each((one) => one.stats())) {
        for (const key of ['queued', 'running', 'dead', 'workers'] as const) total[key] += counts[key] ?? 0;
      }
      return { ...total };
    },
    imports: async () => (await each((one) => one.imports())).flat(),
    close: async () => void (await Promise.all(queues.map((one) => one.close()))),
  };
}

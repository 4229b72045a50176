import type { DeadLetter } from '../../types.ts';
import { describeConnection, type NormalizedConnection } from './connection.ts';
import { deadLettersOf, defaultQueueName, failedJobs, findDeadLetter, loadBullmq, queueCounts, type BodyCalls, type BullmqCounts, type BullQueue } from './jobs.ts';

/** A dead letter as the CLI lists it: with the receiver it belongs to. */
export type ReceiverDeadLetter = DeadLetter & { readonly receiver: string };

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
    async close() {
      await queue.close().catch(() => {});
    },
  };
}

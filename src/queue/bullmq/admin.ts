import type { DeadLetter } from '../../types.ts';
import { describeConnection, type NormalizedConnection } from './connection.ts';
import { deadLettersOf, failedJobs, findDeadLetter, loadBullmq, queueCounts, type BodyCalls, type BullmqCounts, type BullQueue } from './jobs.ts';

/** A BullMQ queue opened by an operator's tool (the CLI): no worker, fails fast when Redis is away. */
export interface AdminQueue {
  /** Where it points, password redacted. */
  readonly where: string;
  deadLetters(): Promise<DeadLetter[]>;
  /**
   * Moves dead letters back to the waiting list, where any running receiver's workers take them:
   * one more attempt each. `ids` undefined means all of them. Answers the ids re-queued.
   */
  replay(ids: readonly string[] | undefined): Promise<string[]>;
  stats(): Promise<BullmqCounts>;
  close(): Promise<void>;
}

export function openAdminQueue(connection: NormalizedConnection, name: string, prefix: string): AdminQueue {
  const { Queue } = loadBullmq();
  const queue: BullQueue = new Queue(name, {
    // An operator's command should fail within seconds, not retry a dead Redis forever. These are
    // ioredis options that BullMQ hands through.
    connection: { ...connection, connectTimeout: 5000, maxRetriesPerRequest: 1, retryStrategy: () => null },
    prefix,
  });
  const failure = new Promise<never>((_, reject) => queue.on('error', reject));
  failure.catch(() => {});
  const guard = <T>(work: Promise<T>): Promise<T> => Promise.race([work, failure]);
  return {
    where: `${describeConnection(connection)} queue ${name}`,
    async deadLetters() {
      const [jobs, client] = await guard(Promise.all([failedJobs(queue), queue.getBackend().client]));
      return guard(deadLettersOf(jobs, client as unknown as BodyCalls, queue.keys['']!));
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

import type { AdminBackend, ImportListing, ReceiverDeadLetter } from '../../admin.ts';
import { decodedOrUndefined } from '../../body/decode-body.ts';
import { describePostgresConnection, normalizePostgresConnection } from './connection.ts';
import { checkSchema, defaultPostgresQueueName, listQueues, loadPgBoss, openPgBoss, PgJobs, toDelivery } from './jobs.ts';

/**
 * The CLI's view of postgresQueue() in a database: the queue given, else the default queue of
 * `receiver`, else every queue in `schema`. Opens at most two connections, and fails within
 * seconds when PostgreSQL does not answer. Runs no maintenance and creates nothing.
 */
export async function openPostgresAdmin(url: string, schema: string, queue: string | undefined, receiver: string | undefined): Promise<AdminBackend> {
  const connection = normalizePostgresConnection(url);
  checkSchema(schema);
  const where = describePostgresConnection(connection);
  const { PgBoss, pg } = loadPgBoss();
  const pool = new pg.Pool({ ...connection, max: 2, connectionTimeoutMillis: 5000, application_name: 'scrapehook cli' });
  pool.on('error', () => {}); // An idle connection that drops: the next query says so.
  // pg-boss' functions (retry), on our pool; never started, so it neither migrates nor maintains.
  const boss = openPgBoss(PgBoss, pool, { schema, supervise: false, maintenanceIntervalSeconds: 3600 });
  let names: string[];
  try {
    const found = await listQueues(pool, schema);
    if (found === undefined) throw new Error(`no scrapehook queues in schema ${JSON.stringify(schema)} (no receiver with postgresQueue() has started on this database)`);
    const wanted = queue ?? (receiver === undefined ? undefined : defaultPostgresQueueName(receiver));
    names = wanted === undefined ? found : found.filter((name) => name === wanted);
  } catch (error) {
    await pool.end().catch(() => {});
    throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
  }
  const queues = names.map((name) => new PgJobs(pool, boss, schema, name));
  const receiverOf = (name: string, kept: string | undefined) => kept || (name.startsWith('scrapehook-') ? name.slice('scrapehook-'.length) : name);
  /** Runs `work` on each queue in turn, naming the database in an error. */
  const each = async <T>(work: (jobs: PgJobs) => Promise<T>): Promise<T[]> => {
    const out: T[] = [];
    for (const jobs of queues) {
      try {
        out.push(await work(jobs));
      } catch (error) {
        throw new Error(`${where} queue ${jobs.queue}: ${(error as Error).message}`, { cause: error });
      }
    }
    return out;
  };
  return {
    where,
    pickup: "the receivers' workers pick them up",
    async deadLetters() {
      const lists = await each(async (jobs): Promise<ReceiverDeadLetter[]> =>
        (await jobs.deadLetters()).map((row) => {
          const event = { ...toDelivery(row.data), attempt: row.attempts, ...(row.body ? { payload: decodedOrUndefined(row.body) } : {}) };
          return { receiver: receiverOf(jobs.queue, row.data.receiver), id: row.data.id, event, error: row.error, attempts: row.attempts };
        }),
      );
      return lists.flat();
    },
    async replay(ids) {
      const done = await each(async (jobs) => {
        const out: string[] = [];
        const targets = ids === undefined ? (await jobs.deadLetters()).map((row) => ({ id: row.data.id, jobId: row.jobId, orderKey: row.data.orderKey })) : [];
        for (const id of ids ?? []) {
          const found = await jobs.findDeadLetter(id);
          if (found) targets.push({ id, ...found });
        }
        for (const target of targets) if (await jobs.replay(target.jobId, target.orderKey)) out.push(target.id);
        return out;
      });
      return [...new Set(done.flat())];
    },
    async stats() {
      const total = { queued: 0, running: 0, dead: 0, dedupeIds: 0 };
      for (const [counts, dedupeIds] of await each((jobs) => Promise.all([jobs.counts(), jobs.dedupeCount()]))) {
        total.queued += counts.queued;
        total.running += counts.running;
        total.dead += counts.dead;
        total.dedupeIds += dedupeIds;
      }
      return total;
    },
    async imports() {
      const lists = await each(async (jobs): Promise<ImportListing[]> =>
        (await jobs.imports()).map((row) => ({ receiver: receiverOf(jobs.queue, row.receiver), id: row.id, state: row.state, checkpoint: row.checkpoint })),
      );
      return lists.flat();
    },
    async close() {
      await pool.end().catch(() => {});
    },
  };
}
